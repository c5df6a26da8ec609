"""A letter whose signed bytes show one thing in Chrome and another everywhere else
(sig red team, session 55).

Whoever prepares a letter for its signer can write its cross-reference table with
19-byte entries (an end of line of one byte: PDFium, Chrome's and Edge's PDF engine,
refuses such a table and rebuilds it by scanning the file) and put a second copy of
page 1's content after the first, listed by no table. The signer signs; the signature
covers the whole file. pyHanko, poppler (Evince, Okular, pdftotext) and the register
read the table: "Amount: 1,000 THB". Chrome and Edge take the last copy: "Amount:
9,000,000 THB". The gateway said TOTAL_PASSED, no review: its checks of what a viewer
shows (visual_diff, unlisted_objects) looked only at bytes saved after a signature.
Now such objects inside the signed bytes, where PDFium rejects the signed bytes'
table, make the signature INDETERMINATE / SIG_CONSTRAINTS_FAILURE with a sentence in
English and Thai; a table PDFium rejects with nothing hidden behind it, or hidden
objects behind a table PDFium reads, change nothing (every reader shows the same).

The same letter prepared with a table that lists page 1's content twice, the second
copy first (`listed_twice_first`), showed "9,000,000 THB" in poppler and pypdf and
"1,000 THB" in PDFium and pyHanko, and passed too: such a table inside the signed
bytes now does what one saved after signing did since session 43. So does a page tree
readers walk differently (`page_with_kids`: a /Page that also has /Kids is a page to
poppler and a node to PDFium, which shows its kid instead).
"""
from __future__ import annotations

import subprocess
import uuid

import pytest

from gateway.signatures.check import finding_for
from gateway.signatures.verify import verify_pdf
from tests.daemon import Daemon, write_config
from tests.pki import sign_letter
from tests.signatures.test_pipeline_signatures import entry_for, quarantined, send

REJECTING = "saraban.latkrabang@bangkok.go.th"
REVIEWING = "saraban.pomprap@bangkok.go.th"
SIGNED_TEXT = b"Ref 0403/276  Amount: 1,000 THB"
HIDDEN_TEXT = b"Ref 0403/276  Amount: 9,000,000 THB"
SENTENCE_EN = ("the signed file's cross-reference table is not usable and it holds 1 object(s) that no "
               "cross-reference section lists: viewers that rebuild the table (Chrome, Edge) show them, other "
               "readers what the table lists, so readers differ on what was signed")
SENTENCE_TH = "โปรแกรมอ่านที่สร้างตารางใหม่เอง (เช่น Chrome, Edge) จะแสดงออบเจกต์เหล่านั้น"


