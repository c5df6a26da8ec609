"""Session 39's leak red team (findings 6 and 7): what a PDF viewer shows that is not
the page's text nor a field's value was not read, and a letter marked only there was
ordinary, registered in the general book and filed in plain.

* A form field whose shown text is not its value (/V): a push button's caption
  (/MK /CA, and its rollover and down captions /RC, /AC), a combo or list box whose
  selected option's display text differs from its export value (/Opt [(3) (ลับมาก)]
  /V (3)). A form tool leaves them without an appearance (/NeedAppearances true);
  PDFium, as Chrome's viewer, draws "ลับมาก" at the page's head.
* The document's bookmarks (the outline pane, open with /PageMode /UseOutlines) and its
  title (/Info /Title, XMP dc:title: the window's title with /DisplayDocTitle)."""
from __future__ import annotations

import time

from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import (
    LATKRABANG, MARKER, add_registrar, files_containing, make_gateway_key, maildir, wait_processed,
)
from tests.letters import assemble_pdf, letter, stream_object

SUBJECT = "ขอส่งแผนการปฏิบัติงาน"


def _u16(text: str) -> bytes:
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def _form(*fields: bytes, catalog: bytes = b"", trailer: bytes = b"", extra: tuple[bytes, ...] = ()) -> bytes:
    """A one-page memo whose page holds `fields` (objects 5...) as its annotations, the
    form saying its appearances are to be made (as form tools leave it)."""
    refs = b" ".join(b"%d 0 R" % (6 + i) for i in range(len(fields)))
    pdf = assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [" + refs + b"] /NeedAppearances true"
        b" /DA (/Helv 14 Tf 0 g) /DR << /Font << /Helv 5 0 R >> >> >> " + catalog + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [" + refs + b"]"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        stream_object(f"BT /F1 12 Tf 72 700 Td (Memo body text {MARKER}) Tj ET".encode()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *fields, *extra,
    ])
    return pdf.replace(b"/Root 1 0 R >>", b"/Root 1 0 R " + trailer + b">>") if trailer else pdf


HEAD = b"/Type /Annot /Subtype /Widget /Rect [200 790 400 830] /P 3 0 R /F 4 /DA (/Helv 14 Tf 0 g) "


def _button(captions: bytes) -> bytes:
    return b"<< " + HEAD + b"/FT /Btn /Ff 65536 /T (b1) /MK << " + captions + b" /BG [1 1 1] >> >>"


def _classified(pdf: bytes):
    return classify_raw(letter(subject=SUBJECT, body="ดูไฟล์แนบ\n", files=[("2569_dds_0403_57.pdf", pdf)]))


def test_a_push_buttons_caption_at_the_head_is_read():
    for captions in (b"/CA " + _u16("ลับมาก"), b"/CA (OK) /RC " + _u16("ลับมาก"), b"/AC " + _u16("ลับมาก")):
        found = _classified(_form(_button(captions)))
        assert (found.level, found.where, found.certain) == ("secret", "file 1 page 1", True), (captions, found)
    found = _classified(_form(_button(b"/CA " + _u16("ส่งแบบฟอร์ม"))))
    assert (found.level, found.certain) == ("none", True), found


def test_a_choice_fields_shown_option_is_read_not_its_export_value():
    combo = b"<< " + HEAD + b"/FT /Ch /Ff 131072 /T (c1) /Opt [[(1) (x)] [(3) " + _u16("ลับมาก") + b"]] /V (3) >>"
    listbox = b"<< " + HEAD + b"/FT /Ch /T (c1) /Opt [[(3) " + _u16("ลับมาก") + b"]] /I [0] >>"
    several = (b"<< " + HEAD + b"/FT /Ch /Ff 2097152 /T (c1) /Opt [[(1) (x)] [(2) " + _u16("ลับที่สุด")
               + b"] [(3) " + _u16("ลับมาก") + b"]] /V [(1) (3)] >>")
    for name, field in (("combo", combo), ("list", listbox), ("several selected", several)):
        found = _classified(_form(field))
        assert (found.level, found.where, found.certain) == ("secret", "file 1 page 1", True), (name, found)
    # The field's entries inherited by its widget (a kid of the field).
    field = b"<< /FT /Ch /Ff 131072 /T (c1) /Opt [[(3) " + _u16("ลับมาก") + b"]] /V (3) /Kids [6 0 R] >>"
    kid = b"<< /Type /Annot /Subtype /Widget /Parent 7 0 R /Rect [200 790 400 830] /P 3 0 R /F 4 >>"
    pdf = _form(kid, extra=(field,)).replace(b"/Fields [6 0 R]", b"/Fields [7 0 R]")
    found = _classified(pdf)
    assert (found.level, found.certain) == ("secret", True), found
    # An option the field does not show is no marking: the list a viewer opens on a click.
    unselected = b"<< " + HEAD + b"/FT /Ch /Ff 131072 /T (c1) /Opt [[(1) (x)] [(3) " + _u16("ลับมาก") + b"]] /V (1) >>"
    found = _classified(_form(unselected))
    assert (found.level, found.certain) == ("none", True), found


