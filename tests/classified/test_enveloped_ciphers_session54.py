"""S/MIME enveloped-data encrypted to the gateway with what real clients choose besides
RSA PKCS#1 v1.5 and AES-128/256-CBC: RSA-OAEP key transport (RFC 3560; OpenSSL's
`-keyopt rsa_padding_mode:oaep`, S/MIME 4.0 clients), AES-192-CBC, and triple DES
(RFC 8551 2.7 "SHOULD-": what Outlook 2010-2013 and older Thai government clients send).

cryptography's PKCS#7 decryption opens only PKCS#1 v1.5 with AES-128/256-CBC and raises
UnsupportedAlgorithm, no ValueError, on the rest. Until session 54 that escaped the
gateway's decryption: the letter was never registered, its sender heard nothing and it
was parked after five failed tries ("UnsupportedAlgorithm at envelope.py:468").
And a letter streamed in BER (indefinite lengths) was held "encrypted to a certificate
the gateway does not hold", though it was encrypted to the current one."""
from __future__ import annotations

import email
import email.policy
import subprocess

import pytest

from tests.classified.helpers import (
    LATKRABANG, MARKER, add_registrar, assert_held_sealed_unopened, check_inner_signature, db_rows,
    files_containing, log_lines_containing, make_gateway_key, registrar_open, wait_processed,
)
from tests.daemon import Daemon, write_config
from tests.letters import SEED_REFERENCE, letter, make_pdf
from tests.secrecy.certs import pem

CLIENTS = {
    "rsa-oaep aes-256-cbc": ("-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"),
    "rsa-oaep-sha256 aes-128-cbc": ("-aes-128-cbc", "-keyopt", "rsa_padding_mode:oaep",
                                    "-keyopt", "rsa_oaep_md:sha256"),
    "aes-192-cbc": ("-aes-192-cbc",),
    "3des": ("-des3",),
    # BER of indefinite lengths, the ciphertext in pieces: what streaming encoders write
    # (Thunderbird's NSS, Outlook); cryptography reads DER alone and took it for a wrong key.
    "streamed aes-256-cbc": ("-aes-256-cbc", "-stream"),
    "streamed rsa-oaep 3des": ("-des3", "-stream", "-keyopt", "rsa_padding_mode:oaep"),
    # The gateway named by its certificate's subject key identifier (RFC 5652 6.2.1), as
    # `keys create` gives it one: cryptography matches issuer and serial number alone.
    "keyid aes-256-cbc": ("-aes-256-cbc", "-keyid"),
}


