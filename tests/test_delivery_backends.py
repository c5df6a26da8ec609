"""Every backend files the same copy, and speaks CRLF to its peers.

One signed letter goes to three units at once: one files by Maildir, one by IMAP APPEND
into the suite's real Dovecot, one by SMTP forward to a strict receiver (500 for a bare
LF, as RFC 5321 §2.3.8 allows). The three copies are read back the way a clerk's client
would get them and compared; then a letter sent with bare LF line ends goes the same
three ways, and a Dovecot with Maildir's own "." separator takes a folder copy."""
from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import imaplib
import re

import pytest

from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.daemon import Daemon, free_port, write_config
from tests.imap_helpers import delivery_config
from tests.letters import letter, make_pdf
from tests.notices.sink import Sink
from tests.pki import build_pki, make_letter, sign_letter
from tests.servers.dovecot import DovecotServer

IMAP_UNIT = "saraban.latkrabang"
SMTP_UNIT = "saraban.pomprap"
MAILDIR_UNIT = "saraban.dindaeng"
DEPT = "admin.pomprap@bangkok.go.th"
BARE_LF = re.compile(rb"(?<!\r)\n|\r(?!\n)")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def strict_sink():
    sink = Sink(free_port())
    sink.strict_line_ends = True
    sink.start()
    yield sink
    sink.stop()


def smtp_route(sink: Sink, unit: str = SMTP_UNIT) -> str:
    return f"""
[delivery.smtp.relay]
host = "127.0.0.1"
port = {sink.port}
timeout = 10

[delivery.units."{unit}"]
backend = "smtp"
to = ["{DEPT}"]
"""


def folder_copies(dovecot, user: str, folder: str = "Saraban/latkrabang") -> list[bytes]:
    conn = dovecot.imap(user)
    try:
        return raw_messages(conn, folder)
    finally:
        conn.logout()


def raw_messages(conn: imaplib.IMAP4, folder: str) -> list[bytes]:
    typ, _ = conn.select(f'"{folder}"', readonly=True)
    assert typ == "OK", folder
    _, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
    return [item[1] for item in data if isinstance(item, tuple)]


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return [(k, str(v)) for k, v in msg.items()]


def attachments(raw: bytes) -> dict[str, bytes]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return {p.get_filename(): p.get_content() for p in msg.iter_attachments()}


def test_one_signed_letter_is_filed_alike_by_maildir_imap_and_smtp(tmp_path, dovecot, dovecot_user, pki,
                                                                   strict_sink):
    user, password = dovecot_user
    extra = (
        "[signatures]\n"
        f'trust_roots = "{pki.roots_pem}"\n'
        f'revocation_dir = "{pki.revocation_dir}"\n'
        "timeout = 10\n"
        + delivery_config(dovecot, user, password, unit=IMAP_UNIT)
        + smtp_route(strict_sink)
    )
    d = Daemon(write_config(tmp_path, extra=extra)).start()
    try:
        signed = sign_letter(make_letter(), pki)
        to = [f"{u}@bangkok.go.th" for u in (IMAP_UNIT, SMTP_UNIT, MAILDIR_UNIT)]
        d.send(letter(to=", ".join(to), files=[("2569_dds_0403_57.pdf", signed)]), to)
        status = d.wait_idle()
        assert status["outbox"]["folder"] == {"done": 3}
        [maildir] = [p.read_bytes() for p in d.maildir_files("dindaeng")]
    finally:
        d.stop()
    [imap] = folder_copies(dovecot, user)
    [forwarded] = strict_sink.messages(DEPT)
    copies = {"maildir": maildir, "imap": imap, "smtp": forwarded.data}

    def unit_free(raw: bytes) -> list[tuple[str, str]]:
        # the unit's name, and the seal on its number, which names the unit (copy_seal.py)
        return [(k, v) for k, v in header_lines(raw) if k not in ("X-Saraban-Unit", "X-Saraban-Copy-Seal")]

    # Same headers, in the same order, with the same values (the unit's own name aside).
    assert unit_free(copies["imap"]) == unit_free(copies["maildir"]) == unit_free(copies["smtp"])
    headers = dict(header_lines(copies["imap"]))
    assert headers["X-Saraban-Receive-No"] == "1/2569" and headers["Subject"].startswith("[รับ 1/2569] ")
    assert headers["X-Saraban-Signature"].startswith("2569_dds_0403_57.pdf; TOTAL_PASSED; ")
    assert headers["X-Saraban-Stamp"] == "stamped: 2569_dds_0403_57.stamped.pdf"

    trust = TrustSettings.load([pki.roots_pem], revocation_dir=pki.revocation_dir, env={})
    verdicts = {}
    for backend, raw in copies.items():
        files = attachments(raw)
        assert set(files) == {"2569_dds_0403_57.pdf", "2569_dds_0403_57.stamped.pdf"}, backend
        assert files["2569_dds_0403_57.pdf"] == signed, backend  # the original, untouched
        stamped = files["2569_dds_0403_57.stamped.pdf"]
        assert stamped.startswith(signed), backend  # the stamp is an incremental update
        verdicts[backend] = sorted((s.field, s.indication) for s in verify_pdf(stamped, trust).signatures)
    # The sender's signature holds and the seal's stamp is there, in every copy.
    assert verdicts["imap"] == verdicts["maildir"] == verdicts["smtp"]
    assert ("Signature1", "TOTAL_PASSED") in verdicts["imap"] and len(verdicts["imap"]) == 2


