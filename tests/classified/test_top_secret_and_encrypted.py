"""ลับที่สุด (top secret) refused or sealed into quarantine; already-encrypted arrivals
(S/MIME to the gateway, password-protected PDF) handled as classified."""
from __future__ import annotations

import email
import json
import email.policy
import io

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from pypdf import PdfReader, PdfWriter

from tests.classified.helpers import (
    LATKRABANG, MARKER, classified_letter, add_registrar, assert_encrypted_letter_resealed, check_inner_signature, db_rows,
    files_containing, log_lines_containing, make_gateway_key, maildir, registrar_open, wait_processed,
)
from gateway.spool import Spool
from tests.letters import SEED_DATE, SEED_REFERENCE, letter, make_pdf


def test_top_secret_subject_gets_550_and_leaves_nothing_behind(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    raw, _ = classified_letter("ลับที่สุด", message_id="<ts-1@dds.bangkok.go.th>")
    with d.smtp() as client:
        client.ehlo("test.example")
        client.mail("saraban.dds@bangkok.go.th")
        client.rcpt(LATKRABANG)
        code, reply = client.data(raw)
    assert code == 550
    text = reply.decode()
    # ASCII (RFC 5321, no SMTPUTF8 here); the Thai word transliterated so staff recognise it.
    assert text.startswith("5.7.0") and text.isascii() and "LAB THI SUT" in text and "paper" in text

    status = d.wait_for(lambda: (s := d.status())["refused"].get("top_secret") and s, what="refusal counted")
    assert status["refused"] == {"top_secret": 1}
    assert status["spool"]["pending"] == 0 and status["messages"] == {} and status["letters"] == 0
    [(reason, mail_from, message_id)] = db_rows(d, "select reason, mail_from, message_id from refusals")
    assert (reason, mail_from, message_id) == ("top_secret", "saraban.dds@bangkok.go.th", "<ts-1@dds.bangkok.go.th>")
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []
    assert any(e.get("event") == "top_secret_refused" for e in d.events())


def test_top_secret_found_after_intake_is_sealed_into_quarantine(daemon_factory):
    """Over SMTP a ลับที่สุด body is refused at DATA (tests/hostile/test_markings_smtp.py);
    a letter pulled over IMAP has no DATA to refuse at, and reaches the pipeline."""
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    pdf = make_pdf(f"cover letter {MARKER}")
    body = (f"ลับที่สุด\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนป้องกัน {MARKER}\n"
            f"เรียน ผู้อำนวยการเขตลาดกระบัง\n")
    raw = letter(subject=f"แผนป้องกัน {MARKER}", body=body, files=[("2569_dds_0403_57.pdf", pdf)])
    # Spooled as IMAP intake spools it: there is no SMTP reply to refuse it with.
    queue_id = Spool(d.data_dir / "spool").accept(raw, "saraban.dds@bangkok.go.th", [LATKRABANG])
    status = wait_processed(d, alert=1)

    assert status["letters"] == 0 and status["quarantine"] == {"held": 1}
    [(reasons, subject)] = db_rows(d, "select reasons, subject from quarantine")
    assert "top_secret" in reasons and subject is None
    # The sender is told (the notices runner builds it from this item) ...
    [(key, payload)] = db_rows(d, "select key, payload from outbox where kind = 'notice'")
    notice = json.loads(payload)
    assert key == f"reject:{queue_id}:saraban.latkrabang"
    assert (notice["type"], notice["classified"], notice["subject"], notice["reference"]) == (
        "reject", True, None, None)
    assert [f["rule"] for f in notice["findings"]] == ["top_secret"]
    # ... the unit's secret registrar is alerted, and nothing reaches the ordinary folder.
    [alert] = maildir(d, "latkrabang.secret")
    note = email.message_from_bytes(alert.read_bytes(), policy=email.policy.default)
    assert note["X-Saraban-Alert"] == "top_secret" and queue_id in note.get_content()
    # The same Message-ID at every attempt: a retry finds an alert the registrar moved on
    # (session 35: a fresh one each attempt filed it twice over IMAP).
    assert note["Message-ID"] == f"<{queue_id}.saraban.latkrabang.top_secret.registrar-alert@bangkok.go.th>"
    assert maildir(d, "latkrabang") == []
    # The whole message is kept, encrypted only.
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").read_bytes()[:4] == b"SGV1"
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []
    assert list((d.data_dir / "spool" / "new").iterdir()) == []


def _smime_to(cert, raw_letter: bytes, outer_subject: str) -> bytes:
    """What Thunderbird sends when told to encrypt: the body entity enveloped, the
    usual headers outside."""
    head, _, body = raw_letter.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    entity_head = [ln for ln in lines if ln.lower().startswith((b"content-", b"mime-version"))]
    entity = b"\r\n".join(entity_head) + b"\r\n\r\n" + body
    smime = (pkcs7.PKCS7EnvelopeBuilder().set_data(entity).add_recipient(cert)
             .set_content_encryption_algorithm(algorithms.AES256)
             .encrypt(serialization.Encoding.SMIME, []))
    outer = (f"From: saraban.dds@bangkok.go.th\r\nTo: {LATKRABANG}\r\n"
             f"Subject: {outer_subject}\r\nMessage-ID: <smime-1@dds.bangkok.go.th>\r\n").encode()
    return outer + smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_smime_to_the_gateway_is_reencrypted_for_the_registrar(daemon_factory):
    assert_encrypted_letter_resealed(daemon_factory, lambda cert, inner: _smime_to(cert, inner, f"plan {MARKER}"))


def _password_pdf(text: str) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(text))).pages:
        writer.add_page(page)
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf_is_classified_opaque_and_forwarded_as_it_came(daemon_factory):
    d = daemon_factory()
    gateway_cert = make_gateway_key(d)
    reg_key, reg_cert = add_registrar(d)
    d.start()
    locked = _password_pdf("locked letter")
    raw = letter(subject=f"งบประมาณ {MARKER}", files=[("2569_dds_0403_57.pdf", locked)])
    d.send(raw, LATKRABANG)
    wait_processed(d, registrar=1)

    [entry] = d.register()
    assert (entry["secrecy"], entry["book"], entry["review"]) == ("confidential", "secret", True)
    [(findings,)] = db_rows(d, "select findings from letters")
    assert "classified_opaque" in findings
    assert maildir(d, "latkrabang") == []
    [sealed] = maildir(d, "latkrabang.secret")
    entity = check_inner_signature(registrar_open(sealed.read_bytes(), reg_key, reg_cert), gateway_cert)
    assert raw in entity  # forwarded as it came, password and all
    original = [p for p in email.message_from_bytes(entity, policy=email.policy.default).iter_parts()
                if p.get_content_type() == "message/rfc822"][0].get_content()
    assert locked in [p.get_content() for p in original.iter_attachments()]
    assert files_containing(d.data_dir, MARKER) == []