def prepared(*, entry_end: bytes = b"\n", hidden: bool = True) -> bytes:
    """A one-page letter saying SIGNED_TEXT through its table, its entries ending in
    `entry_end` (b"\\n": 19 bytes, which PDFium refuses), with an unlisted second copy of
    its content (HIDDEN_TEXT) after the first."""
    def stream(text: bytes) -> bytes:
        content = b"BT /F1 14 Tf 60 760 Td (" + text + b") Tj ET"
        return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"

    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 << /Type /Font "
               b"/Subtype /Type1 /BaseFont /Helvetica >> >> >> /Contents 4 0 R >>", stream(SIGNED_TEXT)]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    if hidden:
        out += b"4 0 obj\n" + stream(HIDDEN_TEXT) + b"\nendobj\n"
    table = len(out)
    out += b"xref\n0 5\n0000000000 65535 f" + entry_end + b"".join(b"%010d 00000 n" % o + entry_end for o in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % table
    return bytes(out)


def listed_twice_first() -> bytes:
    """The letter with a table that lists object 4 twice: HIDDEN_TEXT's copy first, then
    SIGNED_TEXT's (poppler and pypdf take the first entry, PDFium and pyHanko the last)."""
    def stream(text: bytes) -> bytes:
        content = b"BT /F1 14 Tf 60 760 Td (" + text + b") Tj ET"
        return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"

    plain = prepared(entry_end=b" \n", hidden=False)
    table = plain.index(b"xref\n")
    original = plain.index(b"4 0 obj")
    hidden_at = table
    out = plain[:table] + b"4 0 obj\n" + stream(HIDDEN_TEXT) + b"\nendobj\n"
    table_at = len(out)
    out += (b"xref\n0 4\n0000000000 65535 f \n"
            + b"".join(b"%010d 00000 n \n" % plain.index(b"%d 0 obj" % n) for n in (1, 2, 3))
            + b"4 1\n%010d 00000 n \n4 1\n%010d 00000 n \n" % (hidden_at, original)
            + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % table_at)
    return out


TWICE_EN = ("the signed file's cross-reference table lists 1 object(s) twice: readers differ in which copy they "
            "show (Chrome and Edge the last, Evince and Okular the first), so they differ on what was signed")
TWICE_TH = "ตารางอ้างอิงของไฟล์ที่ลงลายมือชื่อไว้ระบุออบเจกต์เดียวกันซ้ำสองครั้ง 1 รายการ"


def page_with_kids() -> bytes:
    """A /Page saying SIGNED_TEXT whose /Kids hold a page saying HIDDEN_TEXT: poppler
    shows the first, PDFium (a node with /Kids is no page to it) the second."""
    from tests.letters import assemble_pdf, stream_object

    def text(words: bytes) -> bytes:
        return stream_object(b"BT /F1 14 Tf 60 760 Td (" + words + b") Tj ET")

    page = (b"<< /Type /Page /Parent %s /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> "
            b"/Contents %s%s >>")
    return assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                         page % (b"2 0 R", b"5 0 R", b" /Kids [4 0 R]"), page % (b"3 0 R", b"6 0 R", b""),
                         text(SIGNED_TEXT), text(HIDDEN_TEXT),
                         b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"],
                        header=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")


PAGES_EN = ("the signed file's page tree contradicts itself: readers (Chrome and Edge, Evince and Okular) show "
            "different pages, so they differ on what was signed")
PAGES_TH = "โครงสร้างหน้าของไฟล์ที่ลงลายมือชื่อไว้ขัดกันเอง"


def _shown_by_pdfium(pdf: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return document[0].get_textpage().get_text_range()
    finally:
        document.close()


def _shown_by_poppler(pdf: bytes, tmp_path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-l", "1", str(path), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def _one_space(text: str) -> str:
    return " ".join(text.split())


def test_readers_disagree_on_the_signed_letter(pki, tmp_path):
    signed = sign_letter(prepared(), pki)
    assert _one_space(_shown_by_poppler(signed, tmp_path)) == _one_space(SIGNED_TEXT.decode())
    assert _one_space(_shown_by_pdfium(signed)) == _one_space(HIDDEN_TEXT.decode())


def test_a_signature_over_an_object_only_chrome_shows_is_not_passed(pki, trust):
    (sig,) = verify_pdf(sign_letter(prepared(), pki), trust).signatures
    assert (sig.indication, sig.sub_indication, sig.review) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", True)
    assert sig.covers_whole_file is True and sig.modifications == "none"  # nothing was added after signing
    assert SENTENCE_EN in sig.message and SENTENCE_TH in sig.message
    finding = finding_for("2569_dds_0403_276.pdf", [sig.as_dict()])
    assert finding.verdict == "fail" and SENTENCE_EN in finding.message_en


def test_a_signature_over_a_table_listing_page_1_twice_is_not_passed(pki, trust, tmp_path):
    signed = sign_letter(listed_twice_first(), pki)
    assert _one_space(_shown_by_poppler(signed, tmp_path)) == _one_space(HIDDEN_TEXT.decode())
    assert _one_space(_shown_by_pdfium(signed)) == _one_space(SIGNED_TEXT.decode())
    (sig,) = verify_pdf(signed, trust).signatures
    assert (sig.indication, sig.sub_indication, sig.review) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", True)
    assert sig.covers_whole_file is True and sig.modifications == "none"
    assert TWICE_EN in sig.message and TWICE_TH in sig.message


def test_a_signature_over_a_page_tree_readers_walk_differently_is_not_passed(pki, trust, tmp_path):
    signed = sign_letter(page_with_kids(), pki)
    assert _one_space(_shown_by_poppler(signed, tmp_path)) == _one_space(SIGNED_TEXT.decode())
    assert _one_space(_shown_by_pdfium(signed)) == _one_space(HIDDEN_TEXT.decode())
    (sig,) = verify_pdf(signed, trust).signatures
    assert (sig.indication, sig.sub_indication, sig.review) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", True)
    assert PAGES_EN in sig.message and PAGES_TH in sig.message


def test_a_page_tree_only_pyhanko_reads_otherwise_is_passed(pki, trust):
    """A /Pages node whose /Count says 0 over a page: pyHanko skips it, PDFium and
    poppler both show it first (the stamp gives such a letter a receipt)."""
    from tests.signatures.producers import lying_page_tree

    (sig,) = verify_pdf(sign_letter(lying_page_tree("count0"), pki), trust).signatures
    assert (sig.indication, sig.review) == ("TOTAL_PASSED", False)


@pytest.mark.parametrize("case", ["19-byte table, nothing hidden", "hidden copy, a table PDFium reads"])
def test_every_reader_showing_the_same_is_passed(pki, trust, tmp_path, case):
    letter = prepared(hidden=False) if case.startswith("19") else prepared(entry_end=b" \n")
    signed = sign_letter(letter, pki)
    assert _one_space(_shown_by_pdfium(signed)) == _one_space(_shown_by_poppler(signed, tmp_path))
    (sig,) = verify_pdf(signed, trust).signatures
    assert (sig.indication, sig.review, sig.message) == ("TOTAL_PASSED", False, "")


def test_the_daemon_holds_or_flags_the_letter(pki, tmp_path_factory):
    root = tmp_path_factory.mktemp("hidden-signed")
    extra = ("[signatures]\n"
             f'trust_roots = "{pki.roots_pem}"\n'
             f'revocation_dir = "{pki.revocation_dir}"\n'
             'unit_on_failure = { "saraban.latkrabang" = "reject" }\n')
    gateway = Daemon(write_config(root, extra=extra)).start()
    try:
        signed = sign_letter(prepared(), pki)
        _, mid = send(gateway, [("2569_dds_0403_276.pdf", signed)], REVIEWING)
        entry = entry_for(gateway, mid, REVIEWING)
        assert entry["review"] is True
        [sig] = entry["attachments"][0]["signatures"]
        assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
        assert SENTENCE_EN in sig["message"] and SENTENCE_TH in sig["message"]
        [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
        assert "SIG_CONSTRAINTS_FAILURE" in finding["message_th"]

        _, mid = send(gateway, [("2569_dds_0403_278.pdf", sign_letter(listed_twice_first(), pki))], REVIEWING)
        entry = entry_for(gateway, mid, REVIEWING)
        assert entry["review"] is True
        [sig] = entry["attachments"][0]["signatures"]
        assert sig["indication"] == "INDETERMINATE" and TWICE_EN in sig["message"] and TWICE_TH in sig["message"]

        _, mid = send(gateway, [("2569_dds_0403_279.pdf", sign_letter(page_with_kids(), pki))], REVIEWING)
        entry = entry_for(gateway, mid, REVIEWING)
        assert entry["review"] is True
        [sig] = entry["attachments"][0]["signatures"]
        assert sig["indication"] == "INDETERMINATE" and PAGES_EN in sig["message"] and PAGES_TH in sig["message"]

        queue_id, _ = send(gateway, [("2569_dds_0403_277.pdf", sign_letter(prepared(), pki))], REJECTING)
        gateway.wait_idle()
        [(unit, reasons)] = quarantined(gateway, queue_id)
        assert unit == "saraban.latkrabang" and [r["rule"] for r in reasons] == ["signature"]
        assert "SIG_CONSTRAINTS_FAILURE" in reasons[0]["message_en"]
    finally:
        gateway.stop()
