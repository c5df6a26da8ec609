"""IMAP intake red team of 7 Dec 2026 (session 56), against the real Dovecot and daemon:
a message recorded as taken ("spooling") whose bytes never reached the spool (the disk
refused the write, or the gateway was killed in between) and that is then removed from
the central mailbox (a clerk tidying the INBOX, another client expunging it).

Until now the attempt to spool it again found nothing on the server and ended every
session at that FETCH ("fetch body 1: NO message vanished"), a reconnect a second, and no
later letter of that mailbox was ever taken. Now it is listed by `status` as gone before it
was registered (Thai and English, with its sender and Message-ID), and the next letter is
registered as usual."""
from __future__ import annotations

import os

from tests.daemon import free_port
from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.servers.common import wait_until


def _spool_tmp(d) -> object:
    return next(p for p in (d.config.parent / "var").rglob("tmp") if p.parent.name == "spool" and p.is_dir())


def _expunge_all(dovecot, user: str) -> None:
    conn = dovecot.imap(user)
    try:
        conn.select("INBOX")
        conn.store("1:*", "+FLAGS", r"(\Deleted)")
        conn.expunge()
    finally:
        conn.logout()


def test_a_letter_removed_from_the_mailbox_before_it_was_spooled_does_not_stop_the_mailbox(
        daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    d.wait_for(lambda: any(e.get("event") == "imap_connected" for e in d.events()), what="intake connected")

    # The spool's disk refuses the write (its tmp directory is no longer one): the letter
    # is recorded as taken, fetched, and not written.
    tmp = _spool_tmp(d)
    away = tmp.with_name("tmp.away")
    os.rename(tmp, away)
    tmp.write_text("not a directory")
    try:
        dovecot.deliver(user, letter(subject="เรื่อง หนังสือที่ถูกลบ", message_id="<removed@dds.bangkok.go.th>"))
        d.wait_for(lambda: any(e.get("event") == "imap_reconnect" and "Not a directory" in e.get("error", "")
                               for e in d.events()), what="the spool write refused")
        # A clerk removes it from the central mailbox meanwhile.
        _expunge_all(dovecot, user)
    finally:
        tmp.unlink()
        os.rename(away, tmp)

    dovecot.deliver(user, letter(subject="เรื่อง หนังสือฉบับถัดไป", message_id="<next@dds.bangkok.go.th>"))
    entries = d.wait_for(lambda: d.register() or None, timeout=60, what="the next letter registered")
    assert [e["message_id"] for e in entries] == ["<next@dds.bangkok.go.th>"], entries
    assert wait_until(lambda: mailbox_flags(dovecot, user) == [{"$SarabanRegistered"}], 30, interval=0.2), \
        mailbox_flags(dovecot, user)

    # The sysadmin sees which letter was lost to the register, and why, in both languages.
    text = d.cli("status").stdout
    gone = [line for line in text.splitlines() if "gone from the mailbox before it was registered" in line]
    assert len(gone) == 1, text
    assert "หายไปจากกล่องจดหมายก่อนลงทะเบียน" in gone[0]
    assert "<removed@dds.bangkok.go.th>" in gone[0] and "saraban.dds@bangkok.go.th" in gone[0]
    assert "before it was written to the spool" in gone[0]
    assert "หนังสือที่ถูกลบ" not in text  # never its subject
    [mailbox] = d.status()["imap_intake"].values()
    assert [g["message_id"] for g in mailbox["gone"]] == ["<removed@dds.bangkok.go.th>"]
    assert mailbox["messages"].get("gone") == 1, mailbox
    assert any(e.get("event") == "imap_message_gone" for e in d.events())
    # The mailbox goes on: connected again after the last error.
    assert "connected again at" in text, text


def test_a_letter_still_in_the_mailbox_after_a_refused_spool_write_is_registered_once_and_answered(
        daemon_factory, dovecot, dovecot_user):
    """The honest near-miss: the disk is repaired and the letter is still there. It is
    registered once, and its sender gets the receive number as for a letter taken at the
    first try: until now the letter was spooled again without its envelope sender, and
    the acknowledgement was suppressed (`null_sender`)."""
    user, password = dovecot_user
    sink = Sink(free_port()).start()
    try:
        d = daemon_factory(extra=intake_config(dovecot, user, password) + notices_config(sink)).start()
        d.wait_for(lambda: any(e.get("event") == "imap_connected" for e in d.events()), what="intake connected")
        dovecot.deliver(user, letter(message_id="<first@dds.bangkok.go.th>"))
        d.wait_for(lambda: len(d.register()) == 1 or None, what="the first letter registered")
        tmp = _spool_tmp(d)
        away = tmp.with_name("tmp.away")
        os.rename(tmp, away)
        tmp.write_text("not a directory")
        try:
            dovecot.deliver(user, letter(message_id="<kept@dds.bangkok.go.th>"))
            d.wait_for(lambda: any(e.get("event") == "imap_reconnect" and "Not a directory" in e.get("error", "")
                                   for e in d.events()), what="the spool write refused")
        finally:
            tmp.unlink()
            os.rename(away, tmp)
        entries = {e["message_id"]: e for e in d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(
            d.register()), timeout=60, what="the letter registered")}
        assert sorted(entries) == ["<first@dds.bangkok.go.th>", "<kept@dds.bangkok.go.th>"], entries
        assert wait_until(lambda: mailbox_flags(dovecot, user) == [{"$SarabanRegistered"}] * 2, 30, interval=0.2)
        [mailbox] = d.status()["imap_intake"].values()
        assert mailbox.get("gone", []) == [] and "gone" not in mailbox["messages"], mailbox

        for message_id, entry in entries.items():
            def answered(message_id=message_id):
                return [m.message for m in sink.messages("saraban.dds@bangkok.go.th")
                        if m.message["In-Reply-To"] == message_id] or None
            [ack] = d.wait_for(answered, timeout=60, what=f"the acknowledgement of {message_id}")
            assert entry["receive_no"] in ack["Subject"], (ack["Subject"], entry["receive_no"])
        assert not [e for e in d.events() if e.get("event") == "notice_suppressed"], \
            [e for e in d.events() if e.get("event") == "notice_suppressed"]
    finally:
        sink.stop()


