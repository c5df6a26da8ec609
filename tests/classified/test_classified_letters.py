"""ลับ / ลับมาก letters through the real daemon: sealed at rest, registered in the secret
book, delivered only to the secret registrar as S/MIME, and no plaintext left behind."""
from __future__ import annotations

import email
import email.policy
import hashlib
import json

from tests.classified.helpers import (
    LATKRABANG, MARKER, classified_letter, add_registrar, check_inner_signature, content_encryption_oid, db_rows,
    files_containing, log_lines_containing, make_gateway_key, maildir, outbox, registrar_open,
    wait_processed,
)
from tests.letters import SEED_REFERENCE, letter, make_pdf

def test_secret_letter_reaches_only_the_registrar_sealed_and_signed(daemon_factory):
    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    reg_key, reg_cert = add_registrar(d)
    d.start()
    raw, pdf = classified_letter("ลับมาก")
    queue_id = d.send(raw, LATKRABANG)
    wait_processed(d, registrar=1)

    # The ordinary register shows that a classified letter arrived, nothing more.
    [entry] = d.register("--unit", "saraban.latkrabang")
    assert (entry["secrecy"], entry["book"], entry["number"]) == ("secret", "secret", 1)
    assert "subject" not in entry and "reference" not in entry
    assert entry["queue_id"] == queue_id
    table = d.cli("register", "list").stdout
    assert "(ลับ)" in table and "secret" in table and MARKER not in table

    # Nothing in the unit's ordinary folder; one sealed message in the registrar's.
    assert maildir(d, "latkrabang") == []
    [sealed_path] = maildir(d, "latkrabang.secret")
    sealed = sealed_path.read_bytes()
    outer = email.message_from_bytes(sealed, policy=email.policy.default)
    assert outer["X-Saraban-Receive-No"] == entry["receive_no"]
    assert MARKER not in str(outer["Subject"])
    assert content_encryption_oid(sealed) == "aes256_cbc"

    inner = registrar_open(sealed, reg_key, reg_cert)
    entity = check_inner_signature(inner, gateway_cert)
    opened = email.message_from_bytes(entity, policy=email.policy.default)
    note, original = list(opened.iter_parts())
    assert MARKER in note.get_content() and entry["receive_no"] in note.get_content()
    assert original.get_content_type() == "message/rfc822"
    forwarded = original.get_content()
    assert MARKER in str(forwarded["Subject"])
    assert pdf in [p.get_content() for p in forwarded.iter_attachments()]
    assert raw in entity  # the letter byte for byte, as the sender sent it

    # No plaintext anywhere under the data directory (database and WAL included) or in the log.
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []
    assert not (d.data_dir / "vault" / hashlib.sha256(pdf).hexdigest()[:2]).exists()
    assert list((d.data_dir / "spool" / "new").iterdir()) == []
    [(subject, sender_name, facts)] = db_rows(d, "select subject, sender_name, facts from letters")
    assert subject is None and sender_name is None and '"sealed"' in facts


def test_registrar_view_and_export_are_audited_and_tampering_is_detected(daemon_factory, tmp_path):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    raw, pdf = classified_letter("ลับ")
    queue_id = d.send(raw, LATKRABANG)
    wait_processed(d, registrar=1)

    view = d.cli("letter", "view", queue_id, "--who", "somsri")
    assert MARKER in view.stdout and "2569_dds_0403_57.pdf" in view.stdout
    out = tmp_path / "export.eml"
    d.cli("letter", "export", queue_id, "--who", "somsri", "--out", str(out))
    assert out.read_bytes().replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert (out.stat().st_mode & 0o777) == 0o600
    refused = d.cli("letter", "view", queue_id, check=False)
    assert refused.returncode == 2 and "--who" in refused.stderr

    audit = (d.data_dir / "audit" / "audit.log").read_text().splitlines()
    actions = [(e["action"], e["who"]) for e in map(__import__("json").loads, audit)]
    assert ("view", "somsri") in actions and ("export", "somsri") in actions
    assert ("seal_for_registrar", "saraban-gateway") in actions
    assert "OK" in d.cli("audit", "verify").stdout

    # One flipped byte in the stored ciphertext: the letter is refused, never shown changed.
    blob = d.data_dir / "secret" / queue_id / "raw.sgv"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.chmod(0o600)
    blob.write_bytes(bytes(data))
    tampered = d.cli("letter", "export", queue_id, "--who", "somsri", check=False)
    assert tampered.returncode == 3 and "changed" in tampered.stderr
    assert MARKER.encode() not in tampered.stdout.encode()


def test_missing_registrar_certificate_keeps_letter_sealed_quarantined_and_alerted(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    raw, _ = classified_letter("ลับ")
    queue_id = d.send(raw, LATKRABANG)
    status = wait_processed(d, alert=1)

    assert status["quarantine"] == {"held": 1}
    assert outbox(d, "registrar").get("done", 0) == 0
    # The sealed copy waits, and `outbox list` says for what (its own exception class
    # since session 44: RegistrarCopyWaits), with the unit the certificate is missing for.
    [waiting] = [i for i in json.loads(d.cli("outbox", "list", "--json").stdout) if i["kind"] == "registrar"]
    assert waiting["state"] != "done" and "cannot be made yet" in waiting["last_error"], waiting
    assert "no secret registrar certificate for saraban.latkrabang" in waiting["last_error"], waiting
    assert [r[0] for r in db_rows(d, "select last_error from outbox where kind = 'registrar'")] == [
        "RegistrarCopyWaits: no secret registrar certificate for saraban.latkrabang"]
    assert maildir(d, "latkrabang.secret") == [] and maildir(d, "latkrabang") == []
    [alert] = maildir(d, "secrecy-alerts")
    text = email.message_from_bytes(alert.read_bytes(), policy=email.policy.default).get_content()
    assert queue_id in text and "import-registrar" in text
    assert any(e.get("event") == "classified_undeliverable" for e in d.events())
    [(reasons, subject)] = db_rows(d, "select reasons, subject from quarantine")
    assert "registrar_certificate" in reasons and subject is None
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []

    # status and check-config say which units are in that state (issue 14, item 15).
    gap = "1 unit(s) with classified mail have no registrar certificate (saraban.latkrabang)"
    assert gap in d.cli("status").stdout and gap in d.cli("check-config").stderr

    # A registrar certificate arrives: delivery resumes by itself, the hold is released.
    add_registrar(d)
    wait_processed(d, registrar=1)
    assert "no registrar certificate" not in d.cli("status").stdout
    assert len(maildir(d, "latkrabang.secret")) == 1
    assert d.status()["quarantine"] == {"released": 1}


def test_the_marker_search_finds_an_ordinary_letter_everywhere(daemon):
    """The no-plaintext checks above mean something: the same search finds an
    unclassified letter's marker in the vault, the folder copy and the database."""
    raw = letter(subject=f"แผนงานประจำปี {MARKER}", body=f"ที่ {SEED_REFERENCE}\nเรื่อง {MARKER}\n",
                 files=[("2569_dds_0403_57.pdf", make_pdf(f"cover {MARKER}"))])
    daemon.send(raw, LATKRABANG)
    daemon.wait_idle()
    hits = files_containing(daemon.data_dir, MARKER)
    assert any(h.startswith("vault/") for h in hits)
    assert any(h.startswith("folders/latkrabang/") for h in hits)
    assert any(h.startswith("saraban.db") for h in hits)
