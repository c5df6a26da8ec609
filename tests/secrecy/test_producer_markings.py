"""A marking on a letter from LibreOffice or Word is read as the clerk's viewer shows it.

LibreOffice subsets a Thai font so that the glyph of า (SARA AA), once it has been used
inside ำ (SARA AM), has no Unicode of its own in the file's map: pypdf then reads every
later า as U+0003. A ลับมาก typed on the line after "สำนักงานเขตบางรัก" read
"ลับม\\x03ก", no marking, and the letter was registered in plain text. PDFium (Chrome's
reader) reads it as every viewer shows it; the marking is now looked for in both
readings (gateway/pipeline/pdf_inspect.py `_viewer_texts`, rules/markings.py), and so is
the urgency (ด่วนมาก) of the first page (rules/extract.py)."""
from __future__ import annotations

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.pipeline.pdf_inspect import inspect_pdf
from rules.markings import read_classification
from tests.letters import letter
from tests.signatures.producers import LETTER_LINES, libreoffice_pdfs

MARKS = {"ลับ": "confidential", "ลับมาก": "secret", "ลับที่สุด": "top_secret"}
SENDER_LINE = "สำนักงานเขตบางรัก"  # holds ำ: every later า of the file loses its Unicode


def _texts() -> dict[str, str]:
    texts = {}
    for n, mark in enumerate(MARKS):
        texts[f"top-{n}"] = "\n".join([mark] + LETTER_LINES) + "\n"
        texts[f"second-{n}"] = "\n".join([SENDER_LINE, mark] + LETTER_LINES) + "\n"
        texts[f"bottom-{n}"] = "\n".join([SENDER_LINE] + LETTER_LINES + [mark]) + "\n"
    texts["plain"] = "\n".join([SENDER_LINE, "ด่วนที่สุด"] + LETTER_LINES) + "\n"
    texts["idiom"] = "\n".join([SENDER_LINE] + LETTER_LINES + ["กลับมาที่สำนักงานแล้ว"]) + "\n"
    texts["urgent"] = "\n".join([SENDER_LINE, "ด่วนมาก"] + LETTER_LINES) + "\n"
    return texts


@pytest.fixture(scope="module")
def pdfs():
    made = libreoffice_pdfs(_texts())
    assert made is not None, "soffice is missing: `make test` installs libreoffice-writer-nogui"
    return made


def _classified(pdf: bytes):
    return read_classification(parse_mail(letter(body="เรียน ผู้อำนวยการเขตพระนคร\n", files=[("letter.pdf", pdf)])))


def test_the_file_is_what_the_finding_was_about(pdfs):
    """pypdf's own reading of the second-line ลับมาก, for the record: the marking's า
    comes out as a control character (if this ever reads "ลับมาก", LibreOffice or
    pypdf changed, and the repairs below are no longer what saves it)."""
    import io

    from pypdf import PdfReader

    raw = PdfReader(io.BytesIO(pdfs["second-1"])).pages[0].extract_text()
    assert "ลับม\x03ก" in raw and "สำ\x03นักง\x03น" in raw


def test_the_text_layer_reads_as_typed(pdfs):
    """The code after ำ is its second half; alone, it is า (rules/thai_text.py
    `repair_sara_am`): the register's subject and addressee read as the letter does."""
    from rules.extract import extract_facts

    info = inspect_pdf(pdfs["second-1"])
    assert "ลับมาก" in info.text and not any(c < " " and c not in "\t\n" for c in info.text)
    facts = extract_facts(parse_mail(letter(body="เรียน ผู้อำนวยการเขตพระนคร\n", files=[("letter.pdf", pdfs["plain"])])))
    assert facts.subject == "ขอเชิญประชุมคณะกรรมการ"  # was "ขอเชิญประชุมคณะกรรมกร"
    # (LibreOffice's text layer also loses the blank line after เรียน, so the addressee
    # runs on into the first paragraph: another matter, left as it reads.)
    assert facts.addressee.startswith("ผู้อำนวยการเขตพระนคร")


@pytest.mark.parametrize("place", ["top", "second", "bottom"])
@pytest.mark.parametrize("mark", list(MARKS))
def test_every_marking_on_every_line_is_read(pdfs, mark, place):
    found = _classified(pdfs[f"{place}-{list(MARKS).index(mark)}"])
    assert (found.level, found.where) == (MARKS[mark], "file 1 page 1")


def test_an_unmarked_letter_and_the_idiom_stay_ordinary(pdfs):
    assert _classified(pdfs["plain"]).level == "none"
    assert _classified(pdfs["idiom"]).level == "none"


def test_urgency_typed_on_the_second_line_is_read(pdfs):
    """ด่วนมาก (very urgent) loses its า the same way; the register must still say so."""
    from rules.extract import extract_facts

    mail = parse_mail(letter(body="เรียน ผู้อำนวยการเขตพระนคร\n", files=[("letter.pdf", pdfs["urgent"])]))
    assert extract_facts(mail).urgency == "very_urgent"


def test_through_smtp_the_second_line_marking_seals_the_letter(daemon, pdfs):
    queue_id = daemon.send(letter(subject="ขอเชิญประชุม", files=[("letter.pdf", pdfs["second-1"])]),
                           "saraban.latkrabang@bangkok.go.th")
    daemon.wait_for(lambda: daemon.register(), what="the letter registered")
    [entry] = daemon.register()
    assert (entry["queue_id"], entry["secrecy"], entry["book"]) == (queue_id, "secret", "secret")
    assert "ขอเชิญประชุม" not in str(entry)  # sealed: its subject is not in the plain register


def test_where_pypdf_and_the_viewers_disagree_the_viewers_page_is_read_too():
    """PDF-Insecurity's incremental saving attack (isa-3): a page appended after %%EOF
    behind an empty cross-reference section. poppler and PDFium show it; pypdf reads the
    page before it. A marking on such a page is on what the clerk sees, so the
    classification reads the viewer's page as well as pypdf's."""
    from tests.paths import shared_path
    from tests.thai_pdfs import pdftotext

    data = (shared_path("corpus", "pdf", "signature-trial") / "pdfinsecurity_isa-3.pdf").read_bytes()
    info = inspect_pdf(data)
    assert "Manipulated now Page!" in pdftotext(data)  # what a viewer shows
    assert info.page_texts == ("Hello World!",)  # pypdf's page
    assert info.viewer_page_texts == ("Manipulated now Page!",)  # read for markings too
    mail = parse_mail(letter(files=[("letter.pdf", data)]))
    assert mail.attachments[0].pdf_viewer_page_texts == ("Manipulated now Page!",)


@pytest.mark.parametrize("place", ["top", "second", "right", "bottom"])
@pytest.mark.parametrize("mark", list(MARKS))
def test_a_word_letters_marking_is_read_with_its_tone_marks(mark, place):
    """Word embeds Windows Thai fonts, which draw the tone marks as Private Use Area
    glyphs: the text layer reads "ลับที\uf70aสุด" for ลับที่สุด. The facts were read through
    that map, the markings were not: a Word letter marked ลับที่สุด was ordinary
    (rules/markings.py `_visible` maps them now). Every level, every place."""
    from tests.thai_pdfs import thai_pdf

    head = {"top": [mark, SENDER_LINE], "second": [SENDER_LINE, mark],
            "right": [SENDER_LINE + " " * 60 + mark], "bottom": [SENDER_LINE]}[place]
    lines = head + LETTER_LINES + ([mark] if place == "bottom" else [])
    found = _classified(thai_pdf(lines, producer="word"))
    assert (found.level, found.where) == (MARKS[mark], "file 1 page 1")
