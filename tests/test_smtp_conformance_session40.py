"""Session 40's red team on SMTP intake, against the real daemon over loopback: AUTH
answered though never offered, UTF-8 addresses taken without SMTPUTF8 (RFC 6531 3.4),
and times of receipt out of the register's order when two letters overlap."""
from __future__ import annotations

import re
import smtplib
import time

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.test_envelope_session19 import refused_count
from tests.letters import letter
from tests.test_smtp_tls import HOST, client_context, write_certificate

LAT = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng@bangkok.go.th"  # the ordering test's unit alone


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformance")
    cert, cert_path, key_path = write_certificate(folder, "gw")
    port = free_port()
    config = write_config(folder / "gw", smtp_extra=f'tls_certificate = "{cert_path}"\ntls_key = "{key_path}"\n',
                          extra=f"[http]\nenabled = true\nport = {port}\n")
    d = Daemon(config).start()
    d.cert = cert
    d.metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield d
    d.stop()


def _utf8_client(gateway) -> smtplib.SMTP:
    client = gateway.smtp()
    client.command_encoding = "utf-8"  # smtplib would refuse to send the address at all
    return client


# -- 1. AUTH -----------------------------------------------------------------------------

AUTH_COMMANDS = ["AUTH PLAIN AHNhcmFiYW4Ac2VjcmV0", "AUTH PLAIN", "AUTH LOGIN", "AUTH LOGIN c2FyYWJhbg==",
                 "AUTH CRAM-MD5", "AUTH XOAUTH2 dXNlcj0=", "AUTH"]


def _refused_auth(client: smtplib.SMTP) -> None:
    for command in AUTH_COMMANDS:
        code, text = client.docmd(command)
        # Never 334 (a challenge) nor 235/535 (an exchange run), 538 or 504 (a hint that
        # TLS or another mechanism would do): the gateway has no AUTH at all.
        assert code == 502 and text.startswith(b"5.5.1"), (command, code, text)
        assert text.isascii() and b"AUTH not implemented" in text, text


def test_auth_is_502_before_and_after_starttls_and_never_offered(gateway):
    with gateway.smtp() as client:
        client.ehlo("mail.moi.go.th")
        assert not client.has_extn("auth")
        _refused_auth(client)
        client._host = HOST
        client.starttls(context=client_context(gateway.cert))
        client.ehlo("mail.moi.go.th")
        assert not client.has_extn("auth")  # as before STARTTLS
        _refused_auth(client)
        code, text = client.docmd("HELP")
        assert code == 250 and b"AUTH" not in text, text
        # The session goes on as any other: nothing was half-negotiated.
        assert client.mail("saraban.dds@bangkok.go.th")[0] == 250
        assert client.rcpt(LAT)[0] == 250
        code, text = client.data(letter(subject="หลัง AUTH ที่ถูกปฏิเสธ"))
    assert code == 250, text


# -- 2. UTF-8 addresses without SMTPUTF8 --------------------------------------------------

def test_utf8_mail_from_without_smtputf8_is_553_567(gateway):
    before = refused_count(gateway, "smtputf8_required")
    with _utf8_client(gateway) as client:
        client.ehlo("mail.example.th")
        for sender in ("สมชาย@example.co.th", "somchai@ราชการ.ไทย", "müller@example.de"):
            code, text = client.docmd(f"MAIL FROM:<{sender}>")
            assert code == 553 and text.startswith(b"5.6.7"), (sender, code, text)
            assert text.isascii() and b"non-ASCII address requires SMTPUTF8" in text, text
        # Nothing was taken: a RCPT now has no transaction to join.
        assert client.docmd(f"RCPT TO:<{LAT}>")[0] == 503
        # The same sender with SMTPUTF8 is taken (RFC 6531), and an ASCII one without it.
        assert client.docmd("MAIL FROM:<สมชาย@example.co.th> SMTPUTF8")[0] == 250
        client.rset()
        assert client.docmd("MAIL FROM:<somchai@example.co.th>")[0] == 250
    # Counted as any refusal is (saraban_rejected_total), since session 41.
    assert refused_count(gateway, "smtputf8_required") == before + 3


def test_utf8_rcpt_to_in_a_transaction_without_smtputf8_is_553_567(gateway):
    with _utf8_client(gateway) as client:
        client.ehlo("mail.example.th")
        assert client.docmd("MAIL FROM:<somchai@example.co.th>")[0] == 250
        for rcpt in ("สารบรรณ.ลาดกระบัง@bangkok.go.th", "saraban.latkrabang@กรุงเทพ.ไทย"):
            code, text = client.docmd(f"RCPT TO:<{rcpt}>")
            assert code == 553 and text.startswith(b"5.6.7"), (rcpt, code, text)
            assert text.isascii() and b"non-ASCII address requires SMTPUTF8" in text, text
        assert client.docmd(f"RCPT TO:<{LAT}>")[0] == 250  # the transaction is still open
    assert refused_count(gateway, "smtputf8_required") >= 2


