"""The very same bytes sent again of a letter the gateway held are that held letter, not
a second one to hold.

A sending server whose connection broke after the final dot, before it read our 250,
sends the very same message again (RFC 5321 4.5.4.1; Postfix, Exim). For a registered
letter the retry is recognised by its bytes (session 43: `duplicate of N/YYYY`). For a
letter the policy held (here: no PDF in it), the retry was held a second time: two
entries in the quarantine for the clerk to judge, and a second rejection notice to the
sender ("not registered, please resend") for one letter. Now the retry of a held letter
(its raw sha256, from the same sender with the same envelope sender, for the same unit)
is recorded as that entry's (`resend_of_held` in the log, outcome `quarantined (the same
message as held #<id>)`), with no second entry and no second notice. Another letter, or the same bytes
from another envelope sender, is held as before. Through the real daemon over SMTP."""
from __future__ import annotations

import json

from tests.classified.helpers import db_rows
from tests.letters import letter, with_header
from tests.notices.conftest import notices_config, sink  # noqa: F401  (the smarthost fixture)

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DDS = "saraban.dds@bangkok.go.th"


def _outcomes(d, *queue_ids: str) -> list[str]:
    found = dict(db_rows(d, "select queue_id, outcome from messages"))
    return [json.loads(found[q])[LATKRABANG] for q in queue_ids]


def test_a_held_letter_sent_again_by_its_server_is_held_once_and_refused_once(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    no_pdf = letter(subject="เรื่อง ขอเชิญประชุม (ไม่มีไฟล์)", files=[])
    first = d.send(no_pdf, LATKRABANG)
    d.wait_idle()
    retry = d.send(no_pdf, LATKRABANG)  # the very same bytes and envelope: its server's retry
    d.wait_idle()

    held = db_rows(d, "select id, queue_id, state from quarantine")
    assert [(q, s) for _, q, s in held] == [(first, "held")], held
    [(entry_id, _, _)] = held
    assert _outcomes(d, first, retry) == ["quarantined", f"quarantined (the same message as held #{entry_id})"]
    assert [e["entry"] for e in d.events() if e.get("event") == "resend_of_held"] == [entry_id]
    assert [r.rcpt_tos for r in sink.wait(1)] == [[DDS]]  # one rejection notice
    assert d.register() == []

    # Another letter, and the same bytes from another envelope sender, are held as before.
    other = letter(subject="เรื่อง อื่น (ไม่มีไฟล์)", files=[])
    queued = [d.send(other, LATKRABANG), d.send(no_pdf, LATKRABANG, sender="relay.bounces@bangkok.go.th")]
    d.wait_idle()
    assert _outcomes(d, *queued) == ["quarantined", "quarantined"]
    assert len(db_rows(d, "select id from quarantine")) == 3
