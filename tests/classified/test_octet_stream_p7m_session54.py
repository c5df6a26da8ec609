"""An S/MIME letter encrypted to the gateway whose top-level entity a client or a relay
labelled application/octet-stream, named smime.p7m. [MS-OXOSMIME] says such an entity
SHOULD be treated as opaque-signed or encrypted, and Exchange and Outlook open it.

Until session 54 the gateway read it as an ordinary mail carrying one file: held "no
letter found in this mail; attach the cover letter as a PDF" and "smime.p7m is
application/octet-stream, which is not accepted", though the letter was inside. It is now
decrypted, registered ลับ and sealed again for the secret registrar, as when labelled
application/pkcs7-mime. What it is stays its DER's to say: an octet-stream .p7m that is
signed data is not taken for encrypted."""
from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.secrecy.envelope import is_encrypted_smime
from tests.classified.helpers import LATKRABANG, MARKER, assert_encrypted_letter_resealed
from tests.secrecy.certs import make_cert, pem

PKCS7 = b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'
LABELS = {
    "type named smime.p7m": b'Content-Type: application/octet-stream; name="smime.p7m"',
    "disposition named SMIME.P7M": b"Content-Type: application/octet-stream",  # filename= below alone
}


def _relabelled(cert, raw_letter: bytes, tmp_path, label: bytes, message_id: str) -> bytes:
    head, _, body = raw_letter.partition(b"\r\n\r\n")
    entity = b"\r\n".join(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-")) + b"\r\n\r\n" + body
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "entity").write_bytes(entity)
    smime = subprocess.run(["openssl", "cms", "-encrypt", "-aes-256-cbc", "-in", str(tmp_path / "entity"),
                            "-recip", str(tmp_path / "cert.pem")], capture_output=True, check=True).stdout
    smime = smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert PKCS7 in smime
    smime = smime.replace(PKCS7, label)
    if b"name=" not in label:
        smime = smime.replace(b'filename="smime.p7m"', b'filename="SMIME.P7M"')
    outer = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: plan {MARKER}\r\n"
             f"Message-ID: <{message_id}@dds.bangkok.go.th>\r\n").encode()
    return outer + smime


@pytest.mark.parametrize("label", sorted(LABELS))
def test_the_letter_is_decrypted_registered_and_resealed(daemon_factory, tmp_path, label):
    assert_encrypted_letter_resealed(
        daemon_factory, lambda cert, inner: _relabelled(cert, inner, tmp_path, LABELS[label], "oct-" + label[:4]))


def test_an_octet_stream_p7m_that_is_signed_data_is_not_taken_for_encrypted(tmp_path):
    key, cert = make_cert("signer")
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "entity").write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    signed = subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-in", str(tmp_path / "entity"), "-signer",
                             str(tmp_path / "cert.pem"), "-inkey", str(tmp_path / "key.pem")],
                            capture_output=True, check=True).stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signed = signed.replace(b'application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"',
                            b'application/octet-stream; name="smime.p7m"')
    assert b"application/octet-stream" in signed
    assert not is_encrypted_smime(b"Subject: x\r\n" + signed)
