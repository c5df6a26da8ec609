"""IMAP intake findings of the register red team (/tmp/redteam-register), on the real
Dovecot, as a clerk (`register list`) and a sysadmin (`status`) see them:

2. a letter is received when it reached the central mailbox (INTERNALDATE), not when
   the gateway fetched it: one that arrived at 23:50 on 31 Dec 2025 (Bangkok) belongs to
   the register of 2568 even if fetched in 2569;
3. a restored mailbox (new UIDVALIDITY, our keywords gone) gives back a letter without a
   Message-ID: it is known by its bytes and not registered twice;
4. a letter too big to take (never its subject) and a login the server refuses are shown
   by `status`."""
from __future__ import annotations

import datetime as dt
import re
import time

from rules.thai_time import BANGKOK, thai_datetime
from tests.daemon import Daemon, TestClock, write_config
from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter, make_pdf
from tests.servers.common import wait_until

LATE_DECEMBER = '"31-Dec-2025 23:50:00 +0700"'  # 31 ธ.ค. 2568, ten minutes before New Year (Bangkok)
NEW_YEAR_2570 = dt.datetime(2027, 1, 1, 0, 0, tzinfo=BANGKOK)


def _append(dovecot, user: str, raw: bytes, internaldate: str | None, mailbox: str = "INBOX") -> None:
    conn = dovecot.imap(user)
    try:
        typ, data = conn.append(mailbox, None, internaldate, raw)
        assert typ == "OK", data
    finally:
        conn.logout()


def _registered(d: Daemon, count: int) -> list[dict]:
    return d.wait_for(lambda: (lambda r: r if len(r) == count else None)(d.register()), timeout=60,
                      what=f"{count} registered letters")


def _marked(dovecot, user: str, count: int, folder: str = "INBOX") -> None:
    def marked():
        flags = mailbox_flags(dovecot, user, folder)
        return len(flags) == count and all("$SarabanRegistered" in f for f in flags)
    assert wait_until(marked, 60, interval=0.2), mailbox_flags(dovecot, user, folder)


def _without_message_id(raw: bytes) -> bytes:
    head, body = raw.split(b"\r\n\r\n", 1)
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"message-id:"))
    return head + b"\r\n\r\n" + body


def test_a_letter_is_received_when_it_reached_the_mailbox_not_when_it_was_fetched(
        tmp_path, dovecot, dovecot_user):
    """The gateway ran in 2569, and was down over New Year: a letter that reached the
    central mailbox before midnight is received then, in the register of 2569, though
    fetched in 2570 (the gateway's clock moved to 00:05 on 1 ม.ค. 2570: Dovecot's own
    moves a future APPEND date back to its present, so the mailbox's date is today's)."""
    from imaplib import Time2Internaldate

    user, password = dovecot_user
    clock = TestClock(tmp_path / "clock")
    d = Daemon(write_config(tmp_path / "gw", extra=intake_config(dovecot, user, password)), env=clock.env)
    try:
        d.start()
        dovecot.deliver(user, letter(message_id="<before@dds.bangkok.go.th>"))
        [before] = _registered(d, 1)
        assert before["year"] == 2569
        _marked(dovecot, user, 1)
        d.stop()
        arrived = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        _append(dovecot, user, letter(subject="เรื่อง หนังสือที่มาถึงก่อนเที่ยงคืน",
                                      message_id="<late-dec@dds.bangkok.go.th>"), Time2Internaldate(arrived))
        clock.set(NEW_YEAR_2570 + dt.timedelta(minutes=5))
        d.start()
        entries = {e["message_id"]: e for e in _registered(d, 2)}
        late = entries["<late-dec@dds.bangkok.go.th>"]
        assert dt.datetime.fromisoformat(late["received_at"]) == arrived
        assert (late["year"], late["number"]) == (2569, 2)  # the register of 2569, not of the fetch
        table = d.cli("register", "list", "--year", "2569").stdout
        assert thai_datetime(arrived) in table, table
        assert d.register("--year", "2570") == []

        # A letter arriving now is received now, in this year's register.
        dovecot.deliver(user, letter(message_id="<now@dds.bangkok.go.th>"))
        entries = {e["message_id"]: e for e in _registered(d, 3)}
        now = entries["<now@dds.bangkok.go.th>"]
        assert (now["year"], now["number"]) == (2570, 1)  # first of its own year's register
        assert dt.datetime.fromisoformat(now["received_at"]) >= NEW_YEAR_2570
    finally:
        d.stop()


