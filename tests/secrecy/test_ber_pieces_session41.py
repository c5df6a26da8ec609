"""CMS in BER with a great many pieces is refused at once, not read for minutes
(session 41's red team; gateway/secrecy/ber.py).

asn1crypto finds the end of each indefinite-length level by parsing everything inside
it, and joins a constructed OCTET STRING's pieces by repeated concatenation. An
authEnveloped letter of 6 MB in 1-byte pieces held the pipeline runner a minute
(tests/classified/test_auth_enveloped_session41.py); an opaque-signed letter so written
cost the DATA check seconds a megabyte. Streaming encoders do write pieces (about 1,000
bytes each): those are still read."""
from __future__ import annotations

import base64
import time

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.secrecy import ber
from gateway.secrecy.errors import SecrecyError
from gateway.secrecy.markings import classify_raw
from tests.secrecy.certs import make_cert

TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "ลับมาก\r\nแผนรักษาความปลอดภัย\r\n".encode()


def _length(n: int) -> bytes:
    size = (n.bit_length() + 7) // 8
    return bytes([n]) if n < 0x80 else bytes([0x80 | size]) + n.to_bytes(size, "big")


def _signed_in_pieces(content: bytes, piece: int) -> bytes:
    """An opaque-signed CMS whose content is a constructed OCTET STRING of `piece`-byte
    pieces inside indefinite lengths, as a streaming encoder writes it."""
    key, cert = make_cert("signer")
    der = (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256())
           .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    info = cms.ContentInfo.load(der)
    signed = info["content"]
    pieces = b"".join(b"\x04" + _length(len(c)) + c for c in (content[i:i + piece] for i in range(0, len(content), piece)))
    eci = (b"\x30\x80" + signed["encap_content_info"]["content_type"].dump()
           + b"\xa0\x80\x24\x80" + pieces + b"\x00\x00" * 3)
    body = (signed["version"].dump() + signed["digest_algorithms"].dump() + eci + signed["certificates"].dump()
            + signed["signer_infos"].dump())
    return b"\x30\x80" + info["content_type"].dump() + b"\xa0\x80\x30\x80" + body + b"\x00\x00" * 3


def _letter(der: bytes) -> bytes:
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: plan\r\n"
            b"Message-ID: <ber-1@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der))


def test_a_signed_letter_streamed_in_pieces_is_read():
    found = classify_raw(_letter(_signed_in_pieces(TEXT + b"x" * 20_000, 1000)))
    assert (found.level, found.certain) == ("secret", True), found


def test_a_signed_letter_in_a_million_pieces_is_unread_at_once():
    raw = _letter(_signed_in_pieces(TEXT + b"x" * 1_000_000, 1))
    started = time.process_time()
    found = classify_raw(raw)
    assert time.process_time() - started < 10
    assert (found.level, found.certain) == ("confidential", False), found
    assert "could not be unwrapped" in found.where


def test_counting_stops_at_the_limit():
    assert ber.within_limit(b"\x04\x01a" * 10, limit=10)
    assert not ber.within_limit(b"\x04\x01a" * 11, limit=10)
    assert ber.within_limit(b"\x30\x80" + b"\x04\x01a" * 3 + b"\x00\x00", limit=5)
    assert ber.within_limit(b"\x30\x85\xff", limit=1)  # malformed: the reader refuses it


@pytest.mark.parametrize("contents, constructed, expected", [
    (b"abc", False, b"abc"),
    (b"\x04\x01a\x04\x02bc", True, b"abc"),
    (b"\x24\x80\x04\x01a\x00\x00\x04\x01b", True, b"ab"),  # nested, indefinite
    (b"\x24\x03\x04\x01a\x04\x01b", True, b"ab"),  # nested, definite
])
def test_octets_joins_the_pieces(contents, constructed, expected):
    assert ber.octets(contents, constructed) == expected


@pytest.mark.parametrize("contents", [b"\x02\x01a", b"\x04\x05ab", b"\x04\x80ab"])
def test_octets_refuses_what_is_not_an_octet_string(contents):
    with pytest.raises(SecrecyError):
        ber.octets(contents, True)
