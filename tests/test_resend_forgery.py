"""A resend is the same letter sent again, not a letter that shares its From and
Message-ID: both are the sender's own words, and anyone can write them. A forged decoy
with a real letter's Message-ID, sent first, must not make the real letter vanish as
a "resend"; an honest resend (the same bytes, or the same files and Subject encoded
again by the client) is still registered once."""
from __future__ import annotations

import email
import email.policy
import json

import pytest

from gateway.config.settings import load_settings
from gateway.pipeline.runner import run_once
from gateway.service.services import open_services
from storage.models import Letter, Message
from tests.classified.helpers import classified_letter, db_rows
from tests.daemon import write_config
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config, sink  # noqa: F401  (the smarthost fixture)

LAT = "saraban.latkrabang@bangkok.go.th"
DDS = "saraban.dds@bangkok.go.th"
MID = "<20261130.0403-276@dds.bangkok.go.th>"
NAME = "2569_dds_0403_276.pdf"


def _parsed(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def _outcomes(d) -> list[str]:
    return [json.loads(o)[LAT] for (o,) in db_rows(d, "select outcome from messages order by queue_id")]


def test_a_forged_decoy_does_not_make_the_real_letter_vanish(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    decoy = letter(subject="DECOY letter from attacker", message_id=MID, files=[(NAME, make_pdf("decoy"))])
    real_pdf = make_pdf("the real cover letter")
    real = letter(subject="REAL letter: budget approval", message_id=MID, files=[(NAME, real_pdf)])
    d.send(decoy, LAT, sender="attacker@evil.example")  # From: saraban.dds@, envelope not aligned
    d.wait_idle()
    d.send(real, LAT, sender=DDS)
    d.wait_idle()
    # Honest resends of each: the real letter as its client encodes it again (another
    # MIME boundary, the same file and Subject), the decoy byte for byte.
    d.send(letter(subject="REAL letter: budget approval", message_id=MID, files=[(NAME, real_pdf)]), LAT, sender=DDS)
    d.send(decoy, LAT, sender="attacker@evil.example")
    d.wait_idle()

    register = sorted(d.register(), key=lambda e: e["number"])
    year = register[0]["year"]
    assert [(e["number"], e["mail_subject"]) for e in register] == [
        (1, "DECOY letter from attacker"), (2, "REAL letter: budget approval")]
    assert _outcomes(d) == [f"registered 1/{year}", f"registered 2/{year}",
                            f"duplicate of 2/{year}", f"duplicate of 1/{year}"]
    # The clerk sees that another letter took this Message-ID first, and which.
    warning = [f for f in register[1]["findings"] if f["rule"] == "message_id_reused"]
    assert len(warning) == 1 and f"1/{year}" in warning[0]["message_en"] and f"1/{year}" in warning[0]["message_th"]
    assert register[1]["review"] is True
    assert not any(f["rule"] == "message_id_reused" for f in register[0]["findings"])
    show = d.cli("register", "show", "saraban.latkrabang", f"2/{year}").stdout
    assert f"another letter with this Message-ID from the same sender was registered as 1/{year}" in show
    # Both are in the unit's folder; the real one's copy carries the warning.
    copies = [p.read_bytes() for p in d.maildir_files("latkrabang")]
    assert len(copies) == 2
    real_copy = [m for m in map(_parsed, copies) if m["X-Saraban-Receive-No"] == f"2/{year}"]
    assert len(real_copy) == 1
    assert any(h.startswith("warn: message_id_reused:") and f"1/{year}" in h
               for h in real_copy[0].get_all("X-Saraban-Finding"))
    assert not d.cli("quarantine", "list").stdout.count("REAL")
    # The real sender is acknowledged with its own number; the decoy's From is not
    # answered (not aligned), and the acknowledgement says nothing of the other letter.
    got = sink.wait(1)
    assert [r.rcpt_tos for r in got] == [[DDS]]
    text = got[0].message.get_body(("plain",)).get_content()
    assert f"2/{year}" in text and f"1/{year}" not in text and "Message-ID" not in text


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def _run(services, raws: list[bytes]) -> list[str]:
    queued = [services.spool.accept(raw, DDS, [LAT]) for raw in raws]
    run_once(services)
    with services.db.session() as session:
        return [session.get(Message, q).outcome[LAT] for q in queued]


def _letters(services) -> list[Letter]:
    with services.db.session() as session:
        rows = session.query(Letter).order_by(Letter.number).all()
        session.expunge_all()
        return rows


def test_only_the_same_files_and_subject_make_a_re_encoded_letter_a_resend(services):
    pdf = make_pdf("cover letter")
    first = letter(subject="เรื่อง ก", message_id=MID, files=[(NAME, pdf)])
    outcomes = _run(services, [
        first,
        first,  # the same bytes: a resend
        letter(subject="เรื่อง ก", message_id=MID, files=[(NAME, pdf)]),  # encoded again: a resend
        letter(subject="เรื่อง ข", message_id=MID, files=[(NAME, pdf)]),  # another subject
        letter(subject="เรื่อง ก", message_id=MID, files=[(NAME, pdf), ("x.pdf", make_pdf("x"))]),  # another file
        letter(subject="เรื่อง ก", message_id=MID, files=[], body="หนังสือ ๑"),  # no file
        letter(subject="เรื่อง ก", message_id=MID, files=[], body="หนังสือ ๒"),  # no file, another body
    ])
    kinds = [o.split(" ")[0] for o in outcomes]
    assert kinds[:3] == ["registered", "duplicate", "duplicate"]
    assert outcomes[1].startswith("duplicate of 1/") and outcomes[2].startswith("duplicate of 1/")
    # The others are letters of their own (or held), none dropped.
    assert "duplicate" not in kinds[3:]
    letters = _letters(services)
    assert len(letters) == 1 + sum(k == "registered" for k in kinds[3:])
    for entry in letters[1:]:
        assert [f["rule"] for f in entry.findings].count("message_id_reused") == 1
        assert entry.review


def test_a_classified_resend_is_recognised_by_its_raw_message_only(services):
    raw, _pdf = classified_letter(message_id=MID)
    other, _ = classified_letter(message_id=MID, marker="ANOTHER-LETTER-0001")
    outcomes = _run(services, [raw, raw, other])
    assert outcomes[0].startswith("registered 1/") and outcomes[1].startswith("duplicate of 1/")
    assert outcomes[2].startswith("registered 2/")
    letters = _letters(services)
    assert [entry.secrecy for entry in letters] == ["confidential", "confidential"]
    warning = [f for f in letters[1].findings if f["rule"] == "message_id_reused"]
    assert len(warning) == 1 and "1/" in warning[0]["message_en"] and letters[1].review
    assert "ANOTHER" not in json.dumps(letters[1].findings)


def test_an_ordinary_letter_reusing_a_classified_ones_message_id_is_not_told_its_number(services):
    """Session 43's red team: the ordinary letter's finding, in the general book every
    clerk reads, said "registered as 1/2569", the secret book's number with no book: in
    the general book 1/2569 is this very letter, and the clerk learnt the secret register
    holds a letter of this sender under that number. The book is named now, and a
    classified letter's number is left to its registrar."""
    raw, _pdf = classified_letter(message_id=MID)
    outcomes = _run(services, [raw, letter(subject="แจ้งกำหนดการประชุม", message_id=MID),
                               letter(subject="แจ้งกำหนดการประชุม ๒", message_id=MID)])
    assert [o.split(" ")[0] for o in outcomes] == ["registered"] * 3
    with services.db.session() as session:
        rows = session.query(Letter).order_by(Letter.id).all()
        books = [(entry.book, entry.number) for entry in rows]
        findings = [[f for f in entry.findings if f["rule"] == "message_id_reused"] for entry in rows]
    secret_book, general_book = books[0][0], books[1][0]
    assert secret_book != general_book and books[1][1] == 1
    [told] = findings[1]
    assert "secret register" in told["message_en"] and "ทะเบียนลับ" in told["message_th"]
    assert "1/" not in told["message_en"] + told["message_th"]
    # The third is told the first the sender's Message-ID took (the classified one) the same way.
    [third] = findings[2]
    assert "1/" not in third["message_en"] and "secret register" in third["message_en"]


def test_the_other_letter_is_named_with_its_book():
    from gateway.pipeline.dispose import message_id_reused

    said = message_id_reused("3/2569", "general")
    assert "registered as 3/2569 in the book general" in said.message_en and "ในทะเบียน general" in said.message_th


def test_the_same_files_in_a_new_mail_are_registered_and_flagged_for_the_clerk_only(services):
    """A sender who saw no acknowledgement sends the letter again in a new e-mail (its
    own Message-ID, so no resend): it is registered, and the clerk is told which entry
    has exactly the same files (review), where nothing said so and the letter had two
    numbers. The same files among others, or other files, are letters of their own. The
    sender's acknowledgement says nothing of it."""
    from storage.models import OutboxItem

    pdf = make_pdf("cover letter sent twice")
    outcomes = _run(services, [
        letter(subject="เรื่อง ก", message_id="<a1@dds.bangkok.go.th>", files=[(NAME, pdf)]),
        letter(subject="เรื่อง ก (ส่งอีกครั้ง)", message_id="<a2@dds.bangkok.go.th>", files=[(NAME, pdf)]),
        letter(subject="เรื่อง ข", message_id="<a3@dds.bangkok.go.th>",
               files=[(NAME, pdf), ("x.pdf", make_pdf("an enclosure"))]),
        letter(subject="เรื่อง ค", message_id="<a4@dds.bangkok.go.th>", files=[("y.pdf", make_pdf("another"))]),
    ])
    assert [o.split(" ")[0] for o in outcomes] == ["registered"] * 4
    letters = _letters(services)
    year = letters[0].year
    same = {e.number: [f for f in e.findings if f["rule"] == "same_files"] for e in letters}
    assert [bool(same[n]) for n in (1, 2, 3, 4)] == [False, True, False, False]
    assert f"1/{year}" in same[2][0]["message_en"] and f"1/{year}" in same[2][0]["message_th"]
    assert [e.review for e in letters] == [False, True, False, False]
    with services.db.session() as session:
        acks = [json.dumps(i.payload, ensure_ascii=False) for i in session.query(OutboxItem).filter(
            OutboxItem.kind == "notice")]
    second = [a for a in acks if f"2/{year}" in a]
    assert len(acks) == 4 and not any("same_files" in a for a in acks)
    assert len(second) == 1 and f"1/{year}" not in second[0]