def test_a_backlog_from_before_the_registers_first_year_is_received_when_fetched(daemon_factory, dovecot,
                                                                                  dovecot_user):
    """A central mailbox connected for the first time (never listed, so no listing bounds
    its dates) holds letters from before the gateway ran: 31 ธ.ค. 2568 and 2019 (2562).
    Their years' books are the previous system's (paper, the old e-saraban), and
    2569 is the first year of this register (clock_guard.EARLIEST_YEAR). Until now each
    was numbered 1/2568 and 1/2562, beside numbers that system had given; now each is
    received when fetched, in this year's register, and the log says why."""
    user, password = dovecot_user
    _append(dovecot, user, letter(subject="เรื่อง หนังสือปีก่อน", message_id="<late-2568@dds.bangkok.go.th>"),
            LATE_DECEMBER)
    _append(dovecot, user, letter(message_id="<old-2562@dds.bangkok.go.th>"), '"15-Mar-2019 10:00:00 +0700"')
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    entries = _registered(d, 2)
    _marked(dovecot, user, 2)
    this_year = dt.datetime.now(dt.timezone.utc).year + 543
    assert sorted((e["year"], e["number"]) for e in entries) == [(this_year, 1), (this_year, 2)], entries
    for entry in entries:
        assert dt.datetime.fromisoformat(entry["received_at"]) >= start, entry
    assert d.register("--year", "2568") == [] and d.register("--year", "2562") == []
    table = d.cli("register", "list").stdout
    assert "2568 23:50" not in table and "2562" not in table, table
    why = {e["internaldate"][:11]: e["reason"] for e in d.events() if e.get("event") == "imap_internaldate_not_used"}
    assert why == {"31-Dec-2025": "in 2568 BE, before 2569, the register's first year",
                   "15-Mar-2019": "in 2562 BE, before 2569, the register's first year"}, why


def test_an_internaldate_in_the_future_or_unreadable_gives_the_fetch_time():
    """Dovecot itself moves a future APPEND date back to the present, so this bound is
    checked on the consumer: a mail server whose clock runs ahead, or a date it spells
    wrongly, must not put a letter into a later day or year."""
    from gateway.intake.imap_intake import MailboxConsumer

    consumer = MailboxConsumer.__new__(MailboxConsumer)
    consumer.name = "imap://test@127.0.0.1/INBOX"
    consumer._listed_after = {}
    assert consumer._received_at(1, " 1-Jan-2026 00:00:01 +0700", 2569).isoformat() == "2025-12-31T17:00:01+00:00"
    assert consumer._received_at(1, " 2-Dec-2026 09:30:00 +0700", 2569).isoformat() == "2026-12-02T02:30:00+00:00"
    # Before the register's first year, never before 2569 whatever its counters say (an
    # empty register: the fetch's year).
    for before_the_register in (("31-Dec-2025 23:50:00 +0700", 2568), ("31-Dec-2025 23:50:00 +0700", None),
                                ("15-Mar-2019 10:00:00 +0700", 2562), (" 2-Dec-2026 09:30:00 +0700", 2570)):
        before = dt.datetime.now(dt.timezone.utc)
        got = consumer._received_at(1, *before_the_register)
        assert before <= got <= dt.datetime.now(dt.timezone.utc), before_the_register
    for wrong in ("01-Jan-2031 09:00:00 +0700", "31-Dec-2025", "32-Dec-2025 23:50:00 +0700", "", None):
        before = dt.datetime.now(dt.timezone.utc)
        got = consumer._received_at(1, wrong)
        assert before <= got <= dt.datetime.now(dt.timezone.utc), wrong