def test_bare_lf_letter_is_kept_exact_and_sent_crlf_to_every_peer(tmp_path, dovecot, dovecot_user, strict_sink):
    user, password = dovecot_user
    extra = delivery_config(dovecot, user, password, unit=IMAP_UNIT) + smtp_route(strict_sink)
    d = Daemon(write_config(tmp_path, extra=extra)).start()
    try:
        # smtplib ends the DATA with the CRLF it requires: that pair is what the sender sent.
        bare = letter(to=f"{IMAP_UNIT}@bangkok.go.th").replace(b"\r\n", b"\n") + b"\r\n"
        to = [f"{u}@bangkok.go.th" for u in (IMAP_UNIT, SMTP_UNIT, MAILDIR_UNIT)]
        queue_id = d.send(bare, to)
        status = d.wait_idle()
        assert status["outbox"]["folder"] == {"done": 3}, d.cli("outbox", "list").stdout
        [entry, *_] = d.register("--unit", IMAP_UNIT)
        # The vault keeps exactly what the sender sent (evidence, signatures).
        vault = [p for p in (d.data_dir / "vault").rglob("*") if p.is_file()]
        assert any(p.read_bytes() == bare for p in vault)
        assert any(hashlib.sha256(bare).hexdigest() == p.name for p in vault)
        [maildir] = [p.read_bytes() for p in d.maildir_files("dindaeng")]
    finally:
        d.stop()
    assert entry["queue_id"] == queue_id
    [forwarded] = strict_sink.messages(DEPT)  # the strict receiver took it at the first try
    assert not BARE_LF.search(forwarded.data)
    [imap] = folder_copies(dovecot, user)
    assert not BARE_LF.search(imap)
    # The Maildir copy is a file on the gateway host: the sender's line ends, untouched;
    # the peers got the same copy with every line end made CRLF.
    assert BARE_LF.search(maildir)
    canonical = re.sub(rb"\r?\n", b"\r\n", maildir)

    def unit_free(raw: bytes) -> bytes:
        raw = re.sub(rb"X-Saraban-Copy-Seal: v1\r?\n?[ \t]*[0-9a-f]+", b"X-Saraban-Copy-Seal: -", raw)
        return re.sub(rb"X-Saraban-Unit: \S+", b"X-Saraban-Unit: -", raw)

    assert unit_free(imap) == unit_free(canonical)
    assert unit_free(forwarded.data).rstrip(b"\r\n") == unit_free(canonical).rstrip(b"\r\n")


