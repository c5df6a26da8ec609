"""Red team of the signatures and the receive stamp, round 3 (session 20).

Letters through the REAL daemon over SMTP (one daemon for the module, the test PKI
trusted), judged by the unit's folder copy as a mail client and a PDF viewer (poppler's
pdftoppm) show it, and by the register.
"""
from __future__ import annotations

import io
import subprocess
import uuid

import pypdf
import pytest

from tests.letters import assemble_pdf, stream_object
from tests.letters import letter as mail
from tests.pki import make_letter, make_smime, sign_letter
from tests.signatures.test_pipeline_signatures import files_of, folder_copy
from tests.signatures.test_red_team_session14 import SENDER, UNIT, red_team_daemon

DPI = 36


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    yield from red_team_daemon(tmp_path_factory, pki, "redteam20")


@pytest.fixture(scope="module")
def sent(gateway, pki, under_expired_ca):
    """Every letter of the module, sent at once so the daemon reads them side by side:
    name -> (queue id, Message-ID, the PDF sent or None)."""
    plain, form = two_pages_one_annotation_array(), two_pages_one_annotation_array(form=True)
    who, chain = under_expired_ca
    pdfs = {
        "shared.pdf": plain,
        "shared-signed.pdf": sign_letter(plain, pki),  # its invisible widget joins the shared array
        "shared-form.pdf": form,
        "shared-form-signed.pdf": sign_letter(form, pki),
        "expired-ca.pdf": sign_letter(make_letter(), chain, who),
        "pdfa.pdf": pdfa_letter(),
    }
    out = {}
    for name, pdf in pdfs.items():
        mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
        out[name] = (gateway.send(mail(to=UNIT, files=[(name, pdf)], message_id=mid), UNIT), mid, pdf)
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    raw = make_smime(chain, who, headers={"From": SENDER, "To": UNIT, "Message-ID": mid, "Subject": "signed"})
    out["expired-ca.eml"] = (gateway.send(raw, UNIT), mid, None)
    return out


@pytest.fixture(scope="module")
def register(gateway, sent):
    """Message-ID -> register entry, once every letter is through."""
    gateway.wait_idle()
    return {e["message_id"]: e for e in gateway.register("--unit", UNIT.split("@")[0])}


def render(pdf: bytes, page: int) -> bytes:
    """Page `page` (1-based) as poppler shows it: grey PGM bytes."""
    return subprocess.run(["pdftoppm", "-r", str(DPI), "-cropbox", "-gray", "-f", str(page), "-l", str(page),
                           "-singlefile", "-"], input=pdf, capture_output=True, check=True).stdout


def copy_of(gateway, sent, name: str):
    """The unit's folder copy of the letter carrying `name` (read once all are through)."""
    return folder_copy(gateway, "pomprap", sent[name][0])


def stamped_copy(gateway, sent, name: str) -> bytes:
    """The stamped PDF of the unit's folder copy (the copy says it was stamped)."""
    copy = copy_of(gateway, sent, name)
    stamped = name.removesuffix(".pdf") + ".stamped.pdf"
    assert copy["X-Saraban-Stamp"] == f"stamped: {stamped}", copy["X-Saraban-Stamp"]
    return files_of(copy)[stamped]


def signatures(register, sent, name: str) -> list[dict]:
    return [s for a in register[sent[name][1]]["attachments"] for s in a["signatures"]]


# ------------------------------------------------ F1: an annotation array two pages share

def two_pages_one_annotation_array(*, form: bool = False) -> bytes:
    """Page 1: a line of text low on the page (its top right is blank paper). Page 2:
    text in its top right. Both pages' /Annots are the same array object (8 0 R), as a
    producer that writes one empty array for all pages, or an attacker, makes it; with
    `form`, the form's /Fields is that array too."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    top_right = b"".join(b"(CLAUSE %d: THE AMOUNT APPROVED IS 1,000,000 BAHT) Tj 0 -18 Td " % n for n in range(1, 6))
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R%s >>" % (b" /AcroForm << /Fields 8 0 R >>" if form else b""),
        b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 7 0 R >> >> >>",
        b"<< /Type /Page /Parent 2 0 R /Contents 5 0 R /Annots 8 0 R >>",
        b"<< /Type /Page /Parent 2 0 R /Contents 6 0 R /Annots 8 0 R >>",
        stream_object(b"BT /F1 14 Tf 60 400 Td (Letter, page 1: text low on the page) Tj ET"),
        stream_object(b"BT /F1 12 Tf 240 790 Td " + top_right + b"ET"),
        font,
        b"[]",
    ], header=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")


def stamp_widgets(pdf: bytes) -> list[int]:
    """The pages (1-based) whose annotations include the receive stamp's widget."""
    out = []
    for number, page in enumerate(pypdf.PdfReader(io.BytesIO(pdf)).pages, start=1):
        names = [str(a.get_object().get("/T", "")) for a in page.get("/Annots") or []]
        if any(n.startswith("SarabanReceiveStamp") for n in names):
            out.append(number)
    return out


