"""A Word file marked only by its watermark is read as marked (leak red team, 30 Nov 2026).

Word's Design > Watermark > Custom watermark writes the text ("ลับ", "ลับมาก") once, in
the page header, as a VML shape whose text is the `string` attribute of `v:textpath`;
Word draws it across every page. The gateway read a DOCX's `w:t` runs only, so a
letter whose one marking was its watermark was ordinary: registered in plain and filed
into the unit's ordinary folder. The header below is what Word 2016 writes (its
PowerPlusWaterMarkObject shape), trimmed to what matters."""
from __future__ import annotations

from gateway.secrecy.markings import classify_raw
from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _zip, file_part, mixed, text_part

W = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
     'xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"')


def watermark_header(text: str) -> str:
    return (f'<w:hdr {W}><w:p><w:pPr><w:pStyle w:val="Header"/></w:pPr><w:r><w:rPr><w:noProof/></w:rPr><w:pict>'
            '<v:shapetype id="_x0000_t136" coordsize="21600,21600" o:spt="136" adj="10800" '
            'path="m@7,l@8,m@5,21600l@6,21600e"><v:textpath on="t" fitshape="t"/></v:shapetype>'
            '<v:shape id="PowerPlusWaterMarkObject357831064" o:spid="_x0000_s2049" type="#_x0000_t136" '
            'style="position:absolute;margin-left:0;margin-top:0;width:412.4pt;height:247.45pt;rotation:315;'
            'z-index:-251657216;mso-position-horizontal:center;mso-position-horizontal-relative:margin;'
            'mso-position-vertical:center;mso-position-vertical-relative:margin" o:allowincell="f" '
            'fillcolor="silver" stroked="f"><v:fill opacity=".5"/>'
            f'<v:textpath style="font-family:&quot;TH SarabunPSK&quot;;font-size:1pt" string="{text}"/>'
            '<w10:wrap anchorx="margin" anchory="margin"/></v:shape></w:pict></w:r></w:p></w:hdr>')


def docx_with_watermark(text: str, lines: list[str]) -> bytes:
    paras = "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in lines)
    return _zip({"[Content_Types].xml": b"<Types/>",
                 "word/document.xml": f"<w:document {W}><w:body>{paras}</w:body></w:document>".encode(),
                 "word/header1.xml": watermark_header(text).encode(),
                 "word/header2.xml": watermark_header(text).encode()})


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_a_watermark_is_read_as_a_marking():
    for text, level in (("ลับ", "confidential"), ("ลับมาก", "secret"), ("ลับที่สุด", "top_secret"),
                        ("ชั้นความลับ: ลับมาก", "secret")):
        raw = mixed(text_part(), file_part(DOCX, "2569_dds_0403_57.docx", docx_with_watermark(text, LETTER_LINES)))
        found = classify_raw(raw)
        assert (found.level, found.certain) == (level, True), text


def test_a_watermark_that_is_no_marking_leaves_the_letter_ordinary():
    for text in ("ฉบับร่าง", "DRAFT", "สำเนา"):
        raw = mixed(text_part(), file_part(DOCX, "a.docx", docx_with_watermark(text, LETTER_LINES)))
        assert classify_raw(raw).level == "none", text


def test_over_smtp_a_word_letter_marked_only_by_its_watermark_is_sealed(tmp_path):
    from tests.classified.helpers import MARKER, db_rows, files_containing, maildir, sealing_daemon
    from tests.letters import letter, make_pdf

    with sealing_daemon(tmp_path / "gw") as d:
        docx = docx_with_watermark("ลับมาก", [*LETTER_LINES, MARKER])
        raw = letter(subject=f"ขอส่งแผนรักษาความปลอดภัย {MARKER}", body=f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n",
                     files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("2569_dds_0403_57_1.docx", docx)])
        qid = d.send(raw, "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
        assert db_rows(d, "select secrecy, book, subject from letters where queue_id = ?", qid) == [
            ("secret", "secret", None)]
        assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
