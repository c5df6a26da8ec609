"""The receive stamp beside a note's icon (sig red team, session 53).

A note (/Text annotation) without an appearance of its own is drawn as a fixed-size
icon whatever its /Rect: poppler hangs a ~20 pt icon from the /Rect's upper-left corner,
PDFium stands one on its lower-left corner. The placement kept clear of the /Rect only,
so a note of a 1 pt /Rect just above the stamp's place had its icon under the stamp's
opaque ground in Evince and Okular.
"""
from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name as N
from pyhanko.pdf_utils.writer import PdfFileWriter

from gateway.signatures.stamp import stamp_pdf
from tests.signatures.test_stamp_placement import check_placement


def _letter_with_a_note(rect=(420, 826, 421, 827)) -> bytes:
    w = PdfFileWriter()
    font = w.add_object(generic.DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"),
                                                 N("/BaseFont"): N("/Helvetica")}))
    resources = generic.DictionaryObject({N("/Font"): generic.DictionaryObject({N("/F1"): font})})
    content = w.add_object(generic.StreamObject(stream_data=b"BT /F1 14 Tf 60 560 Td (The letter's text.) Tj ET"))
    note = w.add_object(generic.DictionaryObject({
        N("/Type"): N("/Annot"), N("/Subtype"): N("/Text"), N("/F"): generic.NumberObject(4),
        N("/Rect"): generic.ArrayObject(map(generic.NumberObject, rect)),
        N("/Contents"): generic.pdf_string("ยังไม่อนุมัติ รอผู้อำนวยการลงนาม")}))
    w.insert_page(generic.DictionaryObject({
        N("/Type"): N("/Page"), N("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
        N("/Resources"): resources, N("/Contents"): content, N("/Annots"): generic.ArrayObject([note])}))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_the_stamp_keeps_clear_of_a_note_icon_drawn_past_its_rect(tmp_path, seal, stamp_info):
    letter = _letter_with_a_note()
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    # poppler's page before and after: blank paper under the stamp, nothing else changed.
    check_placement(letter, result.pdf, tmp_path, "note-icon")
