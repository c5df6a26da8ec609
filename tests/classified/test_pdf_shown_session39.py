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


def test_over_smtp_a_caption_or_an_option_marked_letter_goes_to_the_secret_book_not_the_unit_folder(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    combo = b"<< " + HEAD + b"/FT /Ch /Ff 131072 /T (c1) /Opt [[(3) " + _u16("ลับมาก") + b"]] /V (3) >>"
    for pdf in (_form(_button(b"/CA " + _u16("ลับมาก"))), _form(combo)):
        d.send(letter(subject=f"{SUBJECT} {MARKER}", body=f"ดูไฟล์แนบ {MARKER}\n",
                      files=[("2569_dds_0403_57.pdf", pdf)]), LATKRABANG)
    wait_processed(d, registrar=2)
    entries = d.register()
    assert [(e["secrecy"], e["book"]) for e in entries] == [("secret", "secret")] * 2, entries
    assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
