"""What a secret registrar's mail client gets: openable with their key, signed inside."""
from __future__ import annotations

import base64
import email
import email.policy
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.secrecy import SecrecyError
from gateway.secrecy.envelope import (
    decrypt_incoming,
    letter_entity,
    open_envelope,
    seal_for_registrars,
    sign_entity,
)
from gateway.secrecy.errors import TamperedError
from tests.secrecy.certs import key_pem, make_cert, pem

MARKER = "MARKER-ลับมาก-7f3a9c"
LETTER = (
    "From: sender@example.go.th\r\n"
    "To: saraban.dds.sd@bangkok.go.th\r\n"
    "Subject: =?utf-8?b?4Lil4Lix4Lia4Lih4Liy4LiBIOC5gOC4o+C4t+C5iOC4reC4hw==?=\r\n"
    "Message-ID: <abc@example.go.th>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    f"ลับมาก ที่ กท ๐๔๐๓/ว ๒๗๖ {MARKER}\r\n"
).encode("utf-8")
HEADERS = {
    "From": "saraban.dds@bangkok.go.th",
    "To": "registrar@dds.bangkok.go.th",
    "Subject": "หนังสือลับ เลขรับ ลับ 12/2567",
    "Message-ID": "<sealed-1@saraban.bangkok.go.th>",
}
openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")


@pytest.fixture
def sealed(store, registrar):
    store.import_registrar_cert("dds.sd", pem(registrar[1]))
    key, cert = store.gateway_identity()
    entity = letter_entity(LETTER, "หนังสือลับ: เปิดด้วยใบรับรองของนายทะเบียนลับ")
    out = seal_for_registrars(entity, store.registrar_certs("dds.sd"), key, cert, headers=HEADERS)
    return out, entity


def test_output_is_an_rfc5751_enveloped_message_without_plaintext(sealed):
    out, _ = sealed
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg.get_content_type() == "application/pkcs7-mime"
    assert msg.get_param("smime-type") == "enveloped-data"
    assert msg["Content-Transfer-Encoding"] == "base64"
    assert msg["Subject"] == HEADERS["Subject"]
    assert MARKER.encode() not in out
    assert b"sender@example.go.th" not in out


def test_registrar_decrypts_with_cryptography_and_inner_signature_is_the_gateways(store, registrar, sealed):
    out, entity = sealed
    reg_key, reg_cert = registrar
    der = email.message_from_bytes(out).get_payload(decode=True)
    inner = pkcs7.pkcs7_decrypt_der(der, reg_cert, reg_key, [])
    signed = email.message_from_bytes(inner)
    assert signed.get_content_type() == "multipart/signed"
    assert MARKER.encode() in inner

    opened = open_envelope(out, reg_key, reg_cert, trusted_signers=[store.gateway_identity()[1]])
    assert opened.content == entity
    assert opened.signer == store.gateway_identity()[1]
    letter = email.message_from_bytes(opened.content).get_payload()[1].get_payload()[0]
    assert MARKER in letter.get_payload(decode=True).decode("utf-8")


