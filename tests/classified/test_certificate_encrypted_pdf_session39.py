"""Session 39's red team: a PDF encrypted to a certificate (Acrobat's "Encrypt with
Certificate", the /Adobe.PubSec handler: what seed 004 asks a ลับ letter to travel as,
to the registrar's key) or under a DRM plug-in's handler was read as a PDF no reader
opens, judged without its text: no marking, certain. The ลับ letter was registered in
the general book, its subject and body in plain, and filed in the unit's ordinary folder.
A PDF with a user password was already classified-opaque: so is this one now."""
from __future__ import annotations

import io

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.crypt import PubKeySecurityHandler
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import (
    LATKRABANG, MARKER, add_registrar, db_rows, files_containing, make_gateway_key, maildir, wait_processed,
)
from tests.letters import assemble_pdf, letter, make_pdf
from tests.secrecy.certs import make_cert


def _to_certificate(pdf: bytes) -> bytes:
    _key, cert = make_cert("นายทะเบียนลับ registrar")
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    writer._assign_security_handler(PubKeySecurityHandler.build_from_certs(  # noqa: SLF001 - pyHanko's way
        [asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))]))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _with_handler(encrypt: bytes) -> bytes:
    """A page whose content is what an encrypted stream looks like, under `encrypt`."""
    content = bytes(range(256))[::-1] * 2
    pdf = assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream", encrypt])
    return pdf.replace(b"/Root 1 0 R >>", b"/Root 1 0 R /Encrypt 5 0 R /ID [<00112233445566778899aabbccddeeff>"
                                          b"<00112233445566778899aabbccddeeff>] >>")


HANDLERS = {
    "public key s5": b"<< /Filter /Adobe.PubSec /SubFilter /adbe.pkcs7.s5 /V 4 /Length 128 /CF << /DefaultCryptFilter"
                     b" << /CFM /AESV2 /Recipients [<3082010a>] /AuthEvent /DocOpen >> >> /StmF /DefaultCryptFilter"
                     b" /StrF /DefaultCryptFilter >>",
    "public key s4": b"<< /Filter /Adobe.PubSec /SubFilter /adbe.pkcs7.s4 /V 2 /Length 128 /Recipients [<3082010a>] >>",
    "a DRM plug-in": b"<< /Filter /FOPN_foweb /V 2 /Length 128 >>",
}


def test_a_pdf_encrypted_to_a_certificate_is_encrypted_and_the_letter_classified_opaque():
    locked = _to_certificate(make_pdf("แผนการปฏิบัติงาน"))
    assert b"/Adobe.PubSec" in locked
    info = inspect_pdf(locked)
    assert (info.encrypted, info.pages) == (True, None), info
    found = classify_raw(letter(subject="ขอส่งแผนการปฏิบัติงาน", files=[("2569_dds_0403_57.pdf", locked)]))
    assert (found.level, found.certain) == ("confidential", False), found


def test_a_pdf_under_any_handler_the_gateway_does_not_have_is_encrypted():
    for name, encrypt in HANDLERS.items():
        info = inspect_pdf(_with_handler(encrypt))
        assert (info.encrypted, info.pages) == (True, None), (name, info)


def test_over_smtp_the_certificate_encrypted_letter_goes_to_the_secret_book_not_the_unit_folder(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    locked = _to_certificate(make_pdf("แผนการปฏิบัติงาน"))
    d.send(letter(subject=f"งบประมาณ {MARKER}", body=f"ดูไฟล์แนบ {MARKER}\n",
                  files=[("2569_dds_0403_57.pdf", locked)]), LATKRABANG)
    wait_processed(d, registrar=1)
    [entry] = d.register()
    assert (entry["secrecy"], entry["book"]) == ("confidential", "secret"), entry
    [(findings,)] = db_rows(d, "select findings from letters")
    assert "classified_opaque" in findings
    assert maildir(d, "latkrabang") == []
    assert files_containing(d.data_dir, MARKER) == []
