"""A unit's relay (the SMTP backend) that answers a folder copy's final dot after its
`timeout`: it has the letter and is delivering it (a content filter scanning the PDF).
The whole forward was bounded by `timeout` plus a second per 50 kB, so the gateway cut
the connection, counted a failed attempt and forwarded the letter again at the next one;
a folder copy is never given up, so the department got the letter again at every
attempt, for as long as the relay stayed that slow. The reply to the final dot now may
take RFC 5321 4.5.3.2.6's 10 minutes (gateway/delivery/smtp.py FINAL_REPLY)."""
from __future__ import annotations

import time

from tests.letters import letter
from tests.notices.test_slow_final_reply import SlowFinalReply

DINDAENG = "saraban.dindaeng@bangkok.go.th"


def test_a_folder_copy_whose_250_comes_after_the_timeout_is_forwarded_once(daemon_factory):
    relay = SlowFinalReply()
    try:
        d = daemon_factory(extra=f"""
[notices]
enabled = false
[delivery.smtp.relay]
host = "127.0.0.1"
port = {relay.port}
timeout = 2
[delivery.units."saraban.dindaeng"]
backend = "smtp"
to = ["admin.dindaeng@bangkok.go.th"]
""").start()
        queue_id = d.send(letter(), DINDAENG)
        d.wait_for(lambda: d.status()["outbox"].get("folder") == {"done": 1}, timeout=30,
                   what="the folder copy forwarded")
        time.sleep(1.5)  # an attempt made again would have reached the relay by now
        assert len(relay.messages) == 1
        assert queue_id.encode() in relay.messages[0]
        assert [e for e in d.events() if e.get("event") == "delivery_retry"] == []
    finally:
        relay.close()
