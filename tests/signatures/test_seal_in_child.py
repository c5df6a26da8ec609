"""The key store's seal is read and checked by the stamping child, not the delivery
runner (gateway/signatures/settings.py `seal_for_stamping`, `SealKey.resolved`): the
runner loads no `cryptography` (~9 MiB; docs/performance.md, session 30). What the
clerk sees is what it was: a letter filed while the seal is unusable says so in
`X-Saraban-Stamp`, and once the key is rotated the next letter is stamped again,
without a restart (docs/signatures.md)."""
from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

from gateway.secrecy.keys import KeyStore
from gateway.signatures.receive_stamp import STAMP_UNAVAILABLE
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.processes import named

UNIT = "saraban.latkrabang@bangkok.go.th"
SEAL_NAME = "Saraban Gateway Seal (bangkok.go.th)"
SEAL_ADDRESS = "saraban-gateway@bangkok.go.th"


def _stamps(d: Daemon, count: int) -> list[str]:
    copies = d.wait_for(lambda: (lambda found: found if len(found) >= count else None)(d.maildir_files("latkrabang")),
                        what=f"{count} folder copies")
    return sorted(message_from_bytes(p.read_bytes())["X-Saraban-Stamp"].replace("\r\n", "").replace("\n", "")
                  for p in copies)


def test_an_expired_seal_files_unstamped_until_the_key_is_rotated(tmp_path):
    keys = KeyStore(tmp_path / "var" / "keys")
    expired = keys.create_gateway_key(SEAL_NAME, email=SEAL_ADDRESS, days=0)  # its certificate ends as it is made
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        d.send(letter(subject="ฉบับที่หนึ่ง"), UNIT)
        assert _stamps(d, 1) == [STAMP_UNAVAILABLE]
        assert any(e.get("event") == "seal_unusable" and e.get("process") == "stamp" for e in d.events())
        d.send(letter(subject="ฉบับที่สอง"), UNIT)
        assert _stamps(d, 2) == [STAMP_UNAVAILABLE] * 2
        rotated = keys.create_gateway_key(SEAL_NAME, email=SEAL_ADDRESS)  # `keys create --rotate`: CURRENT moves
        assert rotated != expired
        d.send(letter(subject="ฉบับที่สาม"), UNIT)
        assert _stamps(d, 3) == sorted([STAMP_UNAVAILABLE] * 2 + ["stamped: 2569_dds_0403_57.stamped.pdf"])
        assert any(e.get("event") == "seal_changed" for e in d.events())
        [deliver] = named(d.proc.pid, "saraban-deliver")
        assert "cryptography/hazmat/bindings" not in Path(f"/proc/{deliver}/maps").read_text()
    finally:
        d.stop()


def test_a_key_rotated_before_the_first_letter_is_taken_up_by_the_second(tmp_path):
    # The child read the expired key at start; the key is rotated before any letter
    # comes. The first letter meets the child's refusal; what the children were made
    # with is what the key store is compared with, so the second letter is stamped.
    keys = KeyStore(tmp_path / "var" / "keys")
    keys.create_gateway_key(SEAL_NAME, email=SEAL_ADDRESS, days=0)
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        d.wait_for(lambda: any(e.get("event") == "seal_unusable" and e.get("process") == "stamp"
                               for e in d.events()), what="the stamping child's refusal of the seal")
        keys.create_gateway_key(SEAL_NAME, email=SEAL_ADDRESS)
        d.send(letter(subject="ฉบับที่หนึ่ง"), UNIT)
        assert _stamps(d, 1) == [STAMP_UNAVAILABLE]
        d.send(letter(subject="ฉบับที่สอง"), UNIT)
        assert _stamps(d, 2) == sorted([STAMP_UNAVAILABLE, "stamped: 2569_dds_0403_57.stamped.pdf"])
    finally:
        d.stop()


def test_a_seal_renewed_in_place_is_taken_up_too(tmp_path):
    # A renewed certificate for the same key keeps the key's name (keys.py): CURRENT does
    # not move, the certificate file changes.
    keys = KeyStore(tmp_path / "var" / "keys")
    fp = keys.create_gateway_key(SEAL_NAME, email=SEAL_ADDRESS)
    slot = keys.path / "gateway" / fp
    good_cert = (slot / "cert.pem").read_bytes()
    other = KeyStore(tmp_path / "other")
    other_fp = other.create_gateway_key(SEAL_NAME, email=SEAL_ADDRESS)
    (slot / "cert.pem").write_bytes((other.path / "gateway" / other_fp / "cert.pem").read_bytes())  # not its key
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        d.send(letter(subject="ฉบับที่หนึ่ง"), UNIT)
        assert _stamps(d, 1) == [STAMP_UNAVAILABLE]
        (slot / "cert.pem").write_bytes(good_cert)
        d.send(letter(subject="ฉบับที่สอง"), UNIT)
        assert _stamps(d, 2) == sorted([STAMP_UNAVAILABLE, "stamped: 2569_dds_0403_57.stamped.pdf"])
    finally:
        d.stop()
