"""A unit on the SMTP backend forwards its copies to two departmental addresses, and the
relay refuses one of them for good (`550 5.1.1`: a typing error in `to`). The other one
has the letter; the copy waits, retried for the refused address only. The sysadmin takes
the wrong address out of `to` and restarts: nothing is owed any more. Until the red team
of 7 Dec 2026 the attempt done then had no address left, smtplib refused an empty
recipient list (`SMTPRecipientsRefused: {}`), and the copy stayed owed for ever, retried
and shown overdue."""
from __future__ import annotations

import json

from tests.letters import letter
from tests.notices.sink import Sink
from tests.servers.common import free_port

DINDAENG = "saraban.dindaeng@bangkok.go.th"
GOOD, TYPO = "admin.dindaeng@bangkok.go.th", "admn.dindaeng@bangkok.go.th"


def _route(relay: Sink, to: list[str]) -> str:
    return f"""
[notices]
enabled = false
[delivery.smtp.relay]
host = "127.0.0.1"
port = {relay.port}
timeout = 10
[delivery.units."saraban.dindaeng"]
backend = "smtp"
to = {json.dumps(to)}
"""


def _copy(d) -> dict:
    """The letter's folder copy in `outbox list` ({} before the letter is registered)."""
    items = [i for i in json.loads(d.cli("outbox", "list", "--json").stdout) if i["kind"] == "folder"]
    return items[0] if items else {}


def test_a_copy_owed_only_to_an_address_taken_out_of_to_is_done(daemon_factory):
    relay = Sink(free_port()).start()
    relay.refuse_rcpt = {TYPO}
    try:
        d = daemon_factory(extra=_route(relay, [GOOD, TYPO])).start()
        d.send(letter(), DINDAENG)
        d.wait_for(lambda: _copy(d).get("attempts", 0) >= 1, what="the forward refused for one address")
        assert [r.rcpt_tos for r in relay.received] == [[GOOD]]
        assert _copy(d)["state"] == "pending"
        d.stop()
        d.config.write_text(d.config.read_text().replace(json.dumps([GOOD, TYPO]), json.dumps([GOOD])))
        d.start()
        # The restarted runner may have tried it again before the command: then it is
        # done already ("already done"), which is what the command asks for.
        d.cli("outbox", "retry", str(_copy(d)["id"]), check=False)
        d.wait_for(lambda: _copy(d)["state"] == "done", timeout=30, what="the copy done")
        assert [r.rcpt_tos for r in relay.received] == [[GOOD]]  # not sent to GOOD again
    finally:
        relay.stop()
