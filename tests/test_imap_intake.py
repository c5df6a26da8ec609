"""Central mailboxes that stay on the mail server: the gateway pulls them over IMAP
(IDLE, or polling), registers each letter once, and marks it on the server only after
the registration is committed."""
from __future__ import annotations

import re
import time

from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _letter(n: int) -> bytes:
    return letter(message_id=f"<intake-{n}-{id(object())}@dds.bangkok.go.th>")


def _connected(d: Daemon, count: int = 1) -> None:
    d.wait_for(lambda: sum(e.get("event") == "imap_connected" for e in d.events()) >= count,
               timeout=60, what=f"IMAP connection #{count}")


def _registered(d: Daemon, count: int) -> list[dict]:
    return d.wait_for(lambda: (lambda r: r if len(r) == count else None)(d.register()), timeout=60,
                      what=f"{count} registered letters")


def _unmarked_and_renumbered(dovecot, user: str) -> None:
    """Our keyword stripped, as a clerk's client might, then the mailbox renumbered."""
    conn = dovecot.imap(user)
    conn.select("INBOX")
    conn.uid("STORE", "1:*", "-FLAGS", "($SarabanRegistered)")
    conn.logout()
    dovecot.change_uidvalidity(user)


def _rounds(d: Daemon, mailbox: str, count: int) -> None:
    """Until the intake has listed the mailbox `count` more times: each round notes when
    its listing began (storage/intake.py `note_listed`), before it looks at any message."""
    import os

    from gateway.config.settings import load_settings
    from storage.db import Database
    from storage.intake import listed_at

    db = Database(load_settings(d.config, environ=dict(os.environ, **d.env)).database_url)
    try:
        def listing():
            with db.session() as session:
                return listed_at(session, mailbox)
        seen = {listing()}
        d.wait_for(lambda: seen.add(listing()) or len(seen) > count, timeout=60, interval=0.05,
                   what=f"{count} more listings of {mailbox}")
    finally:
        db.dispose()


def _all_marked(dovecot, user: str, count: int, folder: str = "INBOX", keyword: str = "$SarabanRegistered"):
    def marked():
        flags = mailbox_flags(dovecot, user, folder)
        return len(flags) == count and all(keyword in f for f in flags)
    from tests.servers.common import wait_until
    assert wait_until(marked, 60, interval=0.2), mailbox_flags(dovecot, user, folder)


