"""A letter encrypted to the gateway again inside its encryption is opened layer by
layer (RFC 8551 3.7 allows any nesting: AES-GCM inside AES-CBC, or a relay that
encrypts what it received). Until session 42 the inner layer was taken for the letter:
held with "no document" and "a file of a type not allowed", nothing said of the second
encryption (session 41's formats red team). An inner layer to someone else makes the
letter one the gateway cannot open, and says which layer."""
from __future__ import annotations

import pytest

from gateway.secrecy.envelope import MAX_ENCRYPTED_LAYERS, decrypt_incoming
from gateway.secrecy.errors import SecrecyError
from tests.classified.helpers import (
    LATKRABANG, MARKER, assert_encrypted_letter_resealed, db_rows, files_containing, make_gateway_key, wait_processed,
)
from tests.classified.test_auth_enveloped_session41 import Key, _openssl
from tests.letters import letter, make_pdf
from tests.secrecy.certs import make_cert

OUTER = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\nSubject: plan {MARKER}\r\n"
         "Message-ID: <twice@dds.bangkok.go.th>\r\n").encode()


def _entity(raw_letter: bytes) -> bytes:
    head, _, body = raw_letter.partition(b"\r\n\r\n")
    return b"\r\n".join(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-")) + b"\r\n\r\n" + body


def _encrypted(certs, raw_letter: bytes, tmp_path) -> bytes:
    """`raw_letter`'s content encrypted to each of `certs` in turn, the first innermost."""
    entity = _entity(raw_letter)
    for n, (cert, cipher) in enumerate(certs):
        (tmp_path / str(n)).mkdir()
        entity = _openssl(cert, entity, tmp_path / str(n), cipher).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        entity = _entity(entity)
    return OUTER + entity


class _Keys:
    def __init__(self, *keys):
        self.keys = list(keys)

    def all_gateway_keys(self):
        return self.keys


@pytest.fixture(scope="module")
def gateway_key() -> Key:
    return Key(*make_cert("saraban-gateway test"))


def test_a_letter_encrypted_twice_to_the_gateway_opens(gateway_key, tmp_path):
    raw = letter(body=f"ลับมาก {MARKER}\n", files=[("a.pdf", make_pdf("x"))])
    twice = _encrypted([(gateway_key.certificate, "-aes-256-gcm"), (gateway_key.certificate, "-aes-256-cbc")],
                       raw, tmp_path)
    opened = decrypt_incoming(twice, _Keys(gateway_key))
    assert MARKER.encode() in opened and b"pkcs7-mime" not in opened.lower()
    assert opened.startswith(OUTER)


def test_an_inner_layer_to_someone_else_says_so(gateway_key, tmp_path):
    _, other = make_cert("another office")
    twice = _encrypted([(other, "-aes-256-gcm"), (gateway_key.certificate, "-aes-256-gcm")],
                       letter(body=f"เรื่อง {MARKER}\n"), tmp_path)
    with pytest.raises(SecrecyError, match="encrypted again inside: layer 2"):
        decrypt_incoming(twice, _Keys(gateway_key))


def test_more_layers_than_the_limit_are_not_opened(gateway_key, tmp_path):
    layers = [(gateway_key.certificate, "-aes-128-cbc")] * (MAX_ENCRYPTED_LAYERS + 1)
    deep = _encrypted(layers, letter(body=f"เรื่อง {MARKER}\n"), tmp_path)
    with pytest.raises(SecrecyError, match=f"again inside: more than {MAX_ENCRYPTED_LAYERS} times over"):
        decrypt_incoming(deep, _Keys(gateway_key))


def test_a_letter_encrypted_twice_is_registered_and_resealed(daemon_factory, tmp_path):
    assert_encrypted_letter_resealed(daemon_factory, lambda cert, inner: _encrypted(
        [(cert, "-aes-256-gcm"), (cert, "-aes-256-cbc")], inner, tmp_path))


def test_an_inner_layer_to_someone_else_is_held_as_one_the_gateway_cannot_open(daemon_factory, tmp_path):
    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    d.start()
    _, other = make_cert("another office")
    raw = _encrypted([(other, "-aes-256-gcm"), (gateway_cert, "-aes-256-gcm")],
                     letter(body=f"เรื่อง {MARKER}\n", files=[("a.pdf", make_pdf("x"))]), tmp_path)
    queue_id = d.send(raw, LATKRABANG)
    status = wait_processed(d)
    assert status["letters"] == 0 and status["quarantine"] == {"held": 1}, status
    [(reasons,)] = db_rows(d, "select reasons from quarantine")
    assert "smime_undecryptable" in reasons and "encrypted again inside its encryption" in reasons, reasons
    assert "no_document" not in reasons and "allowed_types" not in reasons, reasons
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").exists()
    assert files_containing(d.data_dir, MARKER) == []
