"""An S/MIME letter encrypted as authEnveloped-data (RFC 5083/5084, AES-GCM) is an
encrypted letter (session 39's red team).

Only smime-type=enveloped-data was taken for encrypted: a letter OpenSSL 3 encrypts
with `cms -encrypt -aes-256-gcm` (and clients that choose AES-GCM) was read as an
ordinary mail carrying a file named smime.p7m, held "no letter found", and its raw
bytes kept in the plain vault. Since session 41 it is decrypted
(test_auth_enveloped_session41.py). One whose smime-type is missing or says
signed-data while its DER is encrypted data is taken for encrypted too."""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, make_gateway_key, wait_processed
from tests.letters import letter, make_pdf

ENTITY = ("Content-Type: text/plain; charset=utf-8\r\n\r\n" + f"ลับมาก แผนรักษาความปลอดภัย {MARKER}\r\n").encode()
OUTER = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: plan\r\n"
         "Message-ID: <auth-enveloped-1@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n").encode()


def _held_sealed(d, queue_id: str) -> str:
    status = wait_processed(d)
    assert status["letters"] == 0 and status["quarantine"] == {"held": 1}, status
    [(reasons,)] = db_rows(d, "select reasons from quarantine")
    assert "smime_undecryptable" in reasons and "no_document" not in reasons, reasons
    assert files_containing(d.data_dir, MARKER) == []
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").exists()  # as it came, sealed
    return reasons


def test_an_encrypted_letter_whose_smime_type_says_otherwise_is_held_sealed(daemon_factory):
    from tests.secrecy.certs import make_cert

    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    _, stranger = make_cert("someone else")
    der = (pkcs7.PKCS7EnvelopeBuilder().set_data(ENTITY).add_recipient(stranger)
           .set_content_encryption_algorithm(algorithms.AES256).encrypt(serialization.Encoding.DER, []))
    raw = (OUTER + b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der).replace(b"\n", b"\r\n"))
    queue_id = d.send(raw, LATKRABANG)
    _held_sealed(d, queue_id)


def test_a_signed_letter_is_still_read_as_signed(daemon_factory):
    """The DER decides only for encrypted data: a letter that is not S/MIME at all, or
    signed, takes its usual way."""
    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    d.send(letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover"))]), LATKRABANG)
    status = wait_processed(d)
    assert status["letters"] == 1, status