def test_a_message_put_into_the_mailbox_with_an_old_date_is_not_received_before_it_was_there(
        daemon_factory, dovecot, dovecot_user):
    """Whoever APPENDs, copies or moves a message into the central mailbox sets or keeps
    its INTERNALDATE (a clerk dragging a letter of 2019 out of a personal folder, or an
    insider backdating a receipt to meet a deadline). A message the gateway's last
    listing of the mailbox did not have reached it after that listing began: an older
    INTERNALDATE gives the fetch time, while the gateway runs and after a restart (the
    listing's time is kept in the database); a date after the last listing is still
    believed (the gateway down over New Year, above)."""
    from imaplib import Time2Internaldate

    user, password = dovecot_user
    d = daemon_factory(extra=intake_config(dovecot, user, password)).start()
    dovecot.deliver(user, letter(message_id="<first-listed@dds.bangkok.go.th>"))
    _registered(d, 1)
    _marked(dovecot, user, 1)

    def received(message_id: str) -> dict:
        return d.wait_for(lambda: next((e for e in d.register() if e["message_id"] == message_id), None),
                          timeout=60, what=message_id)

    # While it runs: appended now, dated March 2019.
    _append(dovecot, user, letter(subject="เรื่อง ย้อนวันที่", message_id="<backdated-live@dds.bangkok.go.th>"),
            '"15-Mar-2019 10:00:00 +0700"')
    live = received("<backdated-live@dds.bangkok.go.th>")
    this_year = dt.datetime.now(dt.timezone.utc).year + 543
    assert live["year"] == this_year, live  # not a new entry in the closed register of 2562
    assert dt.datetime.fromisoformat(live["received_at"]) > dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    assert "2562" not in d.cli("register", "list").stdout
    [why] = [e for e in d.events() if e.get("event") == "imap_internaldate_not_used"]
    assert why["internaldate"].startswith("15-Mar-2019") and "listed without it" in why["reason"]

    # Copied in by a clerk from a folder of their own: COPY keeps the old INTERNALDATE.
    dovecot.create_mailbox(user, "Personal")
    _append(dovecot, user, letter(message_id="<copied-in@dds.bangkok.go.th>"), '"20-Aug-2019 14:00:00 +0700"',
            mailbox="Personal")
    conn = dovecot.imap(user)
    try:
        conn.select("Personal")
        typ, data = conn.copy("1", "INBOX")
        assert typ == "OK", data
    finally:
        conn.logout()
    copied = received("<copied-in@dds.bangkok.go.th>")
    assert copied["year"] == this_year, copied

    # While it is down: one message dated before its last listing, one dated after it.
    d.stop()
    down = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _append(dovecot, user, letter(message_id="<backdated-down@dds.bangkok.go.th>"), '"02-Jan-2026 09:00:00 +0700"')
    _append(dovecot, user, letter(message_id="<arrived-down@dds.bangkok.go.th>"), Time2Internaldate(down))
    d.start()
    assert dt.datetime.fromisoformat(received("<arrived-down@dds.bangkok.go.th>")["received_at"]) == down
    moved = received("<backdated-down@dds.bangkok.go.th>")
    assert dt.datetime.fromisoformat(moved["received_at"]) > down, moved
    assert moved["year"] == this_year


