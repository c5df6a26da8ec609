"""Letters filed into departmental folders on a real mail server (Dovecot): IMAP APPEND
and SMTP forward, chosen per unit, each a durable outbox item."""
from __future__ import annotations

import json
import sqlite3
import time

from aiosmtpd.controller import Controller

from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.intake.imap_session import mailbox_name
from tests.daemon import free_port
from tests.imap_helpers import delivery_config, folder_messages, folders, set_delivery_key
from tests.letters import SEED_SUBJECT, letter

LAT = "saraban.latkrabang@bangkok.go.th"


def test_letter_is_appended_to_the_units_folder_with_keyword(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password)).start()
    queue_id = d.send(letter(), LAT)
    d.send(letter(), "saraban.pomprap@bangkok.go.th")  # no route: stays on Maildir
    status = d.wait_idle()
    assert status["outbox"]["folder"] == {"done": 2}

    assert "Saraban/latkrabang" in folders(dovecot, user)  # created on first use
    [(flags, copy)] = folder_messages(dovecot, user, "Saraban/latkrabang")
    [entry] = d.register("--unit", "saraban.latkrabang")
    assert "$SarabanRegistered" in flags
    assert "\\Seen" not in flags  # the clerk still sees it as new
    assert copy["X-Saraban-Receive-No"] == entry["receive_no"]
    assert copy["X-Saraban-Queue-Id"] == queue_id
    assert copy["Subject"] == f"[รับ {entry['receive_no']}] {SEED_SUBJECT}"
    assert d.maildir_files("latkrabang") == []
    assert len(d.maildir_files("pomprap")) == 1
    filed = [e for e in d.events() if e.get("event") == "filed" and e.get("backend") == "imap"]
    assert filed and filed[0]["folder"] == "Saraban/latkrabang"


def test_thai_folder_named_in_the_route(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password, folder="สารบรรณ/หนังสือรับ")).start()
    d.send(letter(), LAT)
    d.wait_idle()
    encoded = mailbox_name("สารบรรณ/หนังสือรับ")
    assert encoded in folders(dovecot, user)
    [(flags, copy)] = folder_messages(dovecot, user, encoded)
    assert copy["X-Saraban-Unit"] == "saraban.latkrabang"


def test_append_is_not_repeated_after_the_connection_dropped(dovecot, dovecot_user):
    """The server stored the copy, then the connection died before we recorded it."""
    user, password = dovecot_user
    target = ImapTarget(host=dovecot.host, port=dovecot.ssl_port, tls=True, ca_file=str(dovecot.cert_path),
                        verify=True, timeout=10, username=user, password=password, folder="Saraban/dept",
                        keyword="$SarabanRegistered")
    copy = (b"X-Saraban-Receive-No: 7/2569\r\nX-Saraban-Unit: saraban.latkrabang\r\n"
            b"X-Saraban-Queue-Id: 0000000000000001abcd\r\nSubject: test\r\n\r\nbody\r\n")
    filer = ImapFiler()
    try:
        assert filer.file(target, copy, "0000000000000001abcd", "saraban.latkrabang", in_doubt=False) == "appended"
        dovecot.restart()  # the session the filer holds is cut
        # The retry reconnects, finds its own copy by header and does not append again.
        assert filer.file(target, copy, "0000000000000001abcd", "saraban.latkrabang", in_doubt=True) == "found"
        # Another unit's copy of the same message is a different item: it is appended.
        other = copy.replace(b"saraban.latkrabang", b"saraban.pomprap")
        assert filer.file(target, other, "0000000000000001abcd", "saraban.pomprap", in_doubt=True) == "appended"
    finally:
        filer.close()
    units = sorted(m["X-Saraban-Unit"] for _, m in folder_messages(dovecot, user, "Saraban/dept"))
    assert units == ["saraban.latkrabang", "saraban.pomprap"]


def test_a_units_copy_is_not_taken_for_the_copy_of_a_unit_whose_name_contains_it(dovecot, dovecot_user):
    """A district and its section filed into one folder: IMAP SEARCH HEADER matches a
    substring, so the section's copy (saraban.dindaeng.admin) was found as the
    district's (saraban.dindaeng) on a retry in doubt, and the district's copy was
    never made while its item said done (a registrar's copy alike)."""
    user, password = dovecot_user
    target = ImapTarget(host=dovecot.host, port=dovecot.ssl_port, tls=True, ca_file=str(dovecot.cert_path),
                        verify=True, timeout=10, username=user, password=password, folder="Saraban/dindaeng",
                        keyword="$SarabanRegistered")
    queue_id = "0000000000000002abcd"
    section = (b"X-Saraban-Unit: saraban.dindaeng.admin\r\nX-Saraban-Queue-Id: " + queue_id.encode()
               + b"\r\nSubject: test\r\n\r\nbody\r\n")
    district = section.replace(b"saraban.dindaeng.admin", b"saraban.dindaeng")
    filer = ImapFiler()
    try:
        assert filer.file(target, section, queue_id, "saraban.dindaeng.admin", in_doubt=False) == "appended"
        assert filer.file(target, district, queue_id, "saraban.dindaeng", in_doubt=True) == "appended"
        assert filer.file(target, district, queue_id, "saraban.dindaeng", in_doubt=True) == "found"
        assert filer.file(target, section, queue_id[:-1], "saraban.dindaeng.admin", in_doubt=True) == "appended"
    finally:
        filer.close()
    units = sorted(m["X-Saraban-Unit"] for _, m in folder_messages(dovecot, user, "Saraban/dindaeng"))
    assert units == ["saraban.dindaeng", "saraban.dindaeng.admin", "saraban.dindaeng.admin"]


