"""S/MIME authEnveloped-data (RFC 5083/5084, AES-GCM) encrypted to the gateway is
decrypted, as enveloped-data is (RFC 8551 2.7: a receiving agent MUST support AES-128
GCM and AES-256 GCM).

Until session 41 such a letter was held sealed as "undecryptable" and its sender told
to choose AES-CBC. The letters here are made by OpenSSL 3's `cms -encrypt` (what S/MIME
4.0 clients send), and by hand where OpenSSL does not go (authenticated attributes,
another cipher). A changed byte anywhere in what GCM authenticates makes the letter one
the gateway cannot open: held sealed, never read as a changed letter."""
from __future__ import annotations

import base64
import email
import email.policy
import subprocess
from dataclasses import dataclass

import pytest
from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.secrecy.auth_enveloped import NOT_OURS, UNSUPPORTED, GcmParameters, decrypt_auth_enveloped
from gateway.secrecy.envelope import _incoming_encrypted_der
from gateway.secrecy.errors import SecrecyError
from tests.classified.helpers import (
    LATKRABANG, MARKER, assert_encrypted_letter_resealed, assert_held_sealed_unopened, make_gateway_key,
)
from tests.letters import letter, make_pdf
from tests.secrecy.certs import make_cert, pem

ENTITY = ("Content-Type: text/plain; charset=utf-8\r\n\r\n" + f"ลับมาก แผนรักษาความปลอดภัย {MARKER}\r\n").encode()


@dataclass
class Key:
    private_key: object
    certificate: x509.Certificate
    fingerprint: str = "test"


@pytest.fixture(scope="module")
def ours() -> Key:
    """A gateway key whose certificate, like `keys create`'s, has a subject key identifier."""
    key, cert = make_cert("saraban-gateway test")
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(key.public_key()).serial_number(cert.serial_number)
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return Key(key, builder.sign(key, hashes.SHA256()))


def _openssl(cert: x509.Certificate, entity: bytes, tmp_path, *options: str) -> bytes:
    """`openssl cms -encrypt <options>` of `entity` to `cert`, as S/MIME."""
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "entity").write_bytes(entity)
    # -keyopt applies to the -recip before it; -keyid to the one after it.
    after = [o for i, o in enumerate(options) if o == "-keyopt" or (i and options[i - 1] == "-keyopt")]
    before = [o for o in options if o not in after]
    done = subprocess.run(["openssl", "cms", "-encrypt", "-in", str(tmp_path / "entity"), *before,
                           "-recip", str(tmp_path / "cert.pem"), *after], capture_output=True, check=True)
    return done.stdout


def _der(smime: bytes) -> bytes:
    return email.message_from_bytes(smime).get_payload(decode=True)


@pytest.mark.parametrize("options", [
    ("-aes-128-gcm",),
    ("-aes-192-gcm",),
    ("-aes-256-gcm",),
    ("-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep"),
    ("-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"),
    ("-aes-128-gcm", "-keyid"),  # the recipient named by its subject key identifier
], ids=lambda o: " ".join(o))
def test_openssl_authenveloped_opens(ours, tmp_path, options):
    smime = _openssl(ours.certificate, ENTITY, tmp_path, *options)
    assert b"smime-type=authEnveloped-data" in smime
    entity, key = decrypt_auth_enveloped(_der(smime), [ours])
    assert entity.replace(b"\r\n", b"\n") == ENTITY.replace(b"\r\n", b"\n") and key is ours


def test_the_key_that_fits_is_found_among_old_ones(ours, tmp_path):
    old = Key(*make_cert("saraban-gateway 2567"))
    smime = _openssl(ours.certificate, ENTITY, tmp_path, "-aes-256-gcm")
    assert decrypt_auth_enveloped(_der(smime), [old, ours])[1] is ours


def test_to_someone_else_is_not_ours(ours, tmp_path):
    stranger = Key(*make_cert("someone else"))
    smime = _openssl(stranger.certificate, ENTITY, tmp_path, "-aes-256-gcm")
    with pytest.raises(SecrecyError, match=NOT_OURS):
        decrypt_auth_enveloped(_der(smime), [ours])


