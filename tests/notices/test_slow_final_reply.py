"""A smarthost that answers a notice's final dot after `[notices] timeout`: it has the
message and is delivering it (a content filter under load). The whole exchange was
bounded by `timeout`, so the gateway cut the connection, counted a failed attempt and sent
the notice again at the next one, and again: the smarthost took eleven copies of two
acknowledgements in half a minute, and the outbox never said done. The reply to the final
dot now may take RFC 5321 4.5.3.2.6's 10 minutes (gateway/notices/send.py FINAL_REPLY)."""
from __future__ import annotations

import time

import pytest

from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.test_pipelining_session52 import LATKRABANG, RawSmarthost


class SlowFinalReply(RawSmarthost):
    """Takes the message at its final dot, and answers 250 `delay` seconds later."""

    delay = 3.5

    def _reply(self, what: str, default: str) -> str:
        if what == "END":
            time.sleep(self.delay)
        return super()._reply(what, default)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-command-a-round-trip"])
def test_a_notice_whose_250_comes_after_the_timeout_is_sent_once(daemon_factory, pipelining):
    host = SlowFinalReply(pipelining=pipelining)
    try:
        d = daemon_factory(extra=notices_config(host, timeout=2.0))
        # One delivery thread: the second notice goes on the session the first one kept.
        d.config.write_text(d.config.read_text().replace("[delivery]\n", "[delivery]\nworkers = 1\n", 1))
        d.start()
        d.send(letter(), LATKRABANG)
        d.wait_for(lambda: d.status_here()["outbox"].get("notice") == {"done": 1}, timeout=30,
                   what="the first acknowledgement sent")
        d.send(letter(), LATKRABANG)  # on the session kept from the first
        d.wait_for(lambda: d.status_here()["outbox"].get("notice") == {"done": 2}, timeout=30,
                   what="the second acknowledgement sent")
        time.sleep(1.0)  # an attempt made again would have reached the smarthost by now
        assert len(host.messages) == 2
        assert [e for e in d.events() if e.get("event") == "delivery_retry"] == []
        sent = [e for e in d.events() if e.get("event") == "notice_sent"]
        assert [e["new_session"] for e in sent] == [True, False]
    finally:
        host.close()