def test_a_restored_mailbox_gives_back_a_letter_without_message_id_which_is_not_registered_twice(
        daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    with_id = letter(subject="เรื่อง มีเลข Message-ID", message_id="<has-id-restore@dds.bangkok.go.th>")
    no_id = _without_message_id(letter(subject="เรื่อง ไม่มี Message-ID"))
    assert b"message-id" not in no_id.split(b"\r\n\r\n")[0].lower()
    dovecot.create_mailbox(user, "Central")
    dovecot.deliver(user, with_id, "Central")
    dovecot.deliver(user, no_id, "Central")
    d = daemon_factory(extra=intake_config(dovecot, user, password, mailbox="Central")).start()
    first = _registered(d, 2)
    _marked(dovecot, user, 2, "Central")

    # The mail server is migrated: the folder is rebuilt from a backup taken before our keywords.
    dovecot.recreate_mailbox(user, "Central")
    dovecot.deliver(user, with_id, "Central")
    dovecot.deliver(user, no_id, "Central")
    d.wait_for(lambda: sum(e.get("event") == "imap_message_known" for e in d.events()) >= 2, timeout=60,
               what="both letters to be recognised")
    _marked(dovecot, user, 2, "Central")  # marked again under their new UIDs, as the clerk expects
    d.wait_idle()
    assert sorted(e["number"] for e in d.register()) == [1, 2]
    known = [e for e in d.events() if e.get("event") == "imap_message_known"]
    assert any(e.get("raw_sha256") and not e.get("message_id") for e in known)
    assert {e["queue_id"] for e in known} == {e["queue_id"] for e in first}

    # A letter without a Message-ID that is really new is still taken.
    dovecot.deliver(user, _without_message_id(letter(subject="เรื่อง ฉบับใหม่ ไม่มี Message-ID")), "Central")
    entries = _registered(d, 3)
    assert sorted(e["number"] for e in entries) == [1, 2, 3]
    _marked(dovecot, user, 3, "Central")


def test_status_shows_a_letter_too_big_to_take_and_a_refused_login(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    dovecot.deliver(user, letter(subject="เรื่อง รายงานประจำปี (ไฟล์ใหญ่)", message_id="<big@dds.bangkok.go.th>",
                                 files=[("2569_dds_0403_57.pdf", make_pdf("big", filler=2_500_000))]))
    d = daemon_factory(extra=intake_config(dovecot, user, password, max_size=2_000_000)).start()
    d.wait_for(lambda: any(e.get("event") == "imap_message_too_big" for e in d.events()), timeout=60,
               what="imap_message_too_big")
    [info] = d.status()["imap_intake"].values()
    [big] = info["too_big"]
    assert big["sender"] == "saraban.dds@bangkok.go.th"
    assert big["message_id"] == "<big@dds.bangkok.go.th>"
    assert big["size"] > 2_500_000
    text = d.cli("status").stdout
    # Not its subject: an unread letter may be ลับ (tests/secrecy/test_imap_too_big_subject.py).
    assert re.search(r"เกินขนาดที่รับได้.*too big, not registered: from saraban\.dds@bangkok\.go\.th, Message-ID "
                     r"<big@dds\.bangkok\.go\.th>, \d{7} bytes", text), text
    assert "รายงานประจำปี" not in text
    assert "$SarabanTooBig" in text
    # Never lost: it stays in the central mailbox, marked, for a person.
    [flags] = mailbox_flags(dovecot, user)
    assert "$SarabanTooBig" in flags and "$SarabanRegistered" not in flags
    assert d.register() == []
    d.stop()

    # What docs/imap.md tells a person to do: a higher max_size, the keyword off, the
    # message moved out and back (a new UID). It is then taken, and no longer listed.
    d.config.write_text(d.config.read_text().replace("max_size = 2000000", "max_size = 4000000"))
    conn = dovecot.imap(user)
    try:
        conn.create("Hold")
        conn.select("INBOX")
        assert conn.uid("STORE", "1", "-FLAGS", "($SarabanTooBig)")[0] == "OK"
        assert conn.uid("MOVE", "1", "Hold")[0] == "OK"
        conn.select("Hold")
        assert conn.uid("MOVE", "1:*", "INBOX")[0] == "OK"
    finally:
        conn.logout()
    d.start()
    [entry] = _registered(d, 1)
    assert entry["message_id"] == "<big@dds.bangkok.go.th>"
    [info] = d.status()["imap_intake"].values()
    assert info["too_big"] == [] and "too big" not in d.cli("status").stdout
    d.stop()

    wrong = daemon_factory("wrongpw", extra=intake_config(dovecot, user, "not-the-password")).start()
    wrong.wait_for(lambda: any(e.get("event") == "imap_reconnect" for e in wrong.events()), timeout=60,
                   what="a refused login")
    time.sleep(0.5)
    [info] = wrong.status()["imap_intake"].values()
    assert "refused the login" in info["last_error"] and info["last_error_at"]
    text = wrong.cli("status").stdout
    assert re.search(r"last error at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00: the mail server refused the login as "
                     + re.escape(user) + r" on .*AUTHENTICATIONFAILED.*check username and password.*not connected since",
                     text), text
