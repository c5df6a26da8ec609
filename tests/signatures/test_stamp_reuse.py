"""What the stamp keeps per process (the font read once, the seal's key) changes nothing a
reader sees: every stamp verifies, and each carries its own font subset.

The font's HarfBuzz face and a copy of the file without its layout tables are kept per
process; fontTools subsets the copy in place, so a second stamp that saw the first one's
subset would lose the glyphs only it needs. Two units with no Thai letter in common
beyond a few show whether that happens: both stamps must read back in full.
"""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pypdf
import pytest

from gateway.signatures.stamp import StampInfo, stamp_pdf
from gateway.signatures.verify import verify_pdf
from tests.letters import one_page_pdf, stream_object

RECEIVED = dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc)  # 09.10 in Bangkok
# The second name has letters (ฝ ฎ ฐ ธ ฌ ฆ) the first one lacks, and the first has letters the second lacks.
UNITS = ("สำนักงานเขตพระนคร", "ฝ่ายโยธา ฎีกา ฐาน ธุระ ฌาน ฆ้อง")


def _stamp_info(unit: str, number: str) -> StampInfo:
    return StampInfo(unit_name=unit, receive_number=number, received_at=RECEIVED)


def _stamp_text(pdf: bytes, tmp_path) -> str:
    """Page 1's text as poppler renders it, our stamp's appearance included: it reads
    the glyphs through the subset's ToUnicode map, so a glyph missing from the subset
    comes out as nothing or as another letter. (pypdf splits ำ into two marks whatever
    the subset, so it cannot tell.)"""
    path = tmp_path / "stamped.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"],
                          capture_output=True, text=True, timeout=60, check=True).stdout


def _embedded_font_glyphs(pdf: bytes) -> set[str]:
    """Glyphs with an outline in our stamp's embedded font program."""
    from fontTools import ttLib

    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    for annot in page["/Annots"]:
        annot = annot.get_object()
        if not str(annot.get("/T", "")).startswith("SarabanReceiveStamp"):
            continue
        ap = annot["/AP"]["/N"].get_object()
        fonts = _fonts_in(ap)
        for font in fonts:
            descendant = font["/DescendantFonts"][0].get_object()
            program = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            tt = ttLib.TTFont(io.BytesIO(program))
            glyf = tt["glyf"]
            return {name for name in tt.getGlyphOrder() if glyf[name].numberOfContours}
    raise AssertionError("no embedded font in the stamp")


def _fonts_in(xobject, depth: int = 0):
    resources = xobject.get("/Resources")
    if resources is None or depth > 4:
        return []
    resources = resources.get_object()
    out = [f.get_object() for f in (resources.get("/Font") or {}).values()]
    for inner in (resources.get("/XObject") or {}).values():
        out += _fonts_in(inner.get_object(), depth + 1)
    return out


