"""Session 19: a signed file known by its bytes, not only by its name or type.

A signing tool opens a CMS file (CAdES) whatever it is called: `letter.pdf.pkcs7`,
`letter.p7s` that carries its PDF, `letter.p7m` over a ZIP (no inner extension),
`x.bin`, each sent as application/octet-stream. Until now the letter's parse knew a
CMS only by `.p7m` or an S/MIME type, and read those as no text (or as a message): a
ลับมาก PDF signed so left the letter ordinary and certain, in plain text to the unit's
folder. A detached signature beside its PDF (`letter.pdf.p7s`, `smime.p7s`) carries
nothing and changes nothing.

The pure cases read letters as the DATA check does (classify_raw); one daemon for
the module registers the ordinary ones and verifies their signatures."""
from __future__ import annotations

import uuid

import pytest

from tests.classified.helpers import LATKRABANG, MARKER, assert_sealed_nowhere_plain, sealing_daemon
from tests.letters import letter, make_pdf
from tests.pki import VALID_SIGNER_NAME, make_p7m, make_smime
from tests.test_containers_session18 import deflated, pki, reading, secret_pdf  # noqa: F401 - fixtures
from tests.thai_pdfs import thai_pdf

UNIT = "saraban.pomprap@bangkok.go.th"


def _detached(pki, content: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert = x509.load_pem_x509_certificate(pki.valid.cert_path.read_bytes())
    key = serialization.load_pem_private_key(pki.valid.key_path.read_bytes(), None)
    return pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256()).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


@pytest.mark.parametrize("name, what", [
    ("letter.p7m", "zip"),          # read as a message of no text
    ("letter.pdf.pkcs7", "pdf"),    # not unwrapped at all
    ("letter.p7s", "pdf"),          # an opaque signature named as a detached one
    ("หนังสือ.pdf.p7s", "zip"),
    ("x.bin", "pdf"),
])
def test_a_signed_secret_letter_is_found_whatever_the_file_is_called(pki, secret_pdf, name, what):
    """Each was ('none', True) on main: ordinary, certain, filed in plain text."""
    inner = secret_pdf if what == "pdf" else deflated([("2569.pdf", secret_pdf)])
    assert reading(letter(files=[(name, make_p7m(pki, inner))])) == ("secret", True)
    assert reading(letter(files=[(name, make_p7m(pki, make_p7m(pki, inner)))])) == ("secret", True)