def test_the_stamp_goes_on_page_1_only_when_pages_share_an_annotation_array(gateway, sent, register):
    """pyHanko appends the stamp's widget to the array page 1's /Annots refers to. When
    page 2 refers to the same array, on main the stamp (its place measured on page 1's
    blank top right) showed and printed on page 2 as well, its opaque white ground over
    the clauses in page 2's top right (pdftoppm, Chromium: "CLAUSE 1-3" hidden); so
    too when the form's /Fields is that array. Now page 1 (and the form) get arrays of
    their own: page 2 looks exactly as it came, page 1 has the stamp, and a signed
    letter's signature keeps its verdict; a signed letter whose /Fields is its pages'
    /Annots gets a receipt saying why."""
    for name in ("shared.pdf", "shared-signed.pdf", "shared-form.pdf"):
        original, stamped = sent[name][2], stamped_copy(gateway, sent, name)
        assert render(stamped, 2) == render(original, 2), f"{name}: page 2 changed by the stamp"
        assert stamp_widgets(stamped) == [1], name
        assert render(stamped, 1) != render(original, 1), f"{name}: no stamp on page 1"
    [signature] = signatures(register, sent, "shared-signed.pdf")
    assert signature["indication"] == "TOTAL_PASSED", signature
    # A signed letter's /Fields cannot be replaced (its signature would not allow it): a receipt.
    copy = copy_of(gateway, sent, "shared-form-signed.pdf")
    receipt = f"receipt-{register[sent['shared-form-signed.pdf'][1]]['receive_no'].replace('/', '-')}.pdf"
    assert copy["X-Saraban-Stamp"].startswith(f"receipt: {receipt} (the letter's form lists its fields in the same "
                                              "array as its pages list their annotations"), copy["X-Saraban-Stamp"]
    assert files_of(copy)["shared-form-signed.pdf"] == sent["shared-form-signed.pdf"][2]


# ------------------------------------------------ F2: a CA certificate of the chain has expired

@pytest.fixture(scope="module")
def under_expired_ca(pki, tmp_path_factory):
    """A signer whose own certificate is in its dates, issued by a sub-CA of the test
    root that expired yesterday (which the signature carries, as Thai signing tokens
    carry their CA): (signer identity, a stand-in PKI that signs mail with that chain)."""
    import datetime as dt
    import types

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests.pki import NOW, Identity, Pki, _cert, _key, _name

    directory = tmp_path_factory.mktemp("expired-ca")
    root = x509.load_pem_x509_certificate(pki.root.cert_path.read_bytes())
    root_key = serialization.load_pem_private_key(pki.root.key_path.read_bytes(), None)
    ca_key, signer_key = _key(), _key()
    ca_name = _name("TEST Sub CA 2024", "TEST CA", "TEST")
    ca = _cert(ca_name, ca_key, root.subject, root_key, ca=True, not_before=NOW - dt.timedelta(days=400),
               not_after=NOW - dt.timedelta(days=1), crl_url=None)
    signer = _cert(_name("สมชาย ใจดี", "สำนักงานเขตพระนคร กรุงเทพมหานคร", "TEST"), signer_key, ca_name, ca_key,
                   ca=False, not_before=NOW - dt.timedelta(days=30), not_after=NOW + dt.timedelta(days=300),
                   crl_url=None)
    idents = []
    for name, cert, key in (("ca", ca, ca_key), ("signer", signer, signer_key)):
        ident = Identity(directory / f"{name}.pem", directory / f"{name}.key")
        ident.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ident.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        idents.append(ident)
    ca_ident, signer_ident = idents
    chain = types.SimpleNamespace(sub_ca=ca_ident, self_signed=None)
    chain.signer = lambda who, chain_=True: Pki.signer(chain, who, chain=chain_)
    return signer_ident, chain


EXPIRED_CA = "the CA certificate TEST Sub CA 2024 expired on "