def test_unsigned_and_signed_letters_stamped_in_one_process_all_verify(letter, signed, trust, seal):
    unsigned = stamp_pdf(letter, _stamp_info(UNITS[0], "15/2569"), seal)
    sealed = stamp_pdf(signed, _stamp_info(UNITS[1], "16/2569"), seal)
    again = stamp_pdf(letter, _stamp_info(UNITS[1], "17/2569"), seal)  # the font's third use
    for result in (unsigned, sealed, again):
        assert result.mode == "stamped", result.reason

    verdict = verify_pdf(unsigned.pdf, trust)
    assert [s.field for s in verdict.signatures] == ["SarabanReceiveStamp"]
    assert verdict.signatures[0].indication == "TOTAL_PASSED"
    assert not verdict.review

    verdict = verify_pdf(sealed.pdf, trust)
    by_field = {s.field: s for s in verdict.signatures}
    assert by_field["Signature1"].indication == "TOTAL_PASSED"
    assert by_field["Signature1"].modifications == "signatures_added"
    assert by_field["SarabanReceiveStamp"].indication == "TOTAL_PASSED"
    assert not verdict.review

    assert verify_pdf(again.pdf, trust).signatures[0].indication == "TOTAL_PASSED"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_each_stamp_has_its_own_complete_font_subset(letter, seal, tmp_path):
    first = stamp_pdf(letter, _stamp_info(UNITS[0], "15/2569"), seal)
    second = stamp_pdf(letter, _stamp_info(UNITS[1], "16/2569"), seal)
    third = stamp_pdf(letter, _stamp_info(UNITS[0], "15/2569"), seal)  # the first one's text again

    for result, unit, number in ((first, UNITS[0], "๑๕/๒๕๖๙"), (second, UNITS[1], "๑๖/๒๕๖๙"),
                                 (third, UNITS[0], "๑๕/๒๕๖๙")):
        text = _stamp_text(result.pdf, tmp_path)
        compact = "".join(text.split())
        assert "".join(unit.split()) in compact, text
        assert f"เลขรับ{number}" in compact, text
    # Separate subsets: each holds what its own text needs, nothing carried over.
    first_glyphs, second_glyphs = _embedded_font_glyphs(first.pdf), _embedded_font_glyphs(second.pdf)
    assert first_glyphs - second_glyphs and second_glyphs - first_glyphs
    assert _embedded_font_glyphs(third.pdf) == first_glyphs