def _changed(der: bytes, change) -> bytes:
    info = cms.ContentInfo.load(der)
    data = info["content"]
    change(data)
    return cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": data}).dump(force=True)


def _flip(value: bytes, at: int = 0) -> bytes:
    return value[:at] + bytes([value[at] ^ 1]) + value[at + 1:]


def _ciphertext(data, new=None):
    eci = data["auth_encrypted_content_info"]
    if new is None:
        return eci["encrypted_content"].native
    eci["encrypted_content"] = new


@pytest.mark.parametrize("how", ["ciphertext", "ciphertext_end", "tag", "short_tag", "nonce", "cut"])
def test_a_changed_byte_is_not_decrypted(ours, tmp_path, how):
    """GCM's tag covers the ciphertext and the nonce: a changed letter is never handed
    on as changed plaintext (AES-CBC of enveloped-data would decrypt to garbage)."""
    der = _der(_openssl(ours.certificate, ENTITY, tmp_path, "-aes-256-gcm"))

    def change(data):
        if how == "ciphertext":
            _ciphertext(data, _flip(_ciphertext(data)))
        elif how == "ciphertext_end":
            text = _ciphertext(data)
            _ciphertext(data, _flip(text, len(text) - 1))
        elif how == "cut":
            _ciphertext(data, _ciphertext(data)[:-1])
        elif how == "tag":
            data["mac"] = _flip(data["mac"].native)
        elif how == "short_tag":
            data["mac"] = data["mac"].native[:12]  # icvlen still says 16
        else:
            alg = data["auth_encrypted_content_info"]["content_encryption_algorithm"]
            params = GcmParameters.load(alg["parameters"].dump())
            alg["parameters"] = GcmParameters({"aes_nonce": _flip(params["aes_nonce"].native),
                                               "aes_icvlen": params["aes_icvlen"].native}).untag()
    with pytest.raises(SecrecyError):
        decrypt_auth_enveloped(_changed(der, change), [ours])


def _by_hand(cert: x509.Certificate, entity: bytes, *, cipher: str = "aes256_gcm", attributes=None,
             aad_as_carried: bool = False, icvlen: int = 16) -> bytes:
    """AuthEnvelopedData built here: OpenSSL writes no authenticated attributes."""
    from asn1crypto import x509 as asn1_x509

    cek = AESGCM.generate_key(bit_length=256)
    nonce = b"\x07" * 12
    auth_attrs = cms.CMSAttributes(attributes) if attributes else None
    aad = b""
    if auth_attrs is not None:
        aad = auth_attrs.dump()
        if aad_as_carried:
            aad = b"\xa1" + aad[1:]
    sealed = AESGCM(cek).encrypt(nonce, entity, aad)
    ours = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    ktri = cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": ours.issuer, "serial_number": ours.serial_number})}),
        "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
        "encrypted_key": cert.public_key().encrypt(cek, padding.PKCS1v15()),
    })
    data = {
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo({"ktri": ktri})],
        "auth_encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": algos.EncryptionAlgorithm({
                "algorithm": cipher if cipher != "aes256_gcm" else "2.16.840.1.101.3.4.1.46",
                "parameters": GcmParameters({"aes_nonce": nonce, "aes_icvlen": icvlen}).untag()
                if cipher == "aes256_gcm" else core.OctetString(nonce),
            }),
            "encrypted_content": sealed[:-16],
        },
        "mac": sealed[-16:][:icvlen],
    }
    if auth_attrs is not None:
        data["auth_attrs"] = auth_attrs
    return cms.ContentInfo({"content_type": "authenticated_enveloped_data",
                            "content": cms.AuthEnvelopedData(data)}).dump()


