"""A marking a viewer shows but the page's own text, read in stream order, does not
hold in its head or foot is read all the same (gateway/pipeline/pdf_inspect.py
`other_texts`, red-team findings F1 and F9).

* F1: the marking only in an annotation: a Stamp or a FreeText annotation (Acrobat's
  stamp and add-text tools, with an appearance stream; a FreeText without one, whose
  /Contents viewers draw), or a form field's value. pypdf's extract_text and PDFium's
  text page read only the page's content stream, so a ลับที่สุด letter got a 250 and a
  ลับ letter was registered in plain text.
* F9: the marking printed at the top (or the bottom) of the page but drawn in the middle
  of the content stream: both readers give the text in stream order and only the first
  and last lines of that order were read for it.

A sticky note's comment (a Text annotation's /Contents, shown only in a popup when the
reader opens it) is not on the page as printed or shown: it is not read as a marking.
"""
from __future__ import annotations

import io

import pytest

from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.letters import letter
from tests.signatures.producers import GARUDA

W, H = 595.28, 841.89  # A4, points
BODY = ["บันทึกข้อความ", "ส่วนราชการ สำนักงานเขตบางรัก ฝ่ายปกครอง",
        "ที่ กท ๐๔๐๓/ว ๒๗๖ วันที่ ๑ ธันวาคม ๒๕๖๙", "เรื่อง ขอส่งแผนการปฏิบัติงาน",
        "เรียน ผู้อำนวยการเขตลาดกระบัง"]
LEVELS = {"ลับ": "confidential", "ลับมาก": "secret", "ลับที่สุด": "top_secret"}


def _fpdf(size=(W, H)):
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=size)
    pdf.add_font("Garuda", fname=str(GARUDA))
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Garuda", size=14)
    return pdf


def _body_lines(n: int) -> list[str]:
    return BODY + [f"ข้อ {i} รายละเอียดการดำเนินงานตามแผนของสำนักงานเขต" for i in range(1, n - len(BODY) + 1)]