def test_content_is_aes256(sealed, registrar):
    from asn1crypto import cms

    der = email.message_from_bytes(sealed[0]).get_payload(decode=True)
    env = cms.ContentInfo.load(der)["content"]
    assert env["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"


@openssl
def test_openssl_command_line_decrypts_and_verifies(tmp_path, store, registrar, sealed):
    out, entity = sealed
    reg_key, reg_cert = registrar
    (tmp_path / "mail.eml").write_bytes(out)
    (tmp_path / "reg.key").write_bytes(key_pem(reg_key))
    (tmp_path / "reg.pem").write_bytes(pem(reg_cert))
    # The registrar trusts the seal's issuing CA (docs/secrecy.md), not the leaf.
    (tmp_path / "gw.pem").write_bytes(pem(store.gateway_chain()[0]))
    for tool in ("cms", "smime"):
        dec = subprocess.run(
            ["openssl", tool, "-decrypt", "-in", "mail.eml", "-recip", "reg.pem", "-inkey", "reg.key",
             "-out", f"{tool}.dec"],
            cwd=tmp_path, capture_output=True, text=True,
        )
        assert dec.returncode == 0, dec.stderr
    ver = subprocess.run(
        ["openssl", "cms", "-verify", "-in", "cms.dec", "-CAfile", "gw.pem", "-out", "verified"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert ver.returncode == 0, ver.stderr
    assert "Verification successful" in ver.stderr
    assert (tmp_path / "verified").read_bytes().replace(b"\r\n", b"\n") == entity.replace(b"\r\n", b"\n")
    assert (tmp_path / "smime.dec").read_bytes() == (tmp_path / "cms.dec").read_bytes()


@openssl
def test_openssl_rejects_a_signature_from_someone_else(tmp_path, store, registrar, sealed):
    out, _ = sealed
    _, stranger = make_cert("not the gateway")
    (tmp_path / "mail.eml").write_bytes(out)
    (tmp_path / "reg.key").write_bytes(key_pem(registrar[0]))
    (tmp_path / "reg.pem").write_bytes(pem(registrar[1]))
    (tmp_path / "other.pem").write_bytes(pem(stranger))
    subprocess.run(["openssl", "cms", "-decrypt", "-in", "mail.eml", "-recip", "reg.pem",
                    "-inkey", "reg.key", "-out", "dec"], cwd=tmp_path, check=True, capture_output=True)
    ver = subprocess.run(["openssl", "cms", "-verify", "-in", "dec", "-CAfile", "other.pem"],
                         cwd=tmp_path, capture_output=True)
    assert ver.returncode != 0


def test_every_registrar_of_the_unit_can_open_it(store):
    pairs = [make_cert(f"registrar {i}") for i in range(2)]
    for _, cert in pairs:
        store.import_registrar_cert("hd.04", pem(cert))
    key, cert = store.gateway_identity()
    out = seal_for_registrars(letter_entity(LETTER, "n"), store.registrar_certs("hd.04"), key, cert)
    for reg_key, reg_cert in pairs:
        opened = open_envelope(out, reg_key, reg_cert, trusted_signers=[cert])
        assert MARKER.encode() in opened.content


def test_someone_not_a_recipient_cannot_open_it(store, sealed):
    other_key, other_cert = make_cert("outsider")
    with pytest.raises(SecrecyError, match="cannot decrypt"):
        open_envelope(sealed[0], other_key, other_cert, trusted_signers=[store.gateway_identity()[1]])


def test_no_registrar_certificate_means_no_message(store):
    key, cert = store.gateway_identity()
    with pytest.raises(SecrecyError, match="no registrar certificate"):
        seal_for_registrars(LETTER, store.registrar_certs("dds.sd"), key, cert)


def test_expired_registrar_certificate_is_refused_even_if_passed_directly(store):
    _, expired = make_cert("expired", days=-1, starts_days_ago=300)
    key, cert = store.gateway_identity()
    with pytest.raises(SecrecyError, match="expired"):
        seal_for_registrars(LETTER, [expired], key, cert)


def test_a_forged_envelope_around_a_changed_letter_is_detected(store, registrar, sealed):
    """Registrar certificates are public: anyone can make a fresh envelope. Only the
    inner signature tells the registrar the content is not what the gateway sent."""
    out, _ = sealed
    reg_key, reg_cert = registrar
    der = email.message_from_bytes(out).get_payload(decode=True)
    inner = pkcs7.pkcs7_decrypt_der(der, reg_cert, reg_key, [])
    forged_inner = inner.replace("กท ๐๔๐๓".encode(), "กท ๐๔๐๔".encode())
    assert forged_inner != inner
    forged = (
        pkcs7.PKCS7EnvelopeBuilder().set_data(forged_inner)
        .set_content_encryption_algorithm(algorithms.AES256).add_recipient(reg_cert)
        .encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary])
    )
    with pytest.raises(TamperedError, match="changed after signing"):
        open_envelope(forged, reg_key, reg_cert, trusted_signers=[store.gateway_identity()[1]])


def test_a_letter_signed_by_another_key_is_not_trusted(store, registrar):
    other_key, other_cert = make_cert("impostor gateway")
    signed = sign_entity(letter_entity(LETTER, "n"), other_key, other_cert)
    forged = (
        pkcs7.PKCS7EnvelopeBuilder().set_data(signed)
        .set_content_encryption_algorithm(algorithms.AES256).add_recipient(registrar[1])
        .encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary])
    )
    with pytest.raises(TamperedError, match="not signed by a trusted"):
        open_envelope(forged, registrar[0], registrar[1], trusted_signers=[store.gateway_identity()[1]])


@pytest.mark.parametrize("where", [0.35, 0.5, 0.75, 0.95, -40])
def test_flipped_ciphertext_byte_never_opens_silently(store, registrar, sealed, where):
    """CBC alone would decrypt a flipped byte to quietly changed text; the inner
    signature must catch it. (The multipart preamble, the first plaintext bytes, is
    not covered by any S/MIME signature, so the sweep starts past it.)"""
    from asn1crypto import cms

    out, _ = sealed
    der = bytearray(email.message_from_bytes(out).get_payload(decode=True))
    ct_len = len(cms.ContentInfo.load(bytes(der))["content"]["encrypted_content_info"]["encrypted_content"].native)
    assert ct_len > 1000
    pos = where if where < 0 else len(der) - ct_len + int(ct_len * where)
    der[pos] ^= 0x01
    mangled = (
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(bytes(der))
    )
    with pytest.raises(SecrecyError):
        open_envelope(mangled, registrar[0], registrar[1], trusted_signers=[store.gateway_identity()[1]])