def test_an_encrypted_file_whatever_it_is_called_keeps_the_letter_uncertain(pki, secret_pdf):
    """An S/MIME-encrypted file (enveloped data) the gateway cannot open: by an S/MIME
    type or a .p7m name the letter was ลับ, uncertain; named `x.bin` it was ordinary."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert = x509.load_pem_x509_certificate(pki.valid.cert_path.read_bytes())
    sealed = pkcs7.PKCS7EnvelopeBuilder().set_data(secret_pdf).add_recipient(cert).encrypt(
        serialization.Encoding.DER, [])
    for name in ("x.bin", "letter.pdf.pkcs7", "letter.pdf.p7m"):
        assert reading(letter(files=[(name, sealed)])) == ("confidential", False), name


def test_a_detached_signature_beside_its_file_changes_nothing(pki):
    """`letter.pdf.p7s` beside `letter.pdf` (CAdES detached), or an S/MIME letter's own
    `smime.p7s`: no content of their own, read as before (ordinary, certain)."""
    ordinary = thai_pdf(["ที่ กท ๐๔๐๗/๕๘", "เรื่อง ขอเชิญประชุม"])
    signature = _detached(pki, ordinary)
    for files in ([("letter.pdf", ordinary), ("letter.pdf.p7s", signature)],
                  [("letter.pdf", ordinary), ("letter.pdf.pkcs7", signature)],
                  [("letter.pdf", ordinary), ("smime.p7s", signature)]):
        assert reading(letter(files=files)) == ("none", True), files[1][0]
    assert reading(make_smime(pki)) == ("none", True)
    # A detached signature named .p7m is still taken for a signed file that did not open.
    assert reading(letter(files=[("letter.pdf", ordinary), ("letter.pdf.p7m", signature)])) \
        == ("confidential", False)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    extra = ("[signatures]\n"
             "stamp = false\n"
             f'trust_roots = "{pki.roots_pem}"\n'
             f'revocation_dir = "{pki.revocation_dir}"\n')
    with sealing_daemon(tmp_path_factory.mktemp("containers19") / "gw", extra=extra) as d:
        yield d


@pytest.fixture(scope="module")
def register(gateway, pki) -> dict[str, dict]:
    """name -> register entry of each letter of the module."""
    ordinary = make_pdf("ordinary letter")
    letters = {
        "pkcs7": [("2569_dds_0403_60.pdf.pkcs7", make_p7m(pki, ordinary))],
        "bare p7m over zip": [("letter.p7m", make_p7m(pki, deflated([("รายชื่อ.pdf", ordinary)])))],
    }
    queue_ids = {}
    for name, files in letters.items():
        raw = letter(to=UNIT, message_id=f"<{uuid.uuid4()}@dds.bangkok.go.th>", files=files)
        queue_ids[gateway.send(raw, UNIT)] = name
    gateway.wait_idle(timeout=120)
    entries = gateway.register("--unit", "saraban.pomprap")
    return {queue_ids[e["queue_id"]]: e for e in entries if e["queue_id"] in queue_ids}


def test_a_signed_file_of_any_name_is_registered_with_its_file_and_verdict(register):
    """The signed file is registered, then the file it carries (read, stamped and
    verified as one attached directly), its signature TOTAL_PASSED over that file."""
    entry = register["pkcs7"]
    assert [a["filename"] for a in entry["attachments"]] == ["2569_dds_0403_60.pdf.pkcs7", "2569_dds_0403_60.pdf"]
    [cades] = entry["attachments"][0]["signatures"]
    assert (cades["indication"], cades["signer"], cades["covers"]) == ("TOTAL_PASSED", VALID_SIGNER_NAME,
                                                                       ["2569_dds_0403_60.pdf"])
    assert entry["secrecy"] == "none" and entry["review"] is False

    entry = register["bare p7m over zip"]
    assert entry["attachments"][0]["filename"] == "letter.p7m" and len(entry["attachments"]) == 2
    [cades] = entry["attachments"][0]["signatures"]
    assert cades["indication"] == "TOTAL_PASSED"
    assert entry["secrecy"] == "none"



def test_over_smtp_a_secret_letter_signed_or_zipped_under_another_name_is_sealed(gateway, pki):
    """The letters of the first test, sent: each registered in the secret book (or,
    the `.pdf` that is a ZIP, held for its type), sealed, its subject nowhere in plain:
    not in the unit's folder, the data directory or the log."""
    secret = thai_pdf(["ลับมาก", "ที่ กท ๐๔๐๗/๕๗", f"เรื่อง แผน {MARKER}"])
    zipped_secret = deflated([("2569.pdf", secret)])
    files = {
        "pkcs7": [("2569_dds_0403_62.pdf.pkcs7", make_p7m(pki, secret))],
        "p7m over zip": [("letter.p7m", make_p7m(pki, zipped_secret))],
        "zip named pdf": [("2569_dds_0403_63.pdf", zipped_secret)],
    }
    queued = {name: gateway.send(letter(to=LATKRABANG, subject=f"ขอส่งแผน {MARKER}", files=f), LATKRABANG)
              for name, f in files.items()}
    gateway.wait_idle(timeout=120)
    assert_sealed_nowhere_plain(gateway, queued)


def test_a_signed_file_saved_as_pem_or_base64_is_read_too(pki, secret_pdf):
    """`openssl smime -outform PEM` and some signing tools save the CMS as PEM or bare
    base64 (a signing tool opens it as the DER one). On main: named `.p7s` or `.pem` the
    letter was ordinary, certain; named `.p7m` or zipped, ลับ uncertain (not read)."""
    import base64

    der = make_p7m(pki, secret_pdf)
    pem = b"-----BEGIN PKCS7-----\n" + base64.encodebytes(der) + b"-----END PKCS7-----\n"
    for name, data in (("letter.p7s", pem), ("letter.pem", pem), ("letter.p7m", pem),
                       ("letter.p7m", base64.encodebytes(der)), ("a.zip", deflated([("x.p7m", pem)]))):
        assert reading(letter(files=[(name, data)])) == ("secret", True), name
    # A certificate in PEM is no signed file: the letter stays ordinary.
    cert = pki.valid.cert_path.read_bytes()
    assert reading(letter(files=[("signer.pem", cert)])) == ("none", True)
