"""A marking on a letter Chromium printed to PDF is read as the clerk's viewer shows it.

Chromium's PDF backend (Skia) draws the ่ of ที่ in ลับที่สุด and ด่วนที่สุด with a glyph
of its own when the font is Noto Sans Thai or Sarabun (the Google font after the
government's TH Sarabun New), maps that glyph to U+0000 and leaves the word to an
/ActualText span: pypdf reads "ลับที\\x00สุด", PDFium splits the span ("ลับที่สุดสุ"),
and a ลับที่สุด letter, which must be refused before the 250, was taken in and
registered in plain text. rules/markings.py now reads an unknown glyph as each thing a
marking could hold there (`_damage_undone`, docs/secrecy.md "Where in the letter")."""
from __future__ import annotations

import io

import pytest

from gateway.pipeline.parse import parse_mail
from rules.extract import extract_facts
from rules.markings import read_classification
from tests.letters import letter
from tests.signatures.producers import LETTER_LINES, chromium_pdfs

FONT = "Noto Sans Thai"  # Debian's fonts-noto-core, which `make test` installs
MARKS = {"ลับ": ("confidential", "normal"), "ลับมาก": ("secret", "normal"),
         "ลับที่สุด": ("top_secret", "normal"), "ด่วนที่สุด": ("none", "most_urgent")}


def _html(mark: str | None, where: str) -> str:
    lines = [f"<p>{line}</p>" for line in LETTER_LINES]
    marking = f'<p style="text-align:center;color:#c00;font-weight:bold;font-size:20pt">{mark}</p>'
    if mark is not None:
        lines.insert(0 if where == "top" else len(lines), marking)
    lines.insert(0, "<p>สำนักงานเขตบางรัก ฝ่ายปกครอง น้ำท่วม ป้องกัน</p>")
    return (f'<html><head><meta charset="utf-8"><style>body {{ font-family: "{FONT}"; font-size: 16pt }}'
            f"</style></head><body>{''.join(lines)}</body></html>")


@pytest.fixture(scope="module")
def pdfs():
    htmls = {f"{where}-{mark}": _html(mark, where) for mark in MARKS for where in ("top", "bottom")}
    htmls["plain"] = _html(None, "top")
    return chromium_pdfs(htmls)


def _read(pdf: bytes):
    mail = parse_mail(letter(body="เรียน ผู้อำนวยการเขตพระนคร\n", files=[("letter.pdf", pdf)]))
    return read_classification(mail).level, extract_facts(mail).urgency


def test_the_file_is_what_the_finding_was_about(pdfs):
    """pypdf's own reading, for the record: the ่ of ที่ comes out as U+0000 (if this
    ever reads "ลับที่สุด", Chromium or pypdf changed, and the reading of unknown glyphs
    is no longer what saves it)."""
    from pypdf import PdfReader

    raw = PdfReader(io.BytesIO(pdfs["top-ลับที่สุด"])).pages[0].extract_text()
    assert "ลับที\x00สุด" in raw


@pytest.mark.parametrize("where", ["top", "bottom"])
@pytest.mark.parametrize("mark", list(MARKS))
def test_each_marking_printed_by_chromium_is_read(pdfs, mark, where):
    assert _read(pdfs[f"{where}-{mark}"]) == MARKS[mark]


def test_a_letter_without_a_marking_stays_ordinary(pdfs):
    assert _read(pdfs["plain"]) == ("none", "normal")


def test_the_data_check_finds_the_top_secret_marking_before_the_250(pdfs):
    """What the DATA-check worker runs (gateway/secrecy/markings.py): ลับที่สุด is
    refused at DATA, never taken in (docs/secrecy.md)."""
    from gateway.secrecy.markings import classify_raw

    raw = letter(body="เรียน ผู้อำนวยการเขตพระนคร\n", files=[("letter.pdf", pdfs["bottom-ลับที่สุด"])])
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("top_secret", True)


def test_over_smtp_the_sender_of_a_top_secret_letter_chromium_printed_is_refused(daemon, pdfs):
    """What the sender sees: the refusal before the 250, and nothing registered."""
    raw = letter(body="เรียน ผู้อำนวยการเขตพระนคร\n", files=[("letter.pdf", pdfs["top-ลับที่สุด"])])
    code, text = daemon.data_reply(raw)
    assert code == 550 and text.isascii()
    daemon.wait_idle()
    assert daemon.register() == []