def test_a_smtputf8_letter_from_a_utf8_sender_is_still_taken(gateway):
    with _utf8_client(gateway) as client:
        client.ehlo("mail.example.th")
        assert client.docmd("MAIL FROM:<สมชาย@example.co.th> SMTPUTF8")[0] == 250
        code, text = client.docmd("RCPT TO:<สารบรรณ@bangkok.go.th>")
        # Refused as a unit the gateway does not have, not for its UTF-8: the session said SMTPUTF8.
        assert code == 550 and b"5.6.7" not in text, text
        assert client.docmd(f"RCPT TO:<{LAT}>")[0] == 250
        code, text = client.data(letter(subject="จากผู้ส่งที่อยู่ภาษาไทย"))
    assert code == 250, text


# -- 3. the time of receipt is taken at the commit -----------------------------------------

def _data_bytes(raw: bytes) -> bytes:
    """What smtplib's data() sends: CRLF line ends, dot-stuffed."""
    data = re.sub(rb"(?:\r\n|\n|\r(?![\n]))", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def test_receive_numbers_and_times_of_receipt_are_in_one_order(gateway):
    """Letter A begins DATA first, letter B begins later and ends first: B is taken first,
    numbered first, and must not carry a later time of receipt than A."""
    slow = _data_bytes(letter(subject="หนังสือ ก ส่งช้า", to=DINDAENG))
    head, rest = slow[:200], slow[200:]
    with gateway.smtp() as first:
        first.ehlo("slow.example")
        assert first.mail("saraban.dds@bangkok.go.th")[0] == 250
        assert first.rcpt(DINDAENG)[0] == 250
        assert first.docmd("DATA")[0] == 354
        first.send(head)  # A's upload is under way, and slow
        time.sleep(1.5)  # the register shows seconds: B's moment is seconds later than A's DATA
        second = gateway.send(letter(subject="หนังสือ ข ส่งเร็ว", to=DINDAENG), DINDAENG)
        gateway.wait_for(lambda: any(e["queue_id"] == second for e in gateway.register("--unit", "saraban.dindaeng")),
                         what="B registered")
        first.send(rest + b".\r\n")
        code, text = first.getreply()
    assert code == 250, text
    first_id = text.decode().rsplit(" ", 1)[-1]
    entries = gateway.wait_for(lambda: len(got := gateway.register("--unit", "saraban.dindaeng")) == 2 and got,
                               what="both registered")
    entries.sort(key=lambda e: e["number"])
    assert [e["queue_id"] for e in entries] == [second, first_id]
    times = [e["received_at"] for e in entries]
    assert times == sorted(times), entries  # 1/2569 received no later than 2/2569
    assert first_id > second  # the spool's order (queue ids) is that order too


def test_a_commit_dated_later_reaches_the_spool_only_after_one_dated_earlier(tmp_path, monkeypatch):
    """Two commits at once in the intake's threads, the one dated first slow in its fsync
    (a busy disk): the other must not be in spool/new/ before it, or a runner numbers it
    first with the later time (the runners take spool/new/ in queue-id order)."""
    import threading

    import gateway.spool as spool_module

    spool = spool_module.Spool(tmp_path / "spool")
    first = spool.draft("saraban.dds@bangkok.go.th", [LAT])
    second = spool.draft("saraban.dds@bangkok.go.th", [LAT])
    for draft in (first, second):
        draft.write(letter(subject="หนังสือ"))
    in_fsync, disk_free = threading.Event(), threading.Event()
    real_fsync = spool_module.os.fsync

    def busy_disk(fd):  # the first letter's fsync waits for the disk
        if threading.current_thread().name == "first":
            in_fsync.set()
            disk_free.wait(10)
        return real_fsync(fd)

    monkeypatch.setattr(spool_module.os, "fsync", busy_disk)
    ids = {}

    def commit(name, draft):
        ids[name] = draft.commit()

    threads = {name: threading.Thread(target=commit, args=(name, draft), name=name)
               for name, draft in (("first", first), ("second", second))}
    threads["first"].start()
    assert in_fsync.wait(10)
    threads["second"].start()
    time.sleep(0.5)  # ample for the second commit's own fsync and rename
    seen_early = spool.pending()
    disk_free.set()
    for thread in threads.values():
        thread.join(10)
    assert seen_early == [], seen_early
    assert spool.pending() == [ids["first"], ids["second"]]
    entries = [spool.read(queue_id) for queue_id in spool.pending()]
    assert entries[0].received_at <= entries[1].received_at
