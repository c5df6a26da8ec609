"""The printed register and its CSV name the entry a flagged duplicate may repeat.

A letter the gateway registers while it suspects it is one already in the book (the
same files sent again in a new e-mail, `same_files`; the sender's Message-ID of another
letter, `message_id_reused`; a paper emergency row of a letter registered from e-mail,
`same_letter`) is flagged for review. The book the unit prints and signs, and its CSV,
said only "ควรตรวจสอบ" (to be checked) on it: the auditor holding the paper could not
tell which entry it may repeat, nor that the two belong together once one is cancelled.
Now its หมายเหตุ says "อาจซ้ำกับเลขรับ 1/2569" beside "ควรตรวจสอบ", and the secret
book does the same for a ลับ letter sent again (it said nothing at all there). Through
the real daemon over SMTP and `register export`, as the clerk prints the book."""
from __future__ import annotations

import csv

from tests.classified.helpers import LATKRABANG, add_registrar, classified_letter, make_gateway_key, wait_processed
from tests.letters import letter, make_pdf

UNIT = "saraban.latkrabang"


def _remarks(d, tmp_path, book: str | None = None) -> dict[str, str]:
    out = tmp_path / f"book-{book or 'general'}.csv"
    d.cli("register", "export", "--unit", UNIT, "--output", str(out), *(["--book", book] if book else []))
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    heading = rows[0]
    number, remarks = heading.index("เลขทะเบียนรับ"), heading.index("หมายเหตุ")
    return {row[number]: row[remarks] for row in rows[1:]}


def test_the_printed_book_names_the_entry_a_flagged_letter_may_repeat(daemon_factory, tmp_path):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    pdf = make_pdf("cover letter sent twice S55PRINT")
    d.send(letter(subject="เรื่อง ขอเชิญประชุม", files=[("2565_dds_0407_57.pdf", pdf)]), LATKRABANG)
    d.wait_idle()
    d.send(letter(subject="เรื่อง ขอเชิญประชุม", files=[("2565_dds_0407_57.pdf", pdf)]), LATKRABANG)  # sent again
    d.send(letter(subject="เรื่อง อื่น", files=[("2565_dds_0407_58.pdf", make_pdf("another S55PRINT"))]), LATKRABANG)
    raw, _ = classified_letter("ลับ", marker="S55PRINT-SECRET")
    again, _ = classified_letter("ลับ", marker="S55PRINT-SECRET")
    d.send(raw, LATKRABANG)
    d.wait_idle()
    d.send(again, LATKRABANG)
    wait_processed(d, registrar=2)
    d.wait_idle()
    year = d.register()[0]["year"]

    general = _remarks(d, tmp_path)
    assert "ควรตรวจสอบ" in general["2"] and f"อาจซ้ำกับเลขรับ 1/{year}" in general["2"], general
    assert "ซ้ำ" not in general["1"] and "ซ้ำ" not in general["3"] and "ควรตรวจสอบ" not in general["3"], general
    secret = _remarks(d, tmp_path, "secret")
    assert "ควรตรวจสอบ" in secret["2"] and f"อาจซ้ำกับเลขรับ 1/{year}" in secret["2"], secret
    assert secret["1"] == "", secret
    # And the clerk's listing in the terminal.
    table = d.cli("register", "list", "--unit", UNIT).stdout
    assert f"อาจซ้ำกับเลขรับ 1/{year} (may repeat 1/{year})" in table, table
