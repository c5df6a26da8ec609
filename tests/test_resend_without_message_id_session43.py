"""The same bytes sent again without a Message-ID are the same letter (session 43).

A sending server that never read our 250 (a connection cut after the final dot) sends
the very same bytes again; scanners and scripts often write no Message-ID. Until
session 43 only a Message-ID let the gateway recognise the resend: without one an
ordinary letter had two receive numbers, and a ลับ letter two numbers in the secret
book, two sealed copies for the registrar and two central alerts, with no review flag.
Through the real daemon over SMTP, as the sending server does it."""
from __future__ import annotations

import json

from tests.classified.helpers import (
    LATKRABANG, add_registrar, assert_sealed_nowhere_plain, classified_letter, db_rows, make_gateway_key, maildir,
    outbox, wait_processed,
)
from tests.letters import letter, make_pdf, with_header
from tests.notices.conftest import notices_config, sink  # noqa: F401  (the smarthost fixture)

DDS = "saraban.dds@bangkok.go.th"
NAME = "2569_dds_0403_276.pdf"


def _without_message_id(raw: bytes) -> bytes:
    bare = with_header(raw, "Message-ID", None)
    assert b"message-id" not in bare.lower()
    return bare


def _outcomes(d, *queue_ids: str) -> list[str]:
    """What the pipeline decided for each message, for the latkrabang unit."""
    found = dict(db_rows(d, "select queue_id, outcome from messages"))
    return [json.loads(found[q])[LATKRABANG] for q in queue_ids]


def _resends_logged(d) -> list[str]:
    return [e["receive_no"] for e in d.events() if e.get("event") == "resend_recognised"]


def test_an_ordinary_letter_sent_twice_without_message_id_is_registered_and_acknowledged_once(
        daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    pdf = make_pdf("cover letter sent twice by its server")
    raw = _without_message_id(letter(subject="เรื่อง ขอเชิญประชุม (ไม่มี Message-ID)", files=[(NAME, pdf)]))
    first = d.send(raw, LATKRABANG)
    retry = d.send(raw, LATKRABANG)  # the same bytes, the same envelope: its server's retry
    d.wait_idle()

    [entry] = d.register()
    year = entry["year"]
    assert (entry["queue_id"], entry["number"], entry["review"]) == (first, 1, False)
    assert _outcomes(d, first, retry) == [f"registered 1/{year}", f"duplicate of 1/{year}"]
    assert _resends_logged(d) == [f"1/{year}"]
    assert len(d.maildir_files("latkrabang")) == 1  # one copy for the unit's folder
    assert [r.rcpt_tos for r in sink.wait(1)] == [[DDS]]  # one acknowledgement, the first's

    # A different letter without a Message-ID has its own number. The same file sent
    # again in a new e-mail (another Date and MIME boundary: other bytes) is a letter of
    # its own for the clerk to judge, as with a Message-ID; and so are the very same
    # bytes from another envelope sender, which is not the sending server's retry.
    other = _without_message_id(letter(subject="เรื่อง ขอส่งรายงาน", files=[("2569_dds_0403_277.pdf",
                                                                             make_pdf("another letter"))]))
    again = _without_message_id(letter(subject="เรื่อง ขอเชิญประชุม (ไม่มี Message-ID)", files=[(NAME, pdf)]))
    assert again != raw
    queued = [d.send(other, LATKRABANG), d.send(again, LATKRABANG),
              d.send(raw, LATKRABANG, sender="relay.bounces@bangkok.go.th")]
    d.wait_idle()
    assert _outcomes(d, *queued) == [f"registered {n}/{year}" for n in (2, 3, 4)]
    entries = sorted(d.register(), key=lambda e: e["number"])
    assert [(e["queue_id"], e["review"]) for e in entries] == [(first, False), (queued[0], False),
                                                                (queued[1], True), (queued[2], True)]
    # Each names the latest letter with the same file.
    for entry, earlier in zip(entries[2:], (1, 3)):
        [same] = [f for f in entry["findings"] if f["rule"] == "same_files"]
        assert f"{earlier}/{year}" in same["message_en"], same
    assert _resends_logged(d) == [f"1/{year}"]
    assert len(d.maildir_files("latkrabang")) == 4


def test_a_secret_letter_sent_twice_without_message_id_has_one_number_and_one_sealed_copy(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    raw = _without_message_id(classified_letter("ลับ", marker="ZQXJ-RESEND43-FIRST-KPLV")[0])
    other = _without_message_id(classified_letter("ลับ", marker="ZQXJ-RESEND43-OTHER-KPLV")[0])
    first = d.send(raw, LATKRABANG)
    retry = d.send(raw, LATKRABANG)
    second = d.send(other, LATKRABANG)
    wait_processed(d, registrar=2)
    d.wait_idle()

    entries = sorted(d.register(), key=lambda e: e["number"])
    year = entries[0]["year"]
    assert [(e["queue_id"], e["book"], e["number"], e["secrecy"], e["review"]) for e in entries] == [
        (first, "secret", 1, "confidential", False), (second, "secret", 2, "confidential", False)]
    assert _outcomes(d, first, retry, second) == [f"registered 1/{year}", f"duplicate of 1/{year}",
                                                 f"registered 2/{year}"]
    assert _resends_logged(d) == [f"1/{year}"]
    # One sealed copy for the registrar a letter, and no alert.
    assert len(maildir(d, "latkrabang.secret")) == 2
    assert outbox(d, "registrar").get("done", 0) == 2 and outbox(d, "alert") == {}
    # Recognised without a word of it in plain: the retry's spool file is shredded too.
    assert_sealed_nowhere_plain(d, {"first": first}, marker="ZQXJ-RESEND43-FIRST-KPLV")
    assert_sealed_nowhere_plain(d, {"other": second}, marker="ZQXJ-RESEND43-OTHER-KPLV")
    assert not list((d.data_dir / "spool" / "new").glob(f"{retry}*"))


def test_a_secret_letter_sent_twice_without_message_id_and_no_registrar_alerts_the_centre_once(daemon_factory):
    """What the red team saw: no registrar certificate yet for the unit, so each
    registration of the ลับ letter raised the central unit's alert; the retry raised a
    second one, for a second number."""
    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    raw = _without_message_id(classified_letter("ลับ", marker="ZQXJ-RESEND43-ALERT-KPLV")[0])
    first = d.send(raw, LATKRABANG)
    retry = d.send(raw, LATKRABANG)
    wait_processed(d, alert=1)
    # Every registrar copy owed tried once (each failing try holds its letter and
    # alerts), and every alert filed: the registrar copies stay owed, so never idle.
    d.wait_for(lambda: db_rows(d, "select count(*) from outbox where (kind = 'registrar' and attempts = 0) "
                                  "or (kind = 'alert' and state != 'done')") == [(0,)],
               what="each registrar copy tried and each alert filed")

    [entry] = d.register()
    assert (entry["queue_id"], entry["book"], entry["number"]) == (first, "secret", 1)
    assert _outcomes(d, first, retry) == [f"registered 1/{entry['year']}", f"duplicate of 1/{entry['year']}"]
    assert db_rows(d, "select count(*) from outbox where kind = 'alert'") == [(1,)]
    assert len(maildir(d, "secrecy-alerts")) == 1
    assert db_rows(d, "select count(*) from quarantine") == [(1,)]