def test_a_letter_not_yet_spooled_when_the_uidvalidity_changed_is_registered(daemon_factory, dovecot, dovecot_user):
    """The disk refused the spool write (or the gateway was killed before it), and while
    the gateway was down the mailbox was restored (a new UIDVALIDITY, the letter still in
    it). Until now the letter was recognised by its Message-ID and its bytes as "taken
    under an earlier UIDVALIDITY", under a queue id that had never been spooled: it was
    never registered, and the intake looked for its registration five times a second
    for ever. It is taken again now, and registered once."""
    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    d.wait_for(lambda: any(e.get("event") == "imap_connected" for e in d.events()), what="intake connected")
    dovecot.deliver(user, letter(message_id="<first@dds.bangkok.go.th>"))
    d.wait_for(lambda: len(d.register()) == 1 or None, what="the first letter registered")
    tmp = _spool_tmp(d)
    away = tmp.with_name("tmp.away")
    os.rename(tmp, away)
    tmp.write_text("not a directory")
    try:
        dovecot.deliver(user, letter(message_id="<restored@dds.bangkok.go.th>"))
        d.wait_for(lambda: any(e.get("event") == "imap_reconnect" and "Not a directory" in e.get("error", "")
                               for e in d.events()), what="the spool write refused")
        d.stop()
    finally:
        tmp.unlink()
        os.rename(away, tmp)
    dovecot.change_uidvalidity(user)
    d.start()
    entries = d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(d.register()), timeout=60,
                         what="the restored letter registered")
    assert sorted(e["message_id"] for e in entries) == ["<first@dds.bangkok.go.th>", "<restored@dds.bangkok.go.th>"]
    assert wait_until(lambda: mailbox_flags(dovecot, user) == [{"$SarabanRegistered"}] * 2, 30, interval=0.2), \
        mailbox_flags(dovecot, user)
    [mailbox] = d.status()["imap_intake"].values()
    # The row of the UID the restore made meaningless says so; nothing is listed as lost.
    assert mailbox["messages"].get("superseded") == 1 and "spooling" not in mailbox["messages"], mailbox
    assert mailbox.get("gone", []) == [], mailbox
