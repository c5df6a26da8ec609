"""What the classified tests share: keys made through the CLI, waiting on the outbox,
decrypting as a registrar would, and searching a directory for a marker string."""
from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs7

from tests.letters import SEED_DATE, SEED_REFERENCE, letter, make_pdf
from tests.secrecy.certs import make_cert, pem

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
MARKER = "ZQXJ-MARKER-4821-KPLV-SECRET"  # ASCII: SQLite JSON would escape Thai


def classified_letter(marking: str = "ลับ", marker: str = MARKER, message_id: str | None = None) -> tuple[bytes, bytes]:
    pdf = make_pdf(f"{marking} cover letter {marker}")
    body = (f"{marking}\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนรักษาความปลอดภัย {marker}\n"
            f"เรียน ผู้อำนวยการเขตลาดกระบัง\n\nเนื้อความ {marker}\n")
    raw = letter(subject=f"{marking} แผนรักษาความปลอดภัย {marker}", body=body,
                 files=[("2569_dds_0403_57.pdf", pdf)], message_id=message_id)
    return raw, pdf


def make_gateway_key(d) -> x509.Certificate:
    d.cli("keys", "create", "--cn", "saraban-gateway test")  # the address: [secrecy] from_address
    fp = (d.data_dir / "keys" / "gateway" / "CURRENT").read_text().strip()
    return x509.load_pem_x509_certificate((d.data_dir / "keys" / "gateway" / fp / "cert.pem").read_bytes())


def add_registrar(d, unit: str = "saraban.latkrabang", name: str = "สมศรี registrar"):
    key, cert = make_cert(name)
    path = d.config.parent / f"{name.split()[0]}.pem"
    path.write_bytes(pem(cert))
    d.cli("keys", "import-registrar", unit, str(path))
    return key, cert


def outbox(d, kind: str) -> dict:
    return d.status()["outbox"].get(kind, {})


def wait_processed(d, **done_kinds: int) -> dict:
    """Until the spool is empty and each named outbox kind has that many items done."""
    def ready():
        status = d.status_here()  # the figures `status --json` prints, without a process per poll
        if status["spool"]["pending"]:
            return None
        for kind, count in done_kinds.items():
            if status["outbox"].get(kind, {}).get("done", 0) < count:
                return None
        return status
    return d.wait_for(ready, what=f"spool empty and {done_kinds} done")