def test_smime_the_gateway_cannot_open_is_quarantined_sealed(daemon_factory):
    from tests.secrecy.certs import make_cert

    d = daemon_factory()
    make_gateway_key(d)
    d.start()
    _, stranger = make_cert("someone else")
    queue_id = d.send(_smime_to(stranger, letter(body="x"), f"plan {MARKER}"), LATKRABANG)
    status = wait_processed(d)
    assert status["letters"] == 0 and status["quarantine"] == {"held": 1}
    [(reasons, subject)] = db_rows(d, "select reasons, subject from quarantine")
    assert "smime_undecryptable" in reasons and subject is None
    assert db_rows(d, "select key from outbox where kind = 'notice'") == [(f"reject:{queue_id}:saraban.latkrabang",)]
    assert files_containing(d.data_dir, MARKER) == []  # not even the outer Subject


def test_the_registrar_of_a_unit_on_imap_is_alerted_in_their_imap_folder(daemon_factory, dovecot, dovecot_user):
    """The alert went to the gateway host's Maildir whatever the unit's backend: the
    registrar of a unit filed over IMAP never saw it. It goes where their sealed copies
    go: the registrar folder on the mail server."""
    from tests.imap_helpers import delivery_config, folder_messages

    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password))
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    body = f"ลับที่สุด\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนป้องกัน {MARKER}\n"
    raw = letter(subject=f"แผนป้องกัน {MARKER}", body=body, files=[])
    queue_id = Spool(d.data_dir / "spool").accept(raw, "saraban.dds@bangkok.go.th", [LATKRABANG])
    wait_processed(d, alert=1)

    [(flags, note)] = folder_messages(dovecot, user, "Saraban/latkrabang/Secret")
    assert note["X-Saraban-Alert"] == "top_secret" and note["X-Saraban-Queue-Id"] == queue_id
    assert queue_id in note.get_content() and MARKER not in note.as_string()
    assert maildir(d, "latkrabang.secret") == [] and maildir(d, "latkrabang") == []