_TIME = [{"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime("251201000000Z")})]}]


def test_authenticated_attributes_are_authenticated_as_a_set(ours):
    assert decrypt_auth_enveloped(_by_hand(ours.certificate, ENTITY, attributes=_TIME), [ours])[0] == ENTITY
    # Authenticated as carried ([1] IMPLICIT) is not what RFC 5083 2.1 says: refused.
    with pytest.raises(SecrecyError):
        decrypt_auth_enveloped(_by_hand(ours.certificate, ENTITY, attributes=_TIME, aad_as_carried=True), [ours])


def test_a_changed_authenticated_attribute_is_not_decrypted(ours):
    der = _by_hand(ours.certificate, ENTITY, attributes=_TIME)
    later = [{"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime("251202000000Z")})]}]

    def change(data):
        data["auth_attrs"] = cms.CMSAttributes(later)
    with pytest.raises(SecrecyError):
        decrypt_auth_enveloped(_changed(der, change), [ours])


def test_removed_authenticated_attributes_are_not_decrypted(ours):
    der = _by_hand(ours.certificate, ENTITY, attributes=_TIME)

    def change(data):
        del data["auth_attrs"]
    with pytest.raises(SecrecyError):
        decrypt_auth_enveloped(_changed(der, change), [ours])


def test_a_tag_shorter_than_twelve_octets_is_refused(ours):
    """RFC 5084 3.2: 12 to 16; a 4-octet tag is a forger's 1 in 4 billion, not 2^-96."""
    with pytest.raises(SecrecyError, match="cannot be read"):
        decrypt_auth_enveloped(_by_hand(ours.certificate, ENTITY, icvlen=4), [ours])
    assert decrypt_auth_enveloped(_by_hand(ours.certificate, ENTITY, icvlen=12), [ours])[0] == ENTITY


def test_another_cipher_says_so(ours):
    with pytest.raises(SecrecyError, match=UNSUPPORTED):
        decrypt_auth_enveloped(_by_hand(ours.certificate, ENTITY, cipher="aes256_cbc"), [ours])


@pytest.mark.parametrize("der", [b"", b"\x30\x00", b"\x30\x80" + b"\x00" * 50,
                                 cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()])
def test_what_is_not_authenveloped_data_is_refused_in_words(ours, der):
    with pytest.raises(SecrecyError):
        decrypt_auth_enveloped(der, [ours])


# --- through the daemon ------------------------------------------------------------

def _letter_smime(cert: x509.Certificate, raw_letter: bytes, tmp_path, message_id: str) -> bytes:
    """What an S/MIME 4.0 client sends: the body entity encrypted with AES-256-GCM."""
    head, _, body = raw_letter.partition(b"\r\n\r\n")
    entity_head = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-")]
    entity = b"\r\n".join(entity_head) + b"\r\n\r\n" + body
    smime = _openssl(cert, entity, tmp_path, "-aes-256-gcm")
    outer = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: plan {MARKER}\r\n"
             f"Message-ID: <{message_id}@dds.bangkok.go.th>\r\n").encode()
    return outer + smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_an_aes_gcm_letter_to_the_gateway_is_registered_and_resealed_for_the_registrar(daemon_factory, tmp_path):
    d = assert_encrypted_letter_resealed(daemon_factory,
                                         lambda cert, inner: _letter_smime(cert, inner, tmp_path, "gcm-1"))
    assert any(e.get("event") == "incoming_smime_decrypted" and e.get("cipher") == "aes-gcm" for e in d.events())


def test_a_changed_aes_gcm_letter_is_held_sealed_as_one_the_gateway_cannot_open(daemon_factory, tmp_path):
    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    d.start()
    raw = _letter_smime(gateway_cert, letter(body=f"เรื่อง {MARKER}\n", files=[("a.pdf", make_pdf("x"))]),
                        tmp_path, "gcm-2")
    head, _, body = raw.partition(b"\r\n\r\n")
    der = _changed(_incoming_encrypted_der(raw), lambda data: _ciphertext(data, _flip(_ciphertext(data), 40)))
    raw = head + b"\r\n\r\n" + base64.encodebytes(der).replace(b"\n", b"\r\n")
    queue_id = d.send(raw, LATKRABANG)
    assert_held_sealed_unopened(d, queue_id)


class _Counting:
    """A private key that counts its RSA decryptions."""

    def __init__(self, key):
        self.key, self.decryptions = key, 0

    def decrypt(self, *args):
        self.decryptions += 1
        return self.key.decrypt(*args)


def test_one_rsa_decryption_a_key_however_many_recipient_infos_name_it(ours, tmp_path):
    """Each RecipientInfo tried is an RSA decryption: a forger's letter naming the
    gateway's certificate 2,000 times (60,000 fit in 25 MB) costs one, as OpenSSL's
    CMS_decrypt takes the first that names it."""
    import os

    der = _der(_openssl(ours.certificate, ENTITY, tmp_path, "-aes-256-gcm"))

    def crowd(data):
        [real] = list(data["recipient_infos"])
        fakes = []
        for _ in range(2000):
            fake = cms.RecipientInfo.load(real.dump())
            fake.chosen["encrypted_key"] = os.urandom(256)
            fakes.append(fake)
        data["recipient_infos"] = cms.RecipientInfos([*fakes, real])
    counting = Key(_Counting(ours.private_key), ours.certificate)
    with pytest.raises(SecrecyError, match=NOT_OURS):
        decrypt_auth_enveloped(_changed(der, crowd), [counting])
    assert counting.private_key.decryptions == 1


def test_the_recipient_info_of_our_key_is_found_among_others(ours, tmp_path):
    """Encrypted to the sender's own certificate too (what clients do, for the Sent folder)."""
    sender = Key(*make_cert("sender"))
    (tmp_path / "sender.pem").write_bytes(pem(sender.certificate))
    (tmp_path / "ours.pem").write_bytes(pem(ours.certificate))
    (tmp_path / "entity").write_bytes(ENTITY)
    smime = subprocess.run(["openssl", "cms", "-encrypt", "-aes-256-gcm", "-in", str(tmp_path / "entity"),
                            str(tmp_path / "sender.pem"), str(tmp_path / "ours.pem")],
                           capture_output=True, check=True).stdout
    counting = Key(_Counting(ours.private_key), ours.certificate)
    assert decrypt_auth_enveloped(_der(smime), [counting])[0].replace(b"\r\n", b"\n") == ENTITY.replace(b"\r\n", b"\n")
    assert counting.private_key.decryptions == 1


def _streamed(der: bytes, piece: int) -> bytes:
    """The same CMS as a streaming encoder writes it: indefinite lengths around the
    content, the ciphertext a constructed OCTET STRING of `piece`-byte pieces."""
    info = cms.ContentInfo.load(der)
    data = info["content"]
    eci = data["auth_encrypted_content_info"]
    text = eci["encrypted_content"].native
    pieces = b"".join(b"\x04" + _length(len(c)) + c for c in (text[i:i + piece] for i in range(0, len(text), piece)))
    eci_ber = (b"\x30\x80" + eci["content_type"].dump() + eci["content_encryption_algorithm"].dump()
               + b"\xa0\x80" + pieces + b"\x00\x00" + b"\x00\x00")
    body = data["version"].dump() + data["recipient_infos"].dump() + eci_ber + data["mac"].dump()
    return b"\x30\x80" + info["content_type"].dump() + b"\xa0\x80\x30\x80" + body + b"\x00\x00" * 3


def _length(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")


def test_a_streamed_ciphertext_in_pieces_opens(ours, tmp_path):
    entity = ENTITY + b"x" * 50_000
    (tmp_path / "big").write_bytes(entity)
    der = _der(_openssl(ours.certificate, entity, tmp_path, "-aes-256-gcm"))
    for piece in (1000, 7):
        assert decrypt_auth_enveloped(_streamed(der, piece), [ours])[0].replace(b"\r\n", b"\n") \
            == entity.replace(b"\r\n", b"\n")


def test_a_ciphertext_in_a_million_pieces_is_refused_at_once(ours, tmp_path):
    """asn1crypto found the end of each indefinite level by parsing all inside it and
    joined the pieces by repeated concatenation: 1 MB in 1-byte pieces held the pipeline
    runner 31 s, 6 MB a minute, encrypted to no key at all (session 41's red team)."""
    import time

    der = _der(_openssl(ours.certificate, ENTITY + b"x" * 1_000_000, tmp_path, "-aes-256-gcm"))
    streamed = _streamed(der, 1)
    started = time.process_time()
    with pytest.raises(SecrecyError, match="cannot be read"):
        decrypt_auth_enveloped(streamed, [ours])
    assert time.process_time() - started < 10