def test_strict_receiver_refuses_bare_lf(strict_sink):
    """The receiver above is strict for real: a bare LF gets a 500, CRLF gets through."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", strict_sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", [DEPT], b"Subject: x\n\nbare\n")
        assert refused.value.smtp_code == 500
        client.sendmail("a@example.org", [DEPT], b"Subject: x\r\n\r\nfine\r\n")
    assert len(strict_sink.messages(DEPT)) == 1


@pytest.fixture(scope="module")
def dot_dovecot():
    server = DovecotServer(separator=".", prefix="INBOX.")
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - reported like the shared server's failures
        pytest.fail(f"cannot start the '.'-separator Dovecot: {exc}", pytrace=False)
    yield server
    server.stop()


def test_dovecot_with_dot_separator_and_prefix_gets_the_default_template(tmp_path, dot_dovecot):
    user, password = "saraban.latkrabang", dot_dovecot.users["saraban.latkrabang"]
    d = Daemon(write_config(tmp_path, extra=delivery_config(dot_dovecot, user, password))).start()
    try:
        # check-config creates the folder, spelt the server's way, before any letter.
        d.cli("check-config")
        d.send(letter(), f"{IMAP_UNIT}@bangkok.go.th")
        status = d.wait_idle()
        assert status["outbox"]["folder"] == {"done": 1}, d.cli("outbox", "list").stdout
        filed = [e for e in d.events() if e.get("event") == "filed"]
    finally:
        d.stop()
    assert filed[0]["folder"] == "INBOX.Saraban.latkrabang"
    conn = dot_dovecot.imap(user)
    try:
        _, listed = conn.list()
        assert any(line.endswith(b'"." INBOX.Saraban.latkrabang') for line in listed), listed
        [copy] = raw_messages(conn, "INBOX.Saraban.latkrabang")
    finally:
        conn.logout()
    assert b"X-Saraban-Receive-No: 1/2569\r\n" in copy


def test_check_config_names_the_unit_and_folder_it_cannot_create(tmp_path, dot_dovecot):
    user, password = "saraban.latkrabang", dot_dovecot.users["saraban.latkrabang"]
    # A level that holds the server's separator cannot be spelt on this server.
    d = Daemon(write_config(tmp_path, extra=delivery_config(dot_dovecot, user, password,
                                                            folder="Saraban/lat.krabang")))
    result = d.cli("check-config", check=False)
    assert result.returncode == 2
    assert 'units."saraban.latkrabang": IMAP folder \'Saraban/lat.krabang\'' in result.stderr
    assert "hierarchy separator '.'" in result.stderr
    assert "Traceback" not in result.stderr


def test_registrar_copy_by_smtp_goes_to_the_registrar_alone_byte_for_byte(tmp_path, strict_sink):
    from gateway.secrecy.envelope import letter_from_entity
    from tests.classified.helpers import (
        LATKRABANG, MARKER, classified_letter, make_gateway_key, registrar_open, wait_processed,
    )
    from tests.secrecy.certs import make_cert, pem

    registrar = "registrar.latkrabang@bangkok.go.th"
    extra = smtp_route(strict_sink, unit=IMAP_UNIT) + (
        f'[delivery.units."{IMAP_UNIT}".registrar]\nto = ["{registrar}"]\n')
    d = Daemon(write_config(tmp_path, extra=extra))
    make_gateway_key(d)
    reg_key, reg_cert = make_cert("registrar latkrabang")
    (tmp_path / "reg.pem").write_bytes(pem(reg_cert))
    d.cli("keys", "import-registrar", IMAP_UNIT, str(tmp_path / "reg.pem"))
    d.start()
    try:
        raw, _ = classified_letter("ลับ")
        d.send(raw, LATKRABANG)
        wait_processed(d, registrar=1)
        assert d.maildir_files("latkrabang.secret") == []  # not on the gateway host
    finally:
        d.stop()
    [sealed] = strict_sink.messages(registrar)
    assert strict_sink.messages(DEPT) == []  # never to the department, not even sealed
    assert sealed.rcpt_tos == [registrar] and MARKER.encode() not in sealed.data
    inner = registrar_open(sealed.data, reg_key, reg_cert)  # multipart/signed
    boundary = re.search(rb'boundary="([^"]+)"', inner).group(1)
    signed = inner.split(b"--" + boundary + b"\r\n", 2)[1].rsplit(b"\r\n--" + boundary, 1)[0]
    assert hashlib.sha256(letter_from_entity(signed)).digest() == hashlib.sha256(raw).digest()


def _binary_letter(blob: bytes, text: bytes) -> bytes:
    """A letter whose photo is sent unencoded (`binary`): CRLF-free bytes with NULs, as a
    client that speaks BINARYMIME or a careless script sends it, and a text part holding
    a NUL."""
    boundary = b"BOUNDARY-nul"
    return (b"From: saraban.dds@bangkok.go.th\r\nTo: " + IMAP_UNIT.encode() + b"@bangkok.go.th\r\n"
            b"Subject: =?utf-8?b?4LiC4Lit4LmA4LiK4Li04LiN4Lib4Lij4Liw4LiK4Li44Lih?=\r\n"
            b"Message-ID: <nul-bytes@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n--" + boundary + b"\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text + b"\r\n"
            b"--" + boundary + b"\r\nContent-Type: application/pdf; name=\"2569_dds_0403_57.pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"2569_dds_0403_57.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(make_pdf("cover letter")).replace(b"\n", b"\r\n")
            + b"--" + boundary + b"\r\nContent-Type: image/jpeg; name=\"photo.jpg\"\r\n"
            b"Content-Disposition: attachment; filename=\"photo.jpg\"\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            + blob + b"\r\n--" + boundary + b"--\r\n")


NUL_BLOB = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(b for b in range(256) if b not in (10, 13)) * 8 + b"\xff\xd9"
NUL_TEXT = "ที่ กท 0403/57\x00 เรื่อง ขอเชิญประชุม".encode()


def test_parts_holding_nul_bytes_go_as_base64_and_come_back_exact():
    """On the wire a NUL-holding part is base64 (a peer may not keep the byte: an IMAP
    literal must not carry one); decoded, it is the bytes the sender sent."""
    from gateway.delivery.wire import on_the_wire

    sent = on_the_wire(_binary_letter(NUL_BLOB, NUL_TEXT))
    assert b"\x00" not in sent
    parts = {p.get_content_type(): p for p in email.message_from_bytes(sent, policy=email.policy.compat32).walk()}
    assert parts["image/jpeg"]["Content-Transfer-Encoding"] == "base64"
    assert parts["image/jpeg"].get_payload(decode=True) == NUL_BLOB
    assert parts["text/plain"].get_payload(decode=True) == NUL_TEXT
    plain = letter()  # nothing to change: the same bytes
    assert on_the_wire(plain) == plain


def test_a_file_with_nul_bytes_is_filed_over_imap_byte_for_byte(tmp_path, dovecot, dovecot_user):
    """Dovecot stores each NUL byte of an APPEND literal as 0x80: a binary photo's bytes in
    the folder were not those the register holds the hash of (session 35's red team)."""
    user, password = dovecot_user
    d = Daemon(write_config(tmp_path, extra=delivery_config(dovecot, user, password, unit=IMAP_UNIT))).start()
    try:
        d.send(_binary_letter(NUL_BLOB, NUL_TEXT), f"{IMAP_UNIT}@bangkok.go.th")
        assert d.wait_idle()["outbox"]["folder"] == {"done": 1}, d.cli("outbox", "list").stdout
    finally:
        d.stop()
    [imap] = folder_copies(dovecot, user)
    copy = email.message_from_bytes(imap, policy=email.policy.compat32)
    files = {p.get_filename(): p.get_payload(decode=True) for p in copy.walk() if p.get_filename()}
    assert files["photo.jpg"] == NUL_BLOB