def typed_letter(lines: int = 12) -> bytes:
    """An unmarked one-page letter: its body from the top down, in stream order."""
    pdf = _fpdf()
    pdf.set_xy(60, 60)
    for line in _body_lines(lines):
        pdf.cell(0, 18, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(60)
    return bytes(pdf.output())


def drawn_late(marking: str, where: str, lines: int = 40, after: int = 16) -> bytes:
    """A letter of `lines` body lines whose marking is printed at the top (or bottom) of
    the page, centred, but drawn after the `after`-th body line (a text box anchored to a
    later paragraph): in stream order it is in the middle of the page."""
    pdf = _fpdf()
    body = _body_lines(lines)
    pdf.set_font_size(12)
    pdf.set_xy(60, 70)
    for line in body[:after]:
        pdf.cell(0, 18, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(60)
    y = pdf.get_y()
    pdf.set_font_size(16)
    pdf.set_xy(60, 30 if where == "top" else H - 40)
    pdf.cell(W - 120, 20, marking, align="C")
    pdf.set_font_size(12)
    pdf.set_xy(60, y)
    for line in body[after:]:
        pdf.cell(0, 18, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(60)
    return bytes(pdf.output())


def _appearance(writer, text: str, width: float, height: float):
    """A Form XObject drawing `text` in Garuda in a `width` x `height` box: an
    appearance stream as a PDF editor's stamp or add-text tool writes one."""
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DecodedStreamObject, FloatObject, NameObject

    pdf = _fpdf((width, height))
    pdf.set_xy(0, 0)
    pdf.cell(width, height, text, align="C")
    page = PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0]
    form = DecodedStreamObject()
    form.set_data(page.get_contents().get_data())
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    form[NameObject("/BBox")] = ArrayObject([FloatObject(v) for v in (0, 0, width, height)])
    form[NameObject("/Resources")] = page["/Resources"].clone(writer)
    return writer._add_object(form)


def annotated(annots: list[dict], base: bytes | None = None, acroform: dict | None = None) -> bytes:
    """`base` (an unmarked letter) with these annotations on its page. Each dict holds
    the annotation's entries as Python values (str: a text string, "/Name": a name,
    numbers, lists of numbers) plus "appearance": a text drawn as its /AP /N stream in
    its /Rect, and "field": True to make it a form field (listed in /AcroForm)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (ArrayObject, BooleanObject, DictionaryObject, FloatObject, NameObject,
                               NumberObject, TextStringObject)

    def value(v):
        if isinstance(v, bool):
            return BooleanObject(v)
        if isinstance(v, int):
            return NumberObject(v)
        if isinstance(v, float):
            return FloatObject(v)
        if isinstance(v, list):
            return ArrayObject([value(x) for x in v])
        if isinstance(v, str) and v.startswith("/"):
            return NameObject(v)
        return TextStringObject(v)

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(base or typed_letter())))
    page = writer.pages[0]
    refs, fields = [], []
    appearances: dict = {}  # one stream for each text and size, shared
    for spec in annots:
        spec = dict(spec)
        appearance = spec.pop("appearance", None)
        field = spec.pop("field", False)
        annot = DictionaryObject({NameObject("/Type"): NameObject("/Annot")})
        for key, v in spec.items():
            annot[NameObject(key)] = value(v)
        if appearance is not None:
            x0, y0, x1, y1 = spec["/Rect"]
            size = (appearance, x1 - x0, y1 - y0)
            if size not in appearances:
                appearances[size] = _appearance(writer, *size)
            annot[NameObject("/AP")] = DictionaryObject({NameObject("/N"): appearances[size]})
        if field:
            annot[NameObject("/P")] = page.indirect_reference
        ref = writer._add_object(annot)
        refs.append(ref)
        if field:
            fields.append(ref)
    page[NameObject("/Annots")] = ArrayObject(refs)
    if fields or acroform:
        form = DictionaryObject({NameObject("/Fields"): ArrayObject(fields)})
        for key, v in (acroform or {}).items():
            form[NameObject(key)] = value(v)
        writer._root_object[NameObject("/AcroForm")] = form
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


TOP = [200.0, H - 70, W - 200, H - 30]  # a box at the top centre of the page
PRINT = 4  # annotation flag: print (and show)


def stamp(marking: str, rect=TOP, flags: int = PRINT) -> dict:
    return {"/Subtype": "/Stamp", "/Rect": rect, "/F": flags, "/Name": "/Confidential",
            "/Contents": marking, "appearance": marking}


def freetext(marking: str, appearance: bool = True, rect=TOP) -> dict:
    spec = {"/Subtype": "/FreeText", "/Rect": rect, "/F": PRINT, "/Contents": marking,
            "/DA": "/Helv 16 Tf 0 g"}
    if appearance:
        spec["appearance"] = marking
    return spec


def text_field(value: str, appearance: bool = True, rect=TOP) -> dict:
    spec = {"/Subtype": "/Widget", "/FT": "/Tx", "/T": "secrecy", "/V": value, "/Rect": rect,
            "/F": PRINT, "/DA": "/Helv 16 Tf 0 g", "field": True}
    if appearance:
        spec["appearance"] = value
    return spec


def popup_comment(text: str) -> list[dict]:
    """A sticky note (Text annotation, its icon in the margin) whose comment shows only
    in its popup, closed."""
    return [{"/Subtype": "/Text", "/Rect": [W - 60, H - 60, W - 40, H - 40], "/F": PRINT,
             "/Contents": text, "/Name": "/Comment", "/Open": False},
            {"/Subtype": "/Popup", "/Rect": [W - 250, H - 200, W - 40, H - 60], "/F": 0, "/Open": False}]


def _level(pdf: bytes) -> str:
    found = classify_raw(letter(body="เรียน ผู้อำนวยการเขตลาดกระบัง\nส่งหนังสือตามที่แนบมา\n",
                                files=[("2569_dds_0403_57.pdf", pdf)]))
    assert found.certain, found
    return found.level


def turned_late(marking: str, lines: int = 30, after: int = 16) -> bytes:
    """A page shown turned a quarter clockwise (/Rotate 90: landscape), its lines drawn
    upwards in user space, one column each: shown top to bottom, they run left to right
    in user space. The marking is shown first (its column the leftmost) but drawn after
    the `after`-th line; the lines before it start lower in user space than those after
    it, so that reading the page unturned (by height) would put it in the middle."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, NumberObject

    pdf = _fpdf()
    pdf.set_font_size(11)
    body = _body_lines(lines)
    # (x, y from the top in fpdf2's terms: H - 60 is 60 pt above the bottom edge)
    placed = ([(60 + 17 * i, H - 60, line) for i, line in enumerate(body[:after])] + [(35, H - 75, marking)]
              + [(60 + 17 * i, H - 90, line) for i, line in enumerate(body[after:], start=after)])
    for x, y, line in placed:
        with pdf.rotation(90, x=x, y=y):
            pdf.text(x, y, line)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    writer.pages[0][NameObject("/Rotate")] = NumberObject(90)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def many_annotations(count: int = 10_000) -> bytes:
    """A hostile page: `count` stamps, each drawing "OK" (one shared appearance)."""
    from tests.letters import assemble_pdf, stream_object

    first = 7
    annots = " ".join(f"{first + i} 0 R" for i in range(count)).encode()
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> /Annots [" + annots + b"] >>",
        stream_object(b"BT /F1 14 Tf 72 760 Td (An ordinary letter) Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream_object(b"BT /F1 10 Tf 2 2 Td (OK) Tj ET",
                      b"/Type /XObject /Subtype /Form /BBox [0 0 40 14] /Resources << /Font << /F1 5 0 R >> >> "),
        *(b"<< /Type /Annot /Subtype /Stamp /F 4 /Rect [%d %d %d %d] /AP << /N 6 0 R >> >>"
          % (40 + i % 12 * 42, 60 + i // 12 % 60 * 12, 80 + i % 12 * 42, 74 + i // 12 % 60 * 12)
          for i in range(count)),
    ])


# ------------------------------------------------------------------ the marking is read


@pytest.mark.parametrize("marking", list(LEVELS))
def test_a_marking_only_in_a_stamp_annotation_is_read(marking):
    assert _level(annotated([stamp(marking)])) == LEVELS[marking]


@pytest.mark.parametrize("appearance", [True, False], ids=["with appearance", "contents only"])
@pytest.mark.parametrize("marking", ["ลับมาก", "ลับที่สุด"])
def test_a_marking_only_in_a_freetext_annotation_is_read(marking, appearance):
    """Acrobat's add-text tool writes an appearance stream; without one a viewer draws
    the annotation's /Contents itself."""
    assert _level(annotated([freetext(marking, appearance)])) == LEVELS[marking]


@pytest.mark.parametrize("appearance", [True, False], ids=["with appearance", "value only"])
@pytest.mark.parametrize("marking", ["ลับ", "ลับที่สุด"])
def test_a_marking_only_in_a_form_field_value_is_read(marking, appearance):
    form = None if appearance else {"/NeedAppearances": True}
    assert _level(annotated([text_field(marking, appearance)], acroform=form)) == LEVELS[marking]


def test_a_field_value_the_widget_inherits_from_its_field_is_read():
    """A field with its widget as a kid: the value is on the field, not the widget."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(annotated([text_field("ลับมาก", appearance=False)]))))
    widget = writer.pages[0]["/Annots"][0].get_object()
    field = DictionaryObject({NameObject("/FT"): NameObject("/Tx"), NameObject("/T"): TextStringObject("secrecy"),
                              NameObject("/V"): TextStringObject("ลับมาก")})
    for key in ("/FT", "/T", "/V"):
        del widget[key]
    field[NameObject("/Kids")] = ArrayObject([writer.pages[0]["/Annots"][0]])
    field_ref = writer._add_object(field)
    widget[NameObject("/Parent")] = field_ref
    writer._root_object["/AcroForm"][NameObject("/Fields")] = ArrayObject([field_ref])
    out = io.BytesIO()
    writer.write(out)
    assert _level(out.getvalue()) == "secret"


@pytest.mark.parametrize("where", ["top", "bottom"])
@pytest.mark.parametrize("marking", ["ลับ", "ลับที่สุด"])
def test_a_marking_drawn_mid_stream_but_printed_at_the_edge_is_read(marking, where):
    pdf = drawn_late(marking, where)
    # what the finding was: in stream order the marking is the 17th of 41 lines
    from pypdf import PdfReader

    lines = [line for line in PdfReader(io.BytesIO(pdf)).pages[0].extract_text().splitlines() if line.strip()]
    assert len(lines) == 41 and lines.index(marking) == 16
    assert _level(pdf) == LEVELS[marking]


def test_a_marking_shown_at_the_top_of_a_turned_page_is_read():
    """/Rotate 90: the top as shown is the left edge of the page's own space."""
    assert _level(turned_late("ลับมาก")) == "secret"


def test_a_stamp_on_a_damaged_file_only_a_repairing_reader_opens_is_read():
    """`_read_repaired` (PDFium alone) reads annotations too."""
    pdf = annotated([stamp("ลับมาก")])
    damaged = pdf[:pdf.rindex(b"startxref")] + b"startxreg" + pdf[pdf.rindex(b"startxref") + 9:]
    info = inspect_pdf(damaged)
    assert info.error is not None and info.pages == 1
    assert _level(damaged) == "secret"


# ------------------------------------------------------------------ and nothing else


def test_an_annotation_that_says_nothing_secret_leaves_the_letter_ordinary():
    pdf = annotated([stamp("ได้รับแล้ว ๑ ธ.ค. ๒๕๖๙"), freetext("ตรวจแล้ว", appearance=False),
                     text_field("นายสมชาย ใจดี")])
    assert _level(pdf) == "none"


def test_a_sticky_note_comment_is_not_read_as_a_marking():
    """The chosen reading: a Text annotation's comment shows only in a popup the reader
    opens; it is a note about the letter, not a marking printed on it."""
    assert _level(annotated(popup_comment("ลับ"))) == "none"


def test_a_hidden_stamp_is_not_read():
    """A viewer neither shows nor prints an annotation flagged Hidden."""
    assert _level(annotated([stamp("ลับมาก", flags=2 | PRINT)])) == "none"


def _hidden_marking(how: str) -> bytes:
    """A typed letter whose ลับมาก at the top is drawn but not seen, one way or another."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, TextStringObject

    pdf = _fpdf()
    pdf.set_xy(60, 60)
    for line in _body_lines(12):
        pdf.cell(0, 18, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(60)
    pdf.set_xy(250, 30)
    if how == "white":
        pdf.set_text_color(255, 255, 255)
    elif how == "0.1 pt":
        pdf.set_font("Garuda", size=0.1)
    pdf.cell(100, 20, "ลับมาก")
    if how == "under an image":
        from PIL import Image

        png = io.BytesIO()
        Image.new("RGB", (50, 10), "white").save(png, "PNG")
        pdf.image(png, x=240, y=25, w=140, h=30)
    if not how.startswith("layer"):
        return bytes(pdf.output())
    # The marking's text object inside an optional-content group (BDC /OC ... EMC),
    # off on screen and on in print, or off in both.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    ocg = DictionaryObject({NameObject("/Type"): NameObject("/OCG"), NameObject("/Name"): TextStringObject("ลับ")})
    if how == "layer printed only":
        ocg[NameObject("/Usage")] = DictionaryObject({NameObject("/Print"): DictionaryObject(
            {NameObject("/PrintState"): NameObject("/ON")})})
    ref = writer._add_object(ocg)
    writer._root_object[NameObject("/OCProperties")] = DictionaryObject({
        NameObject("/OCGs"): ArrayObject([ref]), NameObject("/D"): DictionaryObject({NameObject("/OFF"): ArrayObject([ref])})})
    page = writer.pages[0]
    page["/Resources"][NameObject("/Properties")] = DictionaryObject({NameObject("/oc1"): ref})
    data = page.get_contents().get_data()
    at = data.rfind(b"BT")
    stream = DecodedStreamObject()
    stream.set_data(data[:at] + b"/OC /oc1 BDC " + data[at:] + b" EMC")
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("how", ["white", "0.1 pt", "under an image", "layer off", "layer printed only"])
def test_a_marking_a_viewer_does_not_show_is_still_read(how):
    """Red team session 15: the page's text is read whether a viewer shows it or not, so a
    marking printed but hidden on screen (or the other way round) is never missed; one
    nobody sees makes the letter classified (fail closed, docs/secrecy.md "Known limits")."""
    assert _level(_hidden_marking(how)) == "secret"


def test_an_ordinary_letter_reads_nothing_more():
    """Its lines in place are its lines in stream order: nothing is kept beside them."""
    for pdf in (typed_letter(), typed_letter(40)):
        info = inspect_pdf(pdf)
        assert info.viewer_page_texts and info.other_texts == ()


def test_a_page_of_ten_thousand_annotations_is_read_in_bounded_time():
    import time

    from gateway.pipeline.pdf_inspect import _viewer_texts

    pdf = many_annotations()
    started = time.process_time()
    read = _viewer_texts(pdf)
    spent = time.process_time() - started
    assert read is not None and "OK" in read[2][0]
    assert read[2][0].count("OK") <= 200  # the annotations read are capped
    assert spent < 1.0, spent


# ------------------------------------------------------------------ over SMTP


def test_over_smtp_a_top_secret_stamp_is_refused_before_the_250(daemon):
    raw = letter(body="เรียน ผู้อำนวยการเขตลาดกระบัง\nส่งหนังสือตามที่แนบมา\n",
                 files=[("2569_dds_0403_57.pdf", annotated([stamp("ลับที่สุด")]))])
    code, text = daemon.data_reply(raw)
    assert code == 550 and text.isascii()
    daemon.wait_idle()
    assert daemon.register() == []