def test_idle_picks_up_a_new_letter_and_marks_it_after_registration(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    # Polling only every 10 minutes: a pickup within the test's wait can only come from IDLE.
    d = daemon_factory(extra=intake_config(dovecot, user, password, poll_interval=600)).start()
    _connected(d)
    dovecot.deliver(user, letter(message_id="<idle-1@dds.bangkok.go.th>"))
    [entry] = _registered(d, 1)
    assert entry["unit"] == "saraban.latkrabang" and entry["number"] == 1
    assert entry["message_id"] == "<idle-1@dds.bangkok.go.th>"
    assert entry["sender"] == "saraban.dds@bangkok.go.th"
    _all_marked(dovecot, user, 1)
    [flags] = mailbox_flags(dovecot, user)
    assert "\\Seen" not in flags  # the gateway peeks; it does not read the clerk's mail
    # The flag is on the server a moment before the runner logs that it set it.
    events = [e["event"] for e in d.wait_for_event("imap_message_marked", timeout=30)]
    assert events.index("imap_message_spooled") < events.index("registered") < events.index("imap_message_marked")
    status = d.status()["imap_intake"]
    [(key, info)] = status.items()
    assert key == f"imap://{user}@{dovecot.host}/INBOX"
    assert info["messages"] == {"marked": 1} and info["holder"]
    assert re.search(r"imap +imap://.*: marked 1; read by ", d.cli("status").stdout)


def test_waiting_mail_and_a_server_restart_mid_session(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    dovecot.deliver(user, _letter(1))  # arrived while the gateway was down
    dovecot.deliver(user, _letter(2))
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    _registered(d, 2)
    _all_marked(dovecot, user, 2)
    dovecot.restart()  # Dovecot says BYE to the IDLE session and goes away for a moment
    dovecot.deliver(user, _letter(3))
    entries = _registered(d, 3)
    assert sorted(e["number"] for e in entries) == [1, 2, 3]
    _all_marked(dovecot, user, 3)
    assert any(e.get("event") == "imap_reconnect" for e in d.events())
    assert sum(e.get("event") == "imap_connected" for e in d.events()) >= 2


def test_uidvalidity_change_takes_nothing_twice(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    dovecot.deliver(user, _letter(1))
    dovecot.deliver(user, _letter(2))
    _registered(d, 2)
    _all_marked(dovecot, user, 2)
    d.stop()
    dovecot.change_uidvalidity(user)  # every UID the gateway knows is now meaningless
    dovecot.deliver(user, _letter(3))
    d.start()
    entries = _registered(d, 3)
    assert sorted(e["number"] for e in entries) == [1, 2, 3]
    _all_marked(dovecot, user, 3)
    assert any(e.get("event") == "imap_uidvalidity_changed" for e in d.events())
    assert len(d.register()) == 3  # still three after everything settled


def test_uidvalidity_change_before_marking_recognises_message_ids(daemon_factory, dovecot, dovecot_user):
    """Messages taken but not yet marked when the UIDs changed are known by Message-ID."""
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    dovecot.deliver(user, _letter(1))
    _registered(d, 1)
    _all_marked(dovecot, user, 1)
    d.stop()
    _unmarked_and_renumbered(dovecot, user)
    d.start()
    d.wait_for(lambda: any(e.get("event") == "imap_message_known" for e in d.events()), timeout=60,
               what="the message to be recognised")
    _all_marked(dovecot, user, 1)  # marked again, under its new UID
    d.wait_idle()
    assert len(d.register()) == 1


def test_a_new_letter_reusing_a_message_id_after_a_uidvalidity_change_is_registered(daemon_factory, dovecot,
                                                                                     dovecot_user):
    """Scanners and e-saraban systems reuse Message-IDs. Two letters with one Message-ID
    under one UIDVALIDITY were both registered, but after any change of it (a restore,
    a migration) every later letter with that Message-ID was recorded as "taken under
    an earlier UIDVALIDITY", marked on the server and never registered: a silent drop
    (red team of session 35). The Message-ID now stands for a letter taken before only
    for a message that reached the mailbox before that letter was taken."""
    import time

    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    reused = f"<reused-{id(object())}@scanner.dds.bangkok.go.th>"
    dovecot.deliver(user, letter(subject="หนังสือฉบับที่หนึ่ง เรื่อง ขอเชิญประชุม", message_id=reused))
    _registered(d, 1)
    _all_marked(dovecot, user, 1)
    d.stop()
    _unmarked_and_renumbered(dovecot, user)  # the restored letter must be known
    time.sleep(1.1)  # INTERNALDATE counts whole seconds
    dovecot.deliver(user, letter(subject="หนังสือฉบับที่สอง เรื่อง ขอส่งรายงาน", message_id=reused))
    d.start()
    entries = _registered(d, 2)
    assert sorted(e["number"] for e in entries) == [1, 2]
    _all_marked(dovecot, user, 2)
    d.wait_idle()
    assert len(d.register()) == 2
    known = [e for e in d.events() if e.get("event") == "imap_message_known"]
    assert len(known) == 1  # the first letter, given back under its new UID


def test_polling_without_idle_and_moving_to_a_processed_folder(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password, use_idle=False, poll_interval=0.5,
                                           processed_folder="Saraban/Registered")).start()
    dovecot.deliver(user, _letter(1))
    dovecot.deliver(user, _letter(2))
    _registered(d, 2)
    _all_marked(dovecot, user, 2, folder="Saraban/Registered")
    assert mailbox_flags(dovecot, user, "INBOX") == []
    connected = [e for e in d.events() if e.get("event") == "imap_connected"]
    assert connected[0]["idle"] is False


def test_quarantined_letter_is_marked_as_such_and_stays(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password, processed_folder="Saraban/Registered")).start()
    dovecot.deliver(user, b"From: someone@example.com\r\nSubject: no letter\r\nMessage-ID: <q1@example.com>\r\n\r\n"
                          b"just text\r\n")
    d.wait_for(lambda: d.status_here()["quarantine"], timeout=60, what="a quarantine entry")
    _all_marked(dovecot, user, 1, keyword="$SarabanQuarantined")
    assert d.register() == []


def test_two_gateways_on_one_mailbox_register_each_letter_once(tmp_path, dovecot, dovecot_user,
                                                              postgres_database_url):
    """Two daemons, separate spools, one database: one reads, the other takes over when it dies.
    PostgreSQL: one SQLite file is one daemon's (a second refuses to start, docs/operations.md)."""
    user, password = dovecot_user
    db_url = postgres_database_url
    extra = intake_config(dovecot, user, password, lease_ttl=3)
    gateways = [Daemon(write_config(tmp_path / name, database_url=db_url, extra=extra)) for name in ("a", "b")]
    for n in range(4):
        dovecot.deliver(user, _letter(n))
    try:
        for g in gateways:
            g.start()
        _registered(gateways[0], 4)
        for n in range(4, 7):
            dovecot.deliver(user, _letter(n))
        entries = _registered(gateways[0], 7)
        assert sorted(e["number"] for e in entries) == list(range(1, 8))
        assert len({e["message_id"] for e in entries}) == 7
        _all_marked(dovecot, user, 7)

        holders = [g for g in gateways if any(e.get("event") == "imap_lease_acquired" for e in g.events())]
        assert len(holders) == 1  # the other never read the mailbox
        [reader] = holders
        [other] = [g for g in gateways if g is not reader]
        assert not any(e.get("event") == "imap_message_spooled" for e in other.events())

        reader.kill9()  # the reading gateway dies; its lease runs out
        for n in range(7, 9):
            dovecot.deliver(user, _letter(n))
        entries = _registered(other, 9)
        assert sorted(e["number"] for e in entries) == list(range(1, 10))
        assert any(e.get("event") == "imap_lease_acquired" for e in other.events())
        _all_marked(dovecot, user, 9)
    finally:
        for g in gateways:
            g.stop()


def test_a_letter_stays_in_the_mailbox_while_the_disk_is_below_the_floor(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    dovecot.deliver(user, _letter(1))
    # A floor no disk keeps (1 PiB): what SMTP answers 452 4.3.1, IMAP intake leaves on the server.
    # Polling (Dovecot offers IDLE: with it, the next round came only after lease_ttl / 3,
    # 20 s, and the 3 s this test slept saw none), rounds 0.2 s apart.
    d = daemon_factory(extra=intake_config(dovecot, user, password, use_idle=False, poll_interval=0.2),
                       smtp_extra="min_free_mb = 1073741824\n").start()
    d.wait_for(lambda: any(e.get("event") == "imap_intake_waiting_for_disk" for e in d.events()),
               timeout=60, what="imap_intake_waiting_for_disk")
    _rounds(d, f"imap://{user}@{dovecot.host}/INBOX", 3)  # three more polling rounds, each finding the letter
    assert sum(e.get("event") == "imap_intake_waiting_for_disk" for e in d.events()) == 1  # once per spell
    assert not any(e.get("event") == "imap_message_spooled" for e in d.events())
    assert d.status()["spool"]["pending"] == 0 and d.register() == []
    [flags] = mailbox_flags(dovecot, user)
    assert "$SarabanRegistered" not in flags
    d.stop()
    # Room again (no floor): the same letter is taken, registered and marked.
    config = d.config
    config.write_text(config.read_text().replace("min_free_mb = 1073741824", "min_free_mb = 0"))
    d.start()
    _registered(d, 1)
    _all_marked(dovecot, user, 1)
