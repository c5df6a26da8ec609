"""Markings a reader sees that were read as none (session 41's formats red team).

* Lao letters and marks stand in Unicode where Thai's do, 0x80 further on, and many are
  drawn alike: ลับมาก with Lao's MAI KAN (U+0EB1) for the Thai mark shows ลับมาก, and
  ລັບມາກ is Lao's own word. Each is read as its Thai counterpart (rules/markings.py
  `_LAO_AS_THAI`).
* A head line in columns: the reference number at the left, the marking in the middle,
  the unit at the right. Each column of a head or foot line is read as a line of its own:
  in plain text columns are set apart by a tab or four spaces and more; in a PDF by a gap
  wider than two ems between the words on one line (gateway/pipeline/pdf_inspect.py
  `_gapped`). All of these were ordinary."""
from __future__ import annotations

import time

import pytest

from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from rules.markings import secrecy_in_letter
from tests.letters import letter, make_pdf, raw_rfc2047
from tests.signatures.producers import GARUDA

COVER = ("cover.pdf", make_pdf("cover"))
LAO = {
    "a Lao mark in Thai letters": ("ล\u0eb1บมาก", "secret"),
    "a Lao mark, ลับ": ("ล\u0eb1บ", "confidential"),
    "all Lao": ("\u0ea5\u0eb1\u0e9a\u0ea1\u0eb2\u0e81", "secret"),
    "Lao บ": ("ลั\u0e9aที่สุด", "top_secret"),
    "Lao า and ก": ("ลับม\u0eb2\u0e81", "secret"),
    "Lao tone mark in ที่": ("ลับท\u0eb5\u0ec8สุด", "top_secret"),
}


@pytest.mark.parametrize("word, level", LAO.values(), ids=LAO.keys())
def test_lao_lookalikes_are_read_as_the_thai_marking(word, level):
    body = letter(subject="แจ้งการประชุม", body=f"{word}\nเรื่อง การประชุม\n", files=[COVER])
    page = f"<html><meta charset=utf-8><body><p align=center>{word}</p><p>เรื่อง การประชุม</p></body></html>"
    html = letter(subject="แจ้งการประชุม", body="โปรดดูไฟล์แนบ", files=[COVER, ("a.html", page.encode())])
    subject = letter(subject=raw_rfc2047(f"{word} แจ้งการประชุม", "utf-8"), body="โปรดดูไฟล์แนบ", files=[COVER])
    for raw, where in ((body, "body"), (html, "file 2"), (subject, "header Subject")):
        found = classify_raw(raw)
        assert (found.level, found.certain, found.where) == (level, True, where), (where, found)


def test_thai_text_with_lao_in_it_but_no_marking_stays_ordinary():
    raw = letter(subject="แจ้งการประชุม", body="ขอเชิญประชุม ຫລວງພຣະບາງ ล\u0eb1กษณะงาน\n", files=[COVER])
    assert classify_raw(raw).level == "none"


@pytest.mark.parametrize("line", [
    "ที่ กท ๐๔๐๗/๕๗\t\tลับมาก\t\tสำนักการระบายน้ำ",
    "ที่ กท ๐๔๐๗/๕๗\tลับมาก\tสำนักการระบายน้ำ",
    "ที่ กท ๐๔๐๗/๕๗        ลับมาก        สำนักการระบายน้ำ",
    "ที่ กท ๐๔๐๗/๕๗\t\tลับมาก เรื่องแผนงาน\t\tสำนักการระบายน้ำ",
], ids=["two tabs", "one tab", "eight spaces", "a marking starting its column"])
def test_a_marking_in_a_column_of_a_head_line_is_read(line):
    raw = letter(subject="แจ้ง", body=f"{line}\nเรื่อง การประชุม\nเรียน ผู้อำนวยการเขต\n", files=[COVER])
    found = classify_raw(raw)
    assert (found.level, found.where) == ("secret", "body"), found


def test_a_foot_line_in_columns_is_read_too():
    prose = "\n".join(f"ย่อหน้าที่ {n} ของหนังสือ รายละเอียดการดำเนินงาน" for n in range(30))
    assert secrecy_in_letter(f"เรื่อง การประชุม\n{prose}\nหน้า ๑\t\tลับ\t\tกองกลาง") == "confidential"


def test_columns_in_the_middle_of_the_text_and_narrow_gaps_are_not_markings():
    prose = "\n".join(f"ย่อหน้าที่ {n} ของหนังสือ รายละเอียดการดำเนินงาน" for n in range(30))
    # a table in the body listing documents and their levels is not the letter's marking
    middle = f"เรื่อง การประชุม\n{prose[:400]}\n๑\tหนังสือเวียน\tลับ\tกองกลาง\n{prose[400:]}"
    assert secrecy_in_letter(middle) == "none"
    # two spaces are a typist's, not a column's
    assert secrecy_in_letter("ที่ กท ๐๔๐๗/๕๗  ลับมาก  สำนักการระบายน้ำ\nเรื่อง การประชุม") == "none"


def test_long_runs_of_blanks_in_a_head_line_are_read_in_one_pass():
    """A run of 20,000 spaces after ลับ was searched to its end from each of its spaces
    (4-12 s a line, before session 42's columns too); now one pass."""
    began = time.monotonic()
    for blank in (" ", "\t", " \t"):
        for text in ("ลับ" + blank * 20_000 + "ที่x", blank * 20_000 + "ลับx", "ที่ " + blank * 20_000 + "ลับมาก"):
            secrecy_in_letter(text + "\nเรียน ผู้อำนวยการ")
    assert time.monotonic() - began < 10


def _head_line_pdf(gap: float) -> bytes:
    """A letter whose head line is the reference, a ลับมาก drawn larger, and the unit,
    each `gap` points after the last (fpdf2, text shaping as Thai letters are made)."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.add_font("Garuda", fname=str(GARUDA))
    pdf.set_text_shaping(True)
    pdf.add_page()
    x = 45.0
    for words, size in (("ที่ กท ๐๔๐๗", 16), ("ลับมาก", 24), ("สำนักการระบายน้ำ", 16)):
        pdf.set_font("Garuda", size=size)
        pdf.set_xy(x, 45)
        pdf.cell(pdf.get_string_width(words), 24, words)
        x += pdf.get_string_width(words) + gap
    pdf.set_font("Garuda", size=16)
    pdf.set_xy(45, 110)
    for line in ("เรื่อง การประชุมคณะกรรมการ", "เรียน ผู้อำนวยการเขต", "ด้วยสำนักการระบายน้ำ ขอเชิญประชุม"):
        pdf.cell(0, 24, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_a_marking_drawn_apart_on_a_pdf_head_line_is_read():
    data = _head_line_pdf(gap=90)
    assert "ลับมาก" in inspect_pdf(data).text  # PDFium and pypdf read one line: "... ๐๔๐๗ ลับมาก สำนัก..."
    found = classify_raw(letter(subject="แจ้ง", body="โปรดดูไฟล์แนบ", files=[COVER, ("l.pdf", data)]))
    assert (found.level, found.where) == ("secret", "file 2 page 1"), found


def test_words_a_space_apart_on_a_pdf_head_line_are_one_line():
    data = _head_line_pdf(gap=6)  # a space's width: one line of words, not a column
    found = classify_raw(letter(subject="แจ้ง", body="โปรดดูไฟล์แนบ", files=[COVER, ("l.pdf", data)]))
    assert found.level == "none", found
