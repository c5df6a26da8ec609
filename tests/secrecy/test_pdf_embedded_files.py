"""Files embedded in a PDF are read as the clerk's viewer opens them (leak red team,
30 Nov 2026).

Acrobat's Combine Files > PDF Portfolio, its attachments pane and its Attach File comment
(a paperclip on a page) put documents inside a PDF: the viewer lists them in its
attachments pane (a Portfolio opens on them) and the clerk opens them from there. The
gateway read the outer PDF's pages only, so a ลับมาก letter sent inside an unmarked cover
PDF was ordinary: registered and filed in plain.
Now each embedded file is read like an attached one (PDFs page by page, text and office
files, its name); one that cannot be read (a password, past the limits) makes the
letter at least ลับ."""
from __future__ import annotations

import io

from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.hostile.markings_cases import thai_pdf
from tests.secrecy.test_mime_hidden_markings import file_part, mixed, text_part


def with_embedded(cover: bytes, files: dict[str, bytes]) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(cover))
    for name, data in files.items():
        writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_paperclip(cover: bytes, name: str, data: bytes) -> bytes:
    """`data` attached to page 1 as a FileAttachment annotation (Acrobat's Attach File
    comment: a paperclip on the page, listed in the attachments pane)."""
    from pypdf import PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject,
                               TextStringObject)

    writer = PdfWriter(clone_from=io.BytesIO(cover))
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject(name),
                             NameObject("/UF"): TextStringObject(name),
                             NameObject("/EF"): DictionaryObject({NameObject("/F"): writer._add_object(stream)})})
    writer.add_annotation(0, DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/FileAttachment"),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (50, 50, 70, 70)]),
        NameObject("/Name"): NameObject("/Paperclip"), NameObject("/FS"): writer._add_object(spec)}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def password_protected(pdf: bytes) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt("ลับ-2569", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def reading(pdf: bytes) -> tuple[str, bool]:
    found = classify_raw(mixed(text_part(), file_part("application/pdf", "2569_dds_0403_57.pdf", pdf)))
    return found.level, found.certain


def test_a_marked_letter_inside_an_unmarked_pdf_is_read():
    cover = thai_pdf()
    assert reading(cover) == ("none", True)
    assert reading(with_embedded(cover, {"letter.pdf": thai_pdf(top="ลับมาก")})) == ("secret", True)
    assert reading(with_embedded(cover, {"a.pdf": thai_pdf(), "b.pdf": thai_pdf(bottom="ลับ")})) == (
        "confidential", True)
    # A PDF in a PDF in the PDF, and a text file's marking.
    inner = with_embedded(thai_pdf(), {"letter.pdf": thai_pdf(top="ลับที่สุด")})
    assert reading(with_embedded(cover, {"portfolio.pdf": inner})) == ("top_secret", True)
    assert reading(with_embedded(cover, {"note.txt": "ลับมาก\nเรียน ผู้อำนวยการเขต\n".encode()})) == (
        "secret", True)
    # A paperclip on the page.
    assert reading(with_paperclip(cover, "letter.pdf", thai_pdf(top="ลับมาก"))) == ("secret", True)
    # The name the attachments pane shows.
    assert reading(with_embedded(cover, {"ลับมาก_2569_dds_0403_57.pdf": thai_pdf()})) == ("secret", True)


def test_an_embedded_file_the_gateway_cannot_read_makes_the_letter_at_least_confidential():
    cover = thai_pdf()
    assert reading(with_embedded(cover, {"letter.pdf": password_protected(thai_pdf())})) == (
        "confidential", False)
    nested = with_embedded(thai_pdf(), {"b.pdf": with_embedded(thai_pdf(), {"c.pdf": thai_pdf()})})
    assert reading(with_embedded(cover, {"a.pdf": nested})) == ("confidential", False)  # three levels down


def test_a_pdf_without_embedded_files_reads_as_before():
    pdf = thai_pdf(top="ลับ")
    info = inspect_pdf(pdf)
    assert info.error is None and reading(pdf) == ("confidential", True)
    plain = with_embedded(thai_pdf(), {"data.xml": b"<invoice><total>100</total></invoice>"})
    assert reading(plain) == ("none", True) and inspect_pdf(plain).error is None