def test_a_signature_whose_ca_certificate_expired_says_which_and_why(gateway, sent, register):
    """ETSI EN 319 102-1: a certificate of the chain outside its validity, nothing
    proving the signature earlier, is INDETERMINATE / OUT_OF_BOUNDS_NO_POE. pyHanko says
    CERTIFICATE_CHAIN_GENERAL_FAILURE for an expired CA certificate, and on main that is
    what the register and the folder copy said, with "the signer's certificate chain
    could not be validated" (an expired signer's certificate is named as such). Now the
    verdict names the CA certificate and the day it expired, for a signed PDF and a
    signed mail alike."""
    on_pdf, on_mail = signatures(register, sent, "expired-ca.pdf"), signatures(register, sent, "expired-ca.eml")
    for verdict in on_pdf + [s for s in on_mail if s["kind"] == "smime"]:
        assert (verdict["indication"], verdict["sub_indication"]) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE"), verdict
        assert EXPIRED_CA in verdict["message"] and verdict["review"], verdict
    assert len(on_pdf) == 1 and len(on_mail) == 1
    copy = copy_of(gateway, sent, "expired-ca.pdf")
    assert "INDETERMINATE/OUT_OF_BOUNDS_NO_POE" in copy["X-Saraban-Signature"]


# ------------------------------------------------ F3: a PDF/A letter's metadata after the stamp

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:pdf="http://ns.adobe.com/pdf/1.3/"><pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>
<xmp:CreateDate>2026-11-01T10:00:00+07:00</xmp:CreateDate><xmp:ModifyDate>2026-11-01T10:00:00+07:00</xmp:ModifyDate>
<pdf:Producer>LibreOffice 7.6</pdf:Producer></rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode()


def pdfa_letter() -> bytes:
    """A letter that claims PDF/A-1b, its /Info saying what its XMP says (ISO 19005-1
    6.7.3), as LibreOffice's "Archive (PDF/A)" export writes it."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    pdf = assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        stream_object(b"BT /F1 14 Tf 60 500 Td (Letter archived as PDF/A-1b) Tj ET"),
        font,
        stream_object(XMP, b"/Type /Metadata /Subtype /XML "),
        b"<< /Producer (LibreOffice 7.6) /CreationDate (D:20261101100000+07'00') /ModDate (D:20261101100000+07'00') >>",
    ], header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    return pdf.replace(b"/Root 1 0 R >>", b"/Root 1 0 R /Info 7 0 R >>")


def metadata(pdf: bytes) -> tuple[dict, bytes]:
    """(the document information dictionary, the XMP packet) a reader finds."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return dict(reader.metadata), reader.trailer["/Root"]["/Metadata"].get_object().get_data()


def test_the_stamp_keeps_a_pdfa_letters_metadata_as_the_sender_wrote_it(gateway, sent, register):
    """PDF/A-1 (ISO 19005-1 6.7.3, veraPDF rule 6.7.3-1): each /Info entry with an XMP
    analogue says what the XMP says. On main pyHanko rewrote both with the stamp:
    /Producer "LibreOffice 7.6; pyHanko 0.38.0" against pdf:Producer "pyHanko 0.38.0",
    so the stamped copy still claimed PDF/A-1b (pdfaid) and no longer was. Now the
    stamp's update leaves the letter's metadata as it came."""
    info, xmp = metadata(stamped_copy(gateway, sent, "pdfa.pdf"))
    assert (info, xmp) == metadata(sent["pdfa.pdf"][2])
    assert b"<pdfaid:part>1</pdfaid:part>" in xmp and info["/Producer"] == "LibreOffice 7.6"


# ------------------------------------------------ F4: a unit's long name and the stamp's text size

LONG_UNIT = "ฝ่ายบริหารงานทั่วไป สำนักงานเลขานุการสำนักการระบายน้ำ กรุงเทพมหานคร"


def receive_number_height(pdf: bytes) -> float:
    """The height (points) of the receive number's first digit as PDFium shows the
    stamp (its appearance flattened into page 1, in memory)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_NORMALDISPLAY)
        page.close()
        textpage = document[0].get_textpage()
        text = textpage.get_text_range()
        at = text.index("เลขรับ ") + len("เลขรับ ")
        _left, bottom, _right, top = textpage.get_charbox(at)
        return top - bottom
    finally:
        document.close()


def test_a_units_long_name_does_not_shrink_the_receive_number(seal, stamp_info):
    """pyHanko shrinks the whole stamp text until its longest line fits the box. On
    main a unit named LONG_UNIT (67 letters, a real kind of BMA sub-unit name) had the
    receive number and the date printed at 0.59 of their size (5.3 pt instead of 9),
    under the stamp's documented least of 6.3 pt. Now the name is broken between words
    over two lines and the text keeps at least 90 % of its size."""
    import dataclasses

    from gateway.signatures.stamp import stamp_pdf
    from tests.pki import make_letter

    letter = make_letter()
    short = stamp_pdf(letter, stamp_info, seal)
    long = stamp_pdf(letter, dataclasses.replace(stamp_info, unit_name=LONG_UNIT), seal)
    assert short.mode == long.mode == "stamped"
    heights = receive_number_height(short.pdf), receive_number_height(long.pdf)
    assert heights[1] >= 0.9 * heights[0], heights