def db_rows(d, sql: str, *params) -> list[tuple]:
    con = sqlite3.connect(f"file:{d.data_dir / 'saraban.db'}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def maildir(d, folder: str) -> list[Path]:
    return d.maildir_files(folder)


def registrar_open(raw: bytes, key, cert) -> bytes:
    """Decrypt the S/MIME message as the registrar's client does (cryptography only)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "application/pkcs7-mime"
    assert msg.get_param("smime-type") == "enveloped-data"
    der = msg.get_payload(decode=True)
    return pkcs7.pkcs7_decrypt_der(der, cert, key, [])


def content_encryption_oid(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    info = cms.ContentInfo.load(msg.get_payload(decode=True))
    return info["content"]["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native


def check_inner_signature(inner: bytes, signer: x509.Certificate) -> bytes:
    """The signed letter entity, after checking the detached CMS signature by hand
    (RFC 5652 5.4): messageDigest over the exact part bytes, RSA over the attributes."""
    msg = email.message_from_bytes(inner, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/signed"
    boundary = msg.get_boundary().encode()
    data = inner.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    first = data.index(b"--" + boundary + b"\r\n") + len(boundary) + 4
    end = data.index(b"\r\n--" + boundary + b"\r\n", first)
    content = data[first:end]
    sig_part = email.message_from_bytes(data[end + len(boundary) + 6:].split(b"\r\n--" + boundary + b"--")[0])
    signed = cms.ContentInfo.load(base64.b64decode(sig_part.get_payload()))["content"]
    [si] = list(signed["signer_infos"])
    attrs = si["signed_attrs"]
    digest = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"][0]
    assert digest == hashlib.sha256(content).digest(), "the letter does not match its signature"
    signer.public_key().verify(si["signature"].native, b"\x31" + attrs.dump()[1:],
                               padding.PKCS1v15(), hashes.SHA256())
    return content


def needles(marker: str) -> tuple[list[bytes], list[bytes]]:
    """(literal forms, base64 forms) of a marker: a file holding the letter in MIME
    form has it base64-encoded at one of three alignments."""
    raw = marker.encode("utf-8")
    literal = [raw, marker.encode("utf-16-le")]
    b64 = []
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw)
        start = 4 if pad else 0
        stop = 4 * ((pad + len(raw)) // 3)
        b64.append(enc[start:stop])
    return literal, b64


def files_containing(root: Path, marker: str) -> list[str]:
    """Every file under root (database, WAL, spool, vault, folders, keys ...) whose
    bytes hold the marker, literally or base64-encoded."""
    literal, b64 = needles(marker)
    hits = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if not path.is_file():  # sockets and named pipes
                continue
            try:
                data = path.read_bytes()
            except PermissionError:
                os.chmod(path, 0o600)
                data = path.read_bytes()
            flat = data.replace(b"\r", b"").replace(b"\n", b"")
            if any(n in data for n in literal) or any(n in flat for n in b64):
                hits.append(str(path.relative_to(root)))
    return hits


def log_lines_containing(d, marker: str) -> list[str]:
    literal, b64 = needles(marker)
    text = d.log_path.read_bytes()
    escaped = json.dumps(marker)[1:-1].encode()
    return [line.decode("utf-8", "replace")[:200] for line in text.splitlines()
            if any(n in line for n in literal + b64) or escaped in line]


def assert_sealed_nowhere_plain(d, queued: dict[str, str], folder: str = "latkrabang", marker: str = MARKER) -> None:
    """Each letter sent (name -> queue id) is in the secret book only, sealed, its
    subject kept nowhere in plain; the unit's folder is empty and the marker is in no
    file of the data directory and no line of the log."""
    for name, qid in queued.items():
        assert db_rows(d, "select count(*) from letters where queue_id = ? and book = 'general'", qid) == [(0,)], name
        assert db_rows(d, "select subject from letters where queue_id = ? union all "
                          "select subject from quarantine where queue_id = ?", qid, qid) == [(None,)], name
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1", name
    assert maildir(d, folder) == []
    # The spool file is shredded just after the register's commit, which is what a
    # caller waits for: under load (a full suite beside a second one) the look came
    # between the two and found the letter's own spool file, which is the plaintext
    # the gateway holds, by design, until the letter is registered and sealed.
    queue_ids = set(queued.values())
    d.wait_for(lambda: not any(p.name.split(".")[0] in queue_ids for p in (d.data_dir / "spool" / "new").iterdir()),
               timeout=30, what="the letters' spool files shredded")
    found = files_containing(d.data_dir, marker)
    assert found == [], found
    assert log_lines_containing(d, marker) == []


def key_pem_bytes(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@contextmanager
def sealing_daemon(folder: Path, extra: str = "") -> Iterator:
    """A started daemon (configuration in `folder`) that can seal: the gateway's key and
    the latkrabang unit's secret registrar; stopped after."""
    from tests.daemon import Daemon, write_config

    d = Daemon(write_config(folder, extra=extra))
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def assert_one_letter_sealed(d, queue_id: str, marker: str = MARKER, folder: str = "latkrabang") -> None:
    """One letter registered ลับมาก in the secret book, sealed in the secret store, no
    copy in the unit's folder, its marker in no file of the data directory."""
    assert db_rows(d, "select secrecy, book from letters where queue_id = ?", queue_id) == [("secret", "secret")]
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").read_bytes()[:4] == b"SGV1"
    assert maildir(d, folder) == []
    assert files_containing(d.data_dir, marker) == []


def assert_held_sealed(d, queue_id: str, marker: str = MARKER, folder: str = "latkrabang") -> None:
    """One letter held in quarantine sealed for the secret registrar: no subject kept,
    its raw message in the secret store, no copy in the unit's folder, its marker in no
    file of the data directory."""
    d.wait_idle()
    [(subject, reasons)] = db_rows(d, "select subject, reasons from quarantine where queue_id = ?", queue_id)
    assert subject is None and "kept encrypted for the secret registrar" in reasons
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").read_bytes()[:4] == b"SGV1"
    assert maildir(d, folder) == []
    assert files_containing(d.data_dir, marker) == []


def assert_encrypted_letter_resealed(daemon_factory, encrypt) -> None:
    """A daemon with a gateway key and a registrar is sent a letter `encrypt(gateway
    certificate, letter)` makes of a cover letter: it is decrypted, registered and
    sealed again for the registrar (`assert_decrypted_and_resealed`). The daemon back."""
    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    reg_key, reg_cert = add_registrar(d)
    d.start()
    pdf = make_pdf(f"cover letter {MARKER}")
    inner = letter(subject="ignored", body=f"ที่ {SEED_REFERENCE}\nเรื่อง {MARKER}\n",
                   files=[("2569_dds_0403_57.pdf", pdf)])
    queue_id = d.send(encrypt(gateway_cert, inner), LATKRABANG)
    assert_decrypted_and_resealed(d, queue_id, pdf, reg_key, reg_cert, gateway_cert)
    return d


def assert_decrypted_and_resealed(d, queue_id: str, pdf: bytes, reg_key, reg_cert, gateway_cert) -> None:
    """An S/MIME letter encrypted to the gateway: registered in the secret book, its PDF
    decrypted and sealed again for the registrar, no plaintext on disk or in the log."""
    wait_processed(d, registrar=1)
    [entry] = d.register()
    assert (entry["secrecy"], entry["book"]) == ("confidential", "secret")
    [sealed] = maildir(d, "latkrabang.secret")
    entity = check_inner_signature(registrar_open(sealed.read_bytes(), reg_key, reg_cert), gateway_cert)
    forwarded = email.message_from_bytes(entity, policy=email.policy.default)
    original = [p for p in forwarded.iter_parts() if p.get_content_type() == "message/rfc822"][0].get_content()
    assert pdf in [p.get_content() for p in original.iter_attachments()]
    assert (d.data_dir / "secret" / queue_id / "arrival.sgv").exists()
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def assert_held_sealed_unopened(d, queue_id: str) -> None:
    """The letter is held, sealed, as one the gateway cannot open, and its text (MARKER)
    is in no file of the data directory."""
    status = wait_processed(d)
    assert status["letters"] == 0 and status["quarantine"] == {"held": 1}, status
    [(reasons,)] = db_rows(d, "select reasons from quarantine")
    assert "smime_undecryptable" in reasons and "does not hold" in reasons, reasons
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").exists()
    assert files_containing(d.data_dir, MARKER) == []
