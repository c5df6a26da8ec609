"""A genuine signature made with an RSA key under 1024 bits, through the real daemon and
the loopback DNS server (red team of 7 Dec 2026).

RFC 8301 forbids verifying with such a key (512 bits are factored in hours), and dkimpy
refuses it, but only after the signature checked out. The gateway counted it as a
failed signature: a genuine ministry letter signed with the ministry's own 512-bit key
was held with the reason a forgery gets, "this letter has no DKIM signature or SPF
pass aligned with the From domain", and `quarantine show` printed `moi.go.th=fail`;
nobody could tell the ministry what to mend. The letter is still held (the signature
does not count), now saying why: its key has 512 bits."""
from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.letters import letter
from tests.sender.test_daemon_sender import UNIT, entry_for, start
from tests.sender.test_forgery import assert_quarantined, show
from tests.sender.zones import MINISTRY, SIGNED_HEADERS, zones
from tests.servers.dns import DnsServer

# A 512-bit test key (cryptography no longer makes keys this small).
WEAK_PEM = b"""-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBAL0FUMZDe5Vp3x5ja66LCEl2ufGSr90ivKlVmTsV0pMhiUFC5hiv
odNXXlTbRiqvlU3yTeZv+B+qVa/CaXguRAsCAwEAAQJAZepfywbHs6AJ9VCV1t6P
8Uxapa35tLnuDz9gB0OU7k7Qw33afzCaTHAPPWC5dLhBac0tyYlEDA6ezwKrlWyE
QQIhAO4u4nmKL4AXr+RcONxY8FNtq5yZE1Pqyl1hbTGah3iNAiEAyyj9gScydRkQ
s4q/HGf2KC+SntKsANe3nEk4zNEhxPcCIHZP37uTwqiUG5EJpkz9+NLYRUiSWSF0
HXVpMb5UDjr5AiEAxQp1jO1Cb/Ymj6xzHQ7r3R/+2dHEh3CxoYAW+fegBBMCIHjr
+C8H4Nm5tLi/FUyH3d5I6Ue2W3cECymxxVLwDfDI
-----END RSA PRIVATE KEY-----
"""


def _record(pem: bytes) -> str:
    public = serialization.load_pem_private_key(pem, None).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


FLOOR_PEM = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())


@pytest.fixture(scope="module")
def gw_weak(tmp_path_factory):
    z = zones()
    z[f"weak512._domainkey.{MINISTRY}"] = {"TXT": [_record(WEAK_PEM)]}
    z[f"floor1024._domainkey.{MINISTRY}"] = {"TXT": [_record(FLOOR_PEM)]}
    dns = DnsServer(z, tmp_path_factory.mktemp("dns-weak")).start()
    d = start(tmp_path_factory.mktemp("weak"), "gw", dns.address)
    yield d
    d.stop()
    dns.stop()


def _signed(subject: str, selector: str, pem: bytes) -> bytes:
    raw = letter(sender=f"saraban@{MINISTRY}", subject=subject)
    return dkim.sign(raw, selector.encode(), MINISTRY.encode(), pem, include_headers=SIGNED_HEADERS) + raw


def test_a_signature_with_a_512_bit_key_is_held_saying_so(gw_weak):
    d = gw_weak
    weak = d.send(_signed("weak key", "weak512", WEAK_PEM), UNIT, sender=f"saraban@{MINISTRY}")
    floor = d.send(_signed("1024-bit key", "floor1024", FLOOR_PEM), UNIT, sender=f"saraban@{MINISTRY}")
    d.wait_idle()

    entry = assert_quarantined(d, weak, "the DKIM signature of moi.go.th does not count: its RSA key has only "
                                        "512 bits, under the 1024 RFC 8301 requires")
    [reason] = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"]
    assert "กุญแจ RSA ของลายมือชื่อมีขนาดเพียง 512 บิต" in reason["message_th"]
    assert "no DKIM signature" not in reason["message_en"]
    assert f"{MINISTRY}=policy (RSA key of 512 bits" in show(d, entry)
    # RFC 8301's floor, 1024 bits, still verifies.
    assert entry_for(d, floor)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