def _crowded_lower_half(columns: int = 28, rows: int = 39) -> bytes:
    """A page with ~1 100 separate text boxes ("ab" at 6 pt, too far apart for pdfminer
    to join them) filling its lower half: the reading-order grouping the placement no
    longer asks pdfminer for is quadratic in them (9 s and 230 MB for this page, now
    0.15 s); the top right stays blank."""
    ops = []
    for col in range(columns):
        for row in range(rows):
            ops.append(f"BT /F1 6 Tf {20 + col * 20} {20 + row * 10} Td (ab) Tj ET")
    return one_page_pdf("\n".join(ops).encode(), b"/Font << /F1 5 0 R >>",
                        (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",))


def test_a_page_crowded_with_text_boxes_is_stamped_clear_of_them_in_the_bounded_child(seal):
    """Through the stamping child as the delivery runner runs it (deadline, memory cap):
    stamped top right, clear of every one of the page's boxes."""
    from gateway.signatures.page_space import content_boxes
    from gateway.signatures.receive_stamp import Stamper, StampJob

    page = _crowded_lower_half()
    boxes = content_boxes(page, 0)
    assert len(boxes) > 1000
    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        result = stamper.stamp(StampJob("crowded.pdf", page, _stamp_info(UNITS[0], "19/2569"), "19/2569"))
    finally:
        stamper.close()
    assert result.mode == "stamped", result.reason
    annots = pypdf.PdfReader(io.BytesIO(result.pdf)).pages[0]["/Annots"]
    rect = next([float(v) for v in a.get_object()["/Rect"]] for a in annots
                if str(a.get_object().get("/T", "")).startswith("SarabanReceiveStamp"))
    assert rect[1] > 421  # the top half
    for x0, y0, x1, y1 in boxes:
        assert x1 <= rect[0] or x0 >= rect[2] or y1 <= rect[1] or y0 >= rect[3]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_one_units_stamps_reuse_one_font_program_and_each_reads_its_own_number(letter, seal, tmp_path):
    """The subset is made for the stamp's whole alphabet (digits, month names, its fixed
    words) and the unit's name, so a unit's next letters embed the same font program;
    each one still shows its own number, date and time."""
    from gateway.signatures import stamp as stamp_module

    other_day = dt.datetime(2026, 9, 28, 10, 47, tzinfo=dt.timezone.utc)  # 28 ก.ย., 17.47
    results = [stamp_pdf(letter, _stamp_info(UNITS[0], number), seal)
               for number in ("15/2569", "2468/2569")]
    results.append(stamp_pdf(letter, StampInfo(unit_name=UNITS[0], receive_number="3579/2569",
                                               received_at=other_day), seal))
    programs = {_font_program(r.pdf) for r in results}
    assert len(programs) == 1  # one subset, made once
    for result, number, when in ((results[0], "๑๕/๒๕๖๙", "๕ม.ค.๒๕๖๙"), (results[1], "๒๔๖๘/๒๕๖๙", "๕ม.ค.๒๕๖๙"),
                                 (results[2], "๓๕๗๙/๒๕๖๙", "๒๘ก.ย.๒๕๖๙")):
        compact = "".join(_stamp_text(result.pdf, tmp_path).split())
        assert f"เลขรับ{number}" in compact and when in compact, compact
    assert "๑๗.๔๗" in "".join(_stamp_text(results[2].pdf, tmp_path).split())
    # A unit that prints Arabic digits ([signatures] stamp_thai_digits = false): the same
    # program holds those digits too, and the stamp reads back in them.
    arabic = stamp_pdf(letter, StampInfo(unit_name=UNITS[0], receive_number="4680/2569", received_at=other_day,
                                         thai_digits=False), seal)
    assert _font_program(arabic.pdf) in programs
    compact = "".join(_stamp_text(arabic.pdf, tmp_path).split())
    assert "เลขรับ4680/2569" in compact and "28ก.ย.2569" in compact and "17.47" in compact, compact
    assert stamp_module._subset_program.cache_info().currsize <= stamp_module._SUBSETS_KEPT


def _font_program(pdf: bytes) -> bytes:
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    for annot in page["/Annots"]:
        annot = annot.get_object()
        if str(annot.get("/T", "")).startswith("SarabanReceiveStamp"):
            font = _fonts_in(annot["/AP"]["/N"].get_object())[0]
            descendant = font["/DescendantFonts"][0].get_object()
            return descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
    raise AssertionError("no stamp")


def test_kept_signed_attributes_are_pyhankos_own_encoding_with_the_new_digest(seal):
    """The seal's signed attributes are made once and reused with each letter's digest:
    byte for byte what pyHanko encodes for that digest."""
    import asyncio
    import hashlib

    from pyhanko.sign import signers

    from gateway.signatures.stamp import SealKey

    reused = SealKey(seal.key_pem + b"\n", seal.cert_pem, seal.chain_pem).signer()  # its own signer
    plain = signers.SimpleSigner(signing_cert=reused.signing_cert, signing_key=reused.signing_key,
                                 cert_registry=reused.cert_registry)

    async def attrs(signer, n: int) -> bytes:
        digest = hashlib.sha256(b"letter %d" % n).digest()
        made = await signer.signed_attrs(digest, "sha256", use_pades=True)
        return made.dump()

    async def main():
        return ([await attrs(reused, n) for n in range(3)], [await attrs(plain, n) for n in range(3)])

    kept, fresh = asyncio.run(main())
    assert kept == fresh
    assert len(set(kept)) == 3
    assert len(reused._attrs_templates) == 1  # the second and third came from the first


def test_kept_cms_is_pyhankos_own_encoding_with_the_new_attributes_and_signature(seal, monkeypatch):
    """The seal's CMS SignedData is assembled once and reused with each letter's signed
    attributes and signature: byte for byte what pyHanko assembles from them."""
    import asyncio
    import hashlib

    from pyhanko.sign import signers
    from pyhanko.sign.signers import pdf_cms

    assembled = []
    package = pdf_cms.Signer._package_signature

    def counted(self, **kwargs):
        assembled.append(self)
        return package(self, **kwargs)

    monkeypatch.setattr(pdf_cms.Signer, "_package_signature", counted)

    from gateway.signatures.stamp import SealKey

    reused = SealKey(seal.key_pem + b"\n\n", seal.cert_pem, seal.chain_pem).signer()  # its own signer
    plain = signers.SimpleSigner(signing_cert=reused.signing_cert, signing_key=reused.signing_key,
                                 cert_registry=reused.cert_registry)

    async def cms_of(signer, n: int) -> bytes:
        attrs = await plain.signed_attrs(hashlib.sha256(b"letter %d" % n).digest(), "sha256", use_pades=True)
        # PDF signing passes the detached content info; None means the same.
        made = await signer.async_sign_prescribed_attributes(
            "sha256", attrs, encap_content_info={"content_type": "data"} if n % 2 else None)
        return made.dump()

    async def main():
        return [await cms_of(reused, n) for n in range(3)], [await cms_of(plain, n) for n in range(3)]

    kept, fresh = asyncio.run(main())
    assert kept == fresh  # RSA PKCS#1 v1.5 is deterministic: the same signatures too
    assert len(set(kept)) == 3
    assert len(reused._cms_templates) == 1
    assert assembled.count(reused) == 1 and assembled.count(plain) == 3  # the second and third came from the first


def _image_bomb(side: int = 20000) -> bytes:
    """A page-sized 1-bit white image of side x side pixels: 48 KB of Flate that would
    decode to 400 million pixels (1.2 GB as the RGB PDFium hands back)."""
    import zlib

    data = zlib.compress(b"\xff" * (side // 8 * side), 9)
    return one_page_pdf(b"q 595 0 0 842 0 0 cm /Im0 Do Q", b"/XObject << /Im0 5 0 R >>", (
        stream_object(data, b"/Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 1 "
                            b"/ColorSpace /DeviceGray /Filter /FlateDecode " % (side, side)),))


def test_an_image_bomb_is_not_decoded_for_the_stamps_place(seal):
    """The scan's ink is read pixel by pixel only up to page_space.MAX_INK_PIXELS: past
    it the image's whole box counts, so a page-sized bomb leaves no room (a receipt
    that says so) instead of running the bounded child out of memory."""
    from gateway.signatures.receive_stamp import Stamper, StampJob

    stamper = Stamper(seal, timeout=120, memory_mb=1024, log_setup=("warning", "json"))
    try:
        result = stamper.stamp(StampJob("bomb.pdf", _image_bomb(), _stamp_info(UNITS[0], "20/2569"), "20/2569"))
    finally:
        stamper.close()
    assert (result.mode, result.reason) == ("receipt", "no free space at the top right of page 1 for the stamp")


def _forms_nested(depth: int) -> bytes:
    """Form XObjects nested `depth` deep; only the innermost draws, a box at the top right."""
    forms = []
    for level in range(depth):
        if level == depth - 1:
            forms.append(stream_object(b"0 0 0 rg 380 700 180 100 re f",
                                       b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] "))
        else:
            forms.append(stream_object(b"/F%d Do" % (level + 1),
                                       b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] "
                                       b"/Resources << /XObject << /F%d %d 0 R >> >> " % (level + 1, 6 + level)))
    return one_page_pdf(b"/F0 Do", b"/XObject << /F0 5 0 R >>", tuple(forms))


@pytest.mark.parametrize("depth", [3, 20])
def test_forms_nested_past_what_is_measured_give_a_receipt_not_a_stamp_over_them(seal, depth):
    """A drawing three forms deep is found and kept clear of; twenty deep is past what
    the placement measures (page_space.MAX_DEPTH), and a half-measured page would let
    the stamp land on what it did not see: a receipt that says why."""
    result = stamp_pdf(_forms_nested(depth), _stamp_info(UNITS[0], "21/2569"), seal)
    if depth == 3:
        assert result.mode == "stamped", result.reason
        annots = pypdf.PdfReader(io.BytesIO(result.pdf)).pages[0]["/Annots"]
        rect = next([float(v) for v in a.get_object()["/Rect"]] for a in annots
                    if str(a.get_object().get("/T", "")).startswith("SarabanReceiveStamp"))
        assert rect[3] <= 700 or rect[2] <= 380  # clear of the box at 380-560 x 700-800
    else:
        assert (result.mode, result.reason) == (
            "receipt", "page 1 holds too many drawn objects to find a free place for the stamp")
