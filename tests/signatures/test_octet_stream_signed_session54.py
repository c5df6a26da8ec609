"""Through the REAL daemon: an S/MIME opaque-signed letter whose top-level entity a relay
or an older client labelled application/octet-stream, named smime.p7m ([MS-OXOSMIME]:
such an entity SHOULD be treated as opaque-signed or encrypted; Outlook opens it).

Until session 54 the gateway saw one file of a type it does not take: the letter was
held "no letter found in this mail; attach the cover letter as a PDF" and "smime.p7m is
application/octet-stream, which is not accepted", its signature never verified. It is now
read as the same letter labelled application/pkcs7-mime: its PDF registered, its
signature verified on smime.p7m. A file so named that is no signed data stays the file it is."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf
from tests.signatures.test_pipeline_signatures import entry_for, quarantined

TO = "saraban.latkrabang@bangkok.go.th"
PKCS7 = b'application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'
OCTET = b'application/octet-stream; name="smime.p7m"'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("octsig")
    d = Daemon(write_config(root, extra=f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n'
                                        f'revocation_dir = "{pki.revocation_dir}"\n')).start()
    yield d
    d.stop()


def _signed_letter(pki, tmp_path, label: bytes, text: str) -> tuple[bytes, str]:
    inner = letter(subject="x", body="ที่ กท 0403/57\nเรื่อง ส่งหนังสือ\n",
                   files=[("2569_dds_0403_57.pdf", make_pdf(f"cover letter {text}"))])
    head, _, body = inner.partition(b"\r\n\r\n")
    (tmp_path / "entity").write_bytes(
        b"\r\n".join(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-")) + b"\r\n\r\n" + body)
    signed = subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-in", str(tmp_path / "entity"),
                             "-signer", str(pki.valid.cert_path), "-inkey", str(pki.valid.key_path),
                             "-certfile", str(pki.sub_ca.cert_path)], capture_output=True, check=True).stdout
    assert PKCS7 in signed
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    outer = f"From: saraban.dds@bangkok.go.th\r\nTo: {TO}\r\nSubject: s\r\nMessage-ID: {mid}\r\n".encode()
    return outer + signed.replace(PKCS7, label).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), mid


@pytest.mark.parametrize("label", [PKCS7, OCTET], ids=["pkcs7-mime", "octet-stream"])
def test_the_signed_letter_is_registered_and_its_signature_verified(gateway, pki, tmp_path, label):
    raw, mid = _signed_letter(pki, tmp_path, label, label.decode()[:20])
    queue_id = gateway.send(raw, TO)
    entry = entry_for(gateway, mid, TO)
    assert quarantined(gateway, queue_id) == []
    rules = [f["rule"] for f in entry["findings"]]
    assert "no_document" not in rules and "allowed_types" not in rules, entry["findings"]
    files = {a["filename"]: a for a in entry["attachments"]}
    assert set(files) == {"2569_dds_0403_57.pdf", "smime.p7m"}, files
    [verdict] = files["smime.p7m"]["signatures"]
    assert verdict["indication"] == "TOTAL_PASSED", verdict
    assert entry["review"] is False


def test_an_octet_stream_p7m_that_is_no_signed_data_stays_a_file(gateway):
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    raw = (f"From: saraban.dds@bangkok.go.th\r\nTo: {TO}\r\nSubject: s\r\nMessage-ID: {mid}\r\n"
           "MIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=\"smime.p7m\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\nbm90IGNtcyBhdCBhbGw=\r\n").encode()
    queue_id = gateway.send(raw, TO)
    gateway.wait_idle()
    [(_, reasons)] = quarantined(gateway, queue_id)
    assert {r["rule"] for r in reasons} >= {"no_document", "allowed_types"}, reasons