def test_kill9_between_append_and_recording_files_once(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password)).start()
    d.send(letter(), LAT)
    d.wait_idle()
    d.kill9()
    # As if the daemon died after the APPEND but before the outbox row said "done".
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 0 WHERE kind = 'folder'")
    d.start()
    d.wait_idle()
    assert len(folder_messages(dovecot, user, "Saraban/latkrabang")) == 1
    assert any(e.get("event") == "imap_already_filed" for e in d.events())


def test_a_folder_copy_failing_past_dead_after_is_overdue_never_dead_and_files_once_fixed(daemon_factory, dovecot):
    """A copy of an acknowledged letter is never given up by age: a mail server down (or
    an account not yet made) over a long holiday would otherwise leave every letter of
    those days unfiled until someone ran `outbox retry --dead`."""
    user, password = f"late{time.time_ns()}", "not-yet-created"
    d = daemon_factory(extra=delivery_config(dovecot, user, password))
    set_delivery_key(d.config, "dead_after = 1.5\nretry_max = 1.0")
    d.start()
    d.send(letter(), LAT)
    d.wait_for(lambda: d.status_here()["outbox"].get("folder", {}).get("overdue"), timeout=60, what="an overdue item")
    time.sleep(2.0)  # past dead_after, several attempts more
    status = d.status()
    assert status["outbox"]["folder"] == {"pending": 1, "overdue": 1}, status["outbox"]
    text = d.cli("status").stdout
    assert "outbox     folder: overdue 1, pending 1" in text
    assert "still failing after [delivery] dead_after" in text
    [item] = json.loads(d.cli("outbox", "list", "--state", "pending", "--json").stdout)
    assert item["unit"] == "saraban.latkrabang" and item["attempts"] >= 2
    assert "login" in item["last_error"]
    overdue = [e for e in d.events() if e.get("event") == "delivery_overdue"]
    assert overdue and not [e for e in d.events() if e.get("event") == "delivery_dead"]

    dovecot.add_user(user, password)  # the mail-server admin creates the account
    d.wait_for(lambda: d.status_here()["outbox"]["folder"] == {"done": 1}, timeout=60, what="the next attempt")
    assert len(folder_messages(dovecot, user, "Saraban/latkrabang")) == 1
    assert "still failing" not in d.cli("status").stdout


def test_outbox_retry_answers_unknown_ids_clearly(daemon):
    result = daemon.cli("outbox", "retry", "999", check=False)
    assert result.returncode == 1
    assert "999: no such outbox item" in result.stderr
    assert "Traceback" not in result.stderr
    result = daemon.cli("outbox", "retry", check=False)
    assert result.returncode == 2 and "needs item ids or --dead" in result.stderr


class _Collector:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def test_smtp_forward_to_departmental_addresses(daemon_factory):
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        extra = f"""
[delivery.smtp.relay]
host = "127.0.0.1"
port = {port}
timeout = 10

[delivery.units."saraban.latkrabang"]
backend = "smtp"
to = ["admin.latkrabang@bangkok.go.th", "reg.latkrabang@bangkok.go.th"]
"""
        d = daemon_factory(extra=extra).start()
        d.send(letter(), LAT)
        d.wait_idle()
        [entry] = d.register()
    finally:
        controller.stop()
    [envelope] = collector.messages
    assert envelope.mail_from == "saraban.latkrabang@bangkok.go.th"
    assert envelope.rcpt_tos == ["admin.latkrabang@bangkok.go.th", "reg.latkrabang@bangkok.go.th"]
    # Plain ASCII headers: a sieve rule or a clerk's filter can match them as they are.
    assert f"X-Saraban-Receive-No: {entry['receive_no']}\r\n".encode() in envelope.content
    assert f"X-Saraban-Queue-Id: {entry['queue_id']}\r\n".encode() in envelope.content


def test_route_to_an_unknown_server_is_a_configuration_error(daemon_factory):
    d = daemon_factory(extra='[delivery.units."saraban.latkrabang"]\nbackend = "imap"\nserver = "nosuch"\n')
    result = d.cli("check-config", check=False)
    assert result.returncode == 2
    assert "server 'nosuch' is not a [delivery.imap.<name>] table" in result.stderr
    assert "Traceback" not in result.stderr