def _openssl_letter(cert, raw_letter: bytes, tmp_path, options, message_id: str) -> bytes:
    head, _, body = raw_letter.partition(b"\r\n\r\n")
    entity = b"\r\n".join(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-")) + b"\r\n\r\n" + body
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "entity").write_bytes(entity)
    after = [o for i, o in enumerate(options) if o == "-keyopt" or (i and options[i - 1] == "-keyopt")]
    before = [o for o in options if o not in after]
    smime = subprocess.run(["openssl", "cms", "-encrypt", "-in", str(tmp_path / "entity"), *before,
                            "-recip", str(tmp_path / "cert.pem"), *after], capture_output=True, check=True).stdout
    outer = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: plan {MARKER}\r\n"
             f"Message-ID: <{message_id}@dds.bangkok.go.th>\r\n").encode()
    return outer + smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """One daemon, its gateway key and a registrar, for every client's letter: each test
    finds its own letter by queue id (a daemon and its keys per client cost ~5 s each)."""
    d = Daemon(write_config(tmp_path_factory.mktemp("enveloped")))
    gateway_cert = make_gateway_key(d)
    reg_key, reg_cert = add_registrar(d)
    d.start()
    try:
        yield d, gateway_cert, reg_key, reg_cert
    finally:
        d.stop()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_the_letter_is_decrypted_registered_and_resealed(gateway, tmp_path, client):
    """As tests/classified/helpers.py assert_decrypted_and_resealed, for this letter of
    the module's daemon: registered in the secret book, its PDF decrypted and sealed
    again for the registrar, no plaintext on disk or in the log."""
    d, gateway_cert, reg_key, reg_cert = gateway
    pdf = make_pdf(f"cover letter {client} {MARKER}")
    inner = letter(subject="ignored", body=f"ที่ {SEED_REFERENCE}\nเรื่อง {MARKER}\n",
                   files=[("2569_dds_0403_57.pdf", pdf)])
    message_id = "env-" + client.replace(" ", "-")
    queue_id = d.send(_openssl_letter(gateway_cert, inner, tmp_path, CLIENTS[client], message_id), LATKRABANG)

    def sealed_copy():
        return [p for p in d.maildir_files("latkrabang.secret") if p.name.startswith(queue_id)]
    [sealed] = d.wait_for(sealed_copy, what=f"{client}: the letter resealed for the registrar")
    [entry] = [e for e in d.register() if e["queue_id"] == queue_id]
    assert (entry["secrecy"], entry["book"]) == ("confidential", "secret")
    entity = check_inner_signature(registrar_open(sealed.read_bytes(), reg_key, reg_cert), gateway_cert)
    forwarded = email.message_from_bytes(entity, policy=email.policy.default)
    original = [p for p in forwarded.iter_parts() if p.get_content_type() == "message/rfc822"][0].get_content()
    assert pdf in [p.get_content() for p in original.iter_attachments()]
    assert (d.data_dir / "secret" / queue_id / "arrival.sgv").exists()
    d.wait_for(lambda: not d.status_here()["spool"]["pending"], what="the spool empty")
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def test_a_changed_cbc_letter_is_not_handed_on_as_changed_plaintext_by_padding(daemon_factory, tmp_path):
    """CBC authenticates nothing; a flipped last block mostly breaks the padding: the
    letter is one the gateway cannot open, held sealed, its sender told (no crash)."""
    import base64

    from gateway.secrecy.envelope import _incoming_encrypted_der
    from asn1crypto import cms

    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    d.start()
    raw = _openssl_letter(gateway_cert, letter(body=f"เรื่อง {MARKER}\n", files=[("a.pdf", make_pdf("x"))]),
                          tmp_path, CLIENTS["3des"], "env-changed")
    head, _, _ = raw.partition(b"\r\n\r\n")
    info = cms.ContentInfo.load(_incoming_encrypted_der(raw))
    eci = info["content"]["encrypted_content_info"]
    text = eci["encrypted_content"].native
    eci["encrypted_content"] = text[:-9] + bytes([text[-9] ^ 0x5A]) + text[-8:]  # the padding's block
    der = cms.ContentInfo({"content_type": "enveloped_data", "content": info["content"]}).dump(force=True)
    queue_id = d.send(head + b"\r\n\r\n" + base64.encodebytes(der).replace(b"\n", b"\r\n"), LATKRABANG)
    assert_held_sealed_unopened(d, queue_id)


def test_an_old_cipher_is_held_and_its_sender_told_to_use_aes(daemon_factory, tmp_path):
    """RC2 (Outlook Express, old Windows defaults): not decrypted, and the sender is told
    what to change, in Thai and English, not that the certificate is the wrong one."""
    if subprocess.run(["openssl", "list", "-cipher-algorithms", "-provider", "legacy"], capture_output=True).returncode:
        pytest.skip("OpenSSL's legacy provider (RC2) is not installed")
    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    d.start()
    raw = _openssl_letter(gateway_cert, letter(body=f"เรื่อง {MARKER}\n", files=[("a.pdf", make_pdf("x"))]),
                          tmp_path, ("-rc2", "-provider", "legacy", "-provider", "default"), "env-rc2")
    queue_id = d.send(raw, LATKRABANG)
    status = wait_processed(d)
    assert status["letters"] == 0 and status["quarantine"] == {"held": 1}, status
    [(reasons,)] = db_rows(d, "select reasons from quarantine")
    assert "smime_undecryptable" in reasons, reasons
    assert "กรุณาเข้ารหัสแบบ AES" in reasons and "encrypt it with AES to the gateway" in reasons, reasons
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").exists()
    assert files_containing(d.data_dir, MARKER) == []