def test_header_injection_in_outer_headers_is_refused(store, registrar):
    key, cert = store.gateway_identity()
    with pytest.raises(SecrecyError, match="line break"):
        seal_for_registrars(LETTER, [registrar[1]], key, cert, headers={"Subject": "x\r\nBcc: spy@x"})
    with pytest.raises(SecrecyError, match="belongs to the envelope"):
        seal_for_registrars(LETTER, [registrar[1]], key, cert, headers={"Content-Type": "text/plain"})


def test_letter_entity_keeps_the_original_bytes(sealed):
    _, entity = sealed
    assert LETTER in entity


@pytest.mark.parametrize("letter", [
    LETTER.replace(b"\r\n\r\n", b"\r\n\r\nx\r\r\n", 1),  # line ends converted twice on Windows
    LETTER + b"a lone CR\rin a line\r\n",
    LETTER.replace(b"\r\n", b"\n"),  # bare LF, as before
    LETTER + b"a lone LF\nand a CR LF\r\n",
], ids=["CR CR LF", "lone CR", "LF", "lone LF"])
def test_a_letter_whose_line_ends_are_not_crlf_is_sealed_byte_for_byte(tmp_path, store, registrar, letter):
    """Session 43's red team: a letter with a CR alone went in as message/rfc822; the
    S/MIME writer made the CR a CRLF inside the signature after its digest was taken,
    and the registrar's OpenSSL and gpgsm (and `open_envelope`) said the gateway's seal
    was forged. Such a letter goes base64 as `letter.eml`, as a bare-LF one does."""
    reg_key, reg_cert = registrar
    store.import_registrar_cert("dds.sd", pem(reg_cert))
    key, cert = store.gateway_identity()
    out = seal_for_registrars(letter_entity(letter, "หนังสือลับ"), store.registrar_certs("dds.sd"), key, cert,
                              headers=HEADERS)
    opened = open_envelope(out, reg_key, reg_cert, trusted_signers=[cert])
    [_, kept] = email.message_from_bytes(opened.content).get_payload()
    assert kept.get_content_type() == "application/octet-stream"
    assert kept.get_payload(decode=True) == letter
    if shutil.which("openssl") is None:
        return
    (tmp_path / "mail.eml").write_bytes(out)
    (tmp_path / "reg.key").write_bytes(key_pem(reg_key))
    (tmp_path / "reg.pem").write_bytes(pem(reg_cert))
    (tmp_path / "gw.pem").write_bytes(pem(store.gateway_chain()[0]))
    subprocess.run(["openssl", "cms", "-decrypt", "-in", "mail.eml", "-recip", "reg.pem", "-inkey", "reg.key",
                    "-out", "dec"], cwd=tmp_path, check=True, capture_output=True)
    ver = subprocess.run(["openssl", "cms", "-verify", "-in", "dec", "-CAfile", "gw.pem", "-out", "verified"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert ver.returncode == 0 and "Verification successful" in ver.stderr, ver.stderr


# -- already encrypted arrivals ------------------------------------------------------

def _encrypt_to(cert, body: bytes) -> bytes:
    smime = (
        pkcs7.PKCS7EnvelopeBuilder().set_data(body)
        .set_content_encryption_algorithm(algorithms.AES256).add_recipient(cert)
        .encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary])
    )
    head = (b"From: sender@example.go.th\r\nTo: saraban.dds@bangkok.go.th\r\n"
            b"Subject: encrypted letter\r\nMessage-ID: <enc-1@example.go.th>\r\n")
    return head + smime.replace(b"\n", b"\r\n")


INNER = ("Content-Type: text/plain; charset=utf-8\r\n\r\n" + f"ลับ {MARKER}\r\n").encode()


def test_incoming_smime_to_the_gateway_is_decrypted_in_memory(store):
    raw = _encrypt_to(store.gateway_identity()[1], INNER)
    assert MARKER.encode() not in raw
    plain = decrypt_incoming(raw, store)
    msg = email.message_from_bytes(plain, policy=email.policy.default)
    assert msg["Message-ID"] == "<enc-1@example.go.th>"
    assert msg.get_content_type() == "text/plain"
    assert MARKER in msg.get_content()
    assert "pkcs7" not in plain.decode("utf-8").lower()


def test_incoming_mail_to_a_rotated_out_key_still_opens(store):
    old_cert = store.gateway_identity()[1]
    store.create_gateway_key("saraban-gateway next year")
    assert store.gateway_identity()[1] != old_cert
    assert MARKER.encode() in decrypt_incoming(_encrypt_to(old_cert, INNER), store)


def test_incoming_mail_encrypted_to_someone_else_is_an_error(store):
    _, stranger = make_cert("someone else")
    with pytest.raises(SecrecyError, match="not encrypted to any gateway key"):
        decrypt_incoming(_encrypt_to(stranger, INNER), store)


def test_plain_mail_is_not_mistaken_for_encrypted(store):
    with pytest.raises(SecrecyError, match="not an S/MIME"):
        decrypt_incoming(LETTER, store)