def _outlined(titles: list[bytes], catalog: bytes = b"/PageMode /UseOutlines", loop: bool = False) -> bytes:
    """A memo whose outline holds `titles`, objects 7... (6 the outline's root)."""
    first = 7
    items = []
    for i, title in enumerate(titles):
        entries = b"/Title " + title + b" /Parent 6 0 R /Dest [3 0 R /Fit]"
        if i + 1 < len(titles):
            entries += b" /Next %d 0 R" % (first + i + 1)
        elif loop:
            entries += b" /Next %d 0 R" % first
        if i:
            entries += b" /Prev %d 0 R" % (first + i - 1)
        items.append(b"<< " + entries + b" >>")
    root = b"<< /Type /Outlines /First 7 0 R /Last %d 0 R /Count %d >>" % (first + len(titles) - 1, len(titles))
    return _form(catalog=b"/Outlines 6 0 R " + catalog, extra=(root, *items))


def test_a_marking_in_the_bookmarks_is_read():
    found = _classified(_outlined([b"(Cover)", _u16("ลับมาก"), _u16("ภาคผนวก ก")]))
    assert (found.level, found.certain) == ("secret", True), found
    # A loop through /Next, or a bookmark its own child, is read once round.
    found = _classified(_outlined([b"(Cover)", _u16("ลับ")], loop=True))
    assert (found.level, found.certain) == ("confidential", True), found
    pdf = _outlined([b"(Cover)", _u16("ลับ")]).replace(b"<< /Title (Cover) ", b"<< /Title (Cover) /First 7 0 R ")
    assert b"/First 7 0 R /Parent" in pdf
    found = _classified(pdf)
    assert (found.level, found.certain) == ("confidential", True), found
    # A bookmark that names secret documents is a heading, no marking.
    found = _classified(_outlined([_u16("แนวทางการปฏิบัติต่อเอกสารลับ"),
                                   _u16("ระเบียบว่าด้วยการรักษาความลับของทางราชการ")]))
    assert (found.level, found.certain) == ("none", True), found


def test_a_hostile_outline_is_bounded_and_past_the_bound_the_pdf_is_not_read():
    pdf = _outlined([b"(Section %d)" % i for i in range(100_000)])
    started = time.process_time()
    info = inspect_pdf(pdf)
    assert time.process_time() - started < 10
    assert "bookmarks past the first 2,000" in (info.error or ""), info.error
    found = _classified(pdf)
    assert (found.level, found.certain) == ("confidential", False), found


def test_the_documents_title_is_read_in_the_info_and_in_the_xmp():
    info = b"<< /Title " + _u16("ลับมาก") + b" /Producer (LibreOffice) >>"
    pdf = _form(catalog=b"/ViewerPreferences << /DisplayDocTitle true >>", extra=(info,), trailer=b"/Info 6 0 R ")
    found = _classified(pdf)
    assert (found.level, found.certain) == ("secret", True), found
    xmp = ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
           ' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
           '&#3621;&#3633;&#3610;&#3617;&#3634;&#3585;</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF>'
           '</x:xmpmeta><?xpacket end="w"?>').encode()
    pdf = _form(catalog=b"/Metadata 6 0 R", extra=(stream_object(xmp, b"/Type /Metadata /Subtype /XML "),))
    found = _classified(pdf)
    assert (found.level, found.certain) == ("secret", True), found
    # A title that names a marking inside its words is read as a heading is: no marking.
    for title in ("แนวทางการปฏิบัติต่อเอกสารลับ", "ระเบียบว่าด้วยการรักษาความลับของทางราชการ พ.ศ. 2544"):
        info = b"<< /Title " + _u16(title) + b" >>"
        found = _classified(_form(extra=(info,), trailer=b"/Info 6 0 R "))
        assert (found.level, found.certain) == ("none", True), (title, found)


def test_a_pdf_only_a_viewer_repairs_has_its_title_and_bookmarks_read():
    """pypdf refuses it ("startxref" written "startxreg"), PDFium repairs it as viewers do."""
    title = b"<< /Title " + _u16("ลับมาก") + b" >>"
    for pdf in (_outlined([b"(Cover)", _u16("ลับมาก")], loop=True), _form(extra=(title,), trailer=b"/Info 6 0 R ")):
        damaged = pdf.replace(b"startxref", b"startxreg")
        assert inspect_pdf(damaged).error.startswith("PdfReadError")
        found = _classified(damaged)
        assert (found.level, found.certain) == ("secret", True), found
    found = _classified(_outlined([b"(Section %d)" % i for i in range(3_000)]).replace(b"startxref", b"startxreg"))
    assert (found.level, found.certain) == ("confidential", False), found


def test_over_smtp_a_caption_option_bookmark_or_title_marked_letter_goes_to_the_secret_book_not_the_unit_folder(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    combo = b"<< " + HEAD + b"/FT /Ch /Ff 131072 /T (c1) /Opt [[(3) " + _u16("ลับมาก") + b"]] /V (3) >>"
    title = b"<< /Title " + _u16("ลับมาก") + b" >>"
    for pdf in (_form(_button(b"/CA " + _u16("ลับมาก"))), _form(combo), _outlined([_u16("ลับมาก")]),
                _form(extra=(title,), trailer=b"/Info 6 0 R ")):
        d.send(letter(subject=f"{SUBJECT} {MARKER}", body=f"ดูไฟล์แนบ {MARKER}\n",
                      files=[("2569_dds_0403_57.pdf", pdf)]), LATKRABANG)
    wait_processed(d, registrar=4)
    entries = d.register()
    assert [(e["secrecy"], e["book"]) for e in entries] == [("secret", "secret")] * 4, entries
    assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
