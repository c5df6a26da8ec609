"""Red team of a wall clock stepped back while letters wait (session 38): an NTP
correction, a wrong manual `date -s` set right, a virtual machine restored from a
snapshot. What a clerk sees in the unit's book (receive numbers and times of receipt),
in `status` and in the log.

A unit's book runs in order of arrival: each receive number (เลขรับ) is dated at or
after the one before it. A book where 16/2578 is dated an hour before 15/2578 is a
legal anomaly (which letter came first?); the gateway cannot know the true time, but it
knows the last time of receipt it gave, and never gives one before it (docs/operations.md,
"The system clock").

One daemon for the module, its clock set by each test (tests/clock/sitecustomize.py,
the machine's clock untouched). The tests run in the order written, each in later
years than the one before (the clock guard refuses a clock in a year before the
register's newest)."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.daemon import Daemon, TestClock, write_config
from tests.letters import letter

BANGKOK = dt.timezone(dt.timedelta(hours=7))
LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng@bangkok.go.th"
CLOCK_WRONG = "451 4.3.0 the receiving system's clock is wrong, the letter was not accepted; please try again later"


@pytest.fixture(scope="module")
def clock(tmp_path_factory):
    return TestClock(tmp_path_factory.mktemp("clock38"))


@pytest.fixture(scope="module")
def gw(tmp_path_factory, clock):
    clock.set(dt.datetime(2035, 6, 10, 10, 0, tzinfo=BANGKOK))
    d = Daemon(write_config(tmp_path_factory.mktemp("clock38")), env=clock.env).start()
    yield d
    d.stop()


def _book(d: Daemon, unit: str, year: int) -> list[tuple[str, dt.datetime]]:
    """(receive number, time of receipt) of the unit's book of `year`, in number order."""
    d.wait_idle()
    return [(e["receive_no"], dt.datetime.fromisoformat(e["received_at"]))
            for e in d.register("--unit", unit, "--year", str(year))]


def _send(d: Daemon, subject: str, to: str = LATKRABANG) -> str:
    return d.send(letter(to=to, subject=subject), to)


def test_a_clock_stepped_back_minutes_never_dates_a_number_before_the_one_before(gw, clock):
    """15/2578 at 10:00; NTP steps the clock back 8 minutes; the next letter was 16/2578
    dated 09:52, before 15. Now it is dated 10:00, the book's last time, until the clock
    passes it; the log says clock_stepped_back once, and `status` warns while it holds."""
    _send(gw, "ก่อนปรับนาฬิกา")
    [(first, first_at)] = _book(gw, LATKRABANG, 2578)
    assert first == "1/2578" and (first_at.hour, first_at.minute) == (10, 0)
    clock.set(dt.datetime(2035, 6, 10, 9, 52, tzinfo=BANGKOK))  # NTP steps the clock back 8 minutes
    _send(gw, "หลังปรับนาฬิกา ฉบับที่ 1")
    _send(gw, "หลังปรับนาฬิกา ฉบับที่ 2")
    book = _book(gw, LATKRABANG, 2578)
    assert [no for no, _ in book] == ["1/2578", "2/2578", "3/2578"]
    times = [at for _, at in book]
    assert times == sorted(times), f"a receive number dated before the one before it: {book}"
    assert times[1] >= first_at and times[2] >= first_at
    stepped = [e for e in gw.events() if e.get("event") == "clock_stepped_back"]
    assert len(stepped) == 1, stepped
    assert "the host's clock is behind the last time of receipt" in gw.cli("status").stdout
    # The clock passes the held time: letters are dated by it again, the warning goes.
    clock.set(dt.datetime(2035, 6, 10, 10, 30, tzinfo=BANGKOK))
    _send(gw, "นาฬิกาเดินทันแล้ว")
    [*_, (last, last_at)] = _book(gw, LATKRABANG, 2578)
    assert last == "4/2578" and (last_at.hour, last_at.minute) == (10, 30)
    assert "the host's clock is behind" not in gw.cli("status").stdout


def test_a_clock_that_ran_hours_ahead_and_was_set_right_dates_letters_by_the_clock(gw, clock):
    """The host's zone taken for UTC: 7 hours ahead, one letter dated then, the clock set
    right. Held at the last time given, every letter of the next 7 hours would be dated
    at a time still to come; a step back past HOLD_MAX (10 minutes) is dated by the
    clock, said once as an error, and `status` says the register has times ahead."""
    clock.set(dt.datetime(2035, 6, 10, 17, 40, tzinfo=BANGKOK))
    _send(gw, "นาฬิกาเร็วไปเจ็ดชั่วโมง")
    clock.set(dt.datetime(2035, 6, 10, 10, 40, tzinfo=BANGKOK))
    _send(gw, "ตั้งนาฬิกาถูกแล้ว ฉบับที่ 1")
    clock.set(dt.datetime(2035, 6, 10, 10, 45, tzinfo=BANGKOK))
    _send(gw, "ตั้งนาฬิกาถูกแล้ว ฉบับที่ 2")
    book = _book(gw, LATKRABANG, 2578)[-3:]
    assert [(no, at.hour, at.minute) for no, at in book] == [("5/2578", 17, 40), ("6/2578", 10, 40),
                                                             ("7/2578", 10, 45)], book
    said = [e for e in gw.events() if e.get("event") == "clock_stepped_back" and e.get("held") is False]
    assert len(said) == 1 and said[0]["level"] == "error", said
    assert "the register has times of receipt ahead of the host's clock" in gw.cli("status").stdout


def test_letters_waiting_in_the_spool_keep_their_order_across_a_step_back(tmp_path, monkeypatch):
    """The spool's order (its queue ids, the wall clock in nanoseconds) is the order
    letters are numbered in. Letter A waits in the spool (the pipeline busy, the daemon
    stopping); the clock steps back an hour; letters B (the same process) and C (a
    process started after the step: a restart, the IMAP intake's) were given ids before
    A's, and took 1/2579 and 2/2579 before A, which came first. Written as the IMAP
    intake writes the spool (`Spool.accept`), numbered by a real daemon started after."""
    from gateway.config.settings import load_settings
    import gateway.spool as spool_module

    clock = TestClock(tmp_path / "clock")
    config = write_config(tmp_path / "gw")
    spool = spool_module.open_spool(load_settings(config, environ=dict(clock.env)))
    real_ns = spool_module.time.time_ns
    step = {"ns": 0}
    monkeypatch.setattr(spool_module.time, "time_ns", lambda: real_ns() + step["ns"])
    received = dt.datetime(2036, 6, 10, 10, 0, tzinfo=BANGKOK)

    def accept(subject: str) -> str:
        raw = letter(to=LATKRABANG, subject=subject)
        return spool.accept(raw, "saraban.dds@bangkok.go.th", [LATKRABANG], received_at=received)

    accept("ก")
    step["ns"] = -3600 * 10**9  # NTP steps the clock back an hour
    accept("ข")
    monkeypatch.setattr(spool_module, "_last_id_ns", 0, raising=False)  # a process started after the step
    accept_c = spool_module.open_spool(load_settings(config, environ=dict(clock.env)))
    accept_c.accept(letter(to=LATKRABANG, subject="ค"), "saraban.dds@bangkok.go.th", [LATKRABANG],
                    received_at=received)

    clock.set(dt.datetime(2036, 6, 10, 9, 1, tzinfo=BANGKOK))
    d = Daemon(config, env=clock.env).start()
    try:
        d.wait_idle()
        book = [(e["receive_no"], e["mail_subject"]) for e in d.register("--unit", LATKRABANG)]
    finally:
        d.stop()
    assert book == [("1/2579", "ก"), ("2/2579", "ข"), ("3/2579", "ค")]


def test_an_outbox_retry_waits_its_back_off_not_the_step_back(sqlite_url, monkeypatch):
    """A folder copy failed (the mail server down) and is due again in 5 seconds; the
    clock steps back half an hour. It waited 30 minutes and 5 seconds: `due` took an
    item as written before a step only when it was more than `retry_max` (an hour)
    ahead. Now the outbox counts on the monotonic clock since the step: due after its
    5 seconds, as it would have been; a new failure meanwhile backs off as usual."""
    from storage import outbox
    from storage.db import Database

    wall = {"at": dt.datetime(2036, 6, 10, 3, 0, tzinfo=dt.timezone.utc)}
    mono = {"at": 1000.0}
    monkeypatch.setattr(outbox, "_wall", lambda: wall["at"], raising=False)
    monkeypatch.setattr(outbox, "_monotonic", lambda: mono["at"], raising=False)
    monkeypatch.setattr(outbox, "_ahead", None, raising=False)
    monkeypatch.setattr(outbox, "_now", lambda: wall["at"])
    db = Database(sqlite_url)
    db.create_schema()
    try:
        with db.session() as session:
            item, _ = outbox.add_once(session, "folder", "q1:u", queue_id="q1", unit="u")
        outbox.fail(db, item.id, "OSError: refused", dead_after=3600, retry_base=5, retry_max=3600)
        assert outbox.due(db, ["folder"]) == []  # backing off
        # One second later NTP steps the clock back 30 minutes; 5 more seconds pass.
        wall["at"] += dt.timedelta(seconds=1) - dt.timedelta(minutes=30)
        mono["at"] += 1
        assert outbox.due(db, ["folder"]) == []  # still within its 5 seconds
        wall["at"] += dt.timedelta(seconds=5)
        mono["at"] += 5
        assert outbox.due(db, ["folder"]) == [(item.id, "q1")]
        # It fails again: 10 seconds of back-off, not 10 seconds less the step.
        outbox.fail(db, item.id, "OSError: refused", dead_after=3600, retry_base=5, retry_max=3600)
        assert outbox.due(db, ["folder"]) == []
        wall["at"] += dt.timedelta(seconds=11)
        mono["at"] += 11
        assert outbox.due(db, ["folder"]) == [(item.id, "q1")]
        with db.session() as session:
            [shown] = outbox.items_in_state(session, "pending")
            assert (shown.state, shown.attempts) == ("pending", 2)
    finally:
        db.dispose()


def test_across_new_year_no_letter_goes_back_to_the_old_years_book(gw, clock):
    """31 ธ.ค. 2580 23:55, 1/2580; the clock runs ahead into 1 ม.ค. 2581 00:05, 1/2581;
    it is set back to 23:56 of 31 ธ.ค. 2580: the next letter was never 2/2580 after
    1/2581, nor held into 2581 (the hold never crosses a year): it is refused (451,
    the sender tries again) until the clock is in 2581 again, then 2/2581 at its time.
    What held before session 38 (gateway/intake/clock_guard.py), checked with the hold."""
    clock.set(dt.datetime(2037, 12, 31, 23, 55, tzinfo=BANGKOK))
    _send(gw, "สิ้นปี", DINDAENG)
    clock.set(dt.datetime(2038, 1, 1, 0, 5, tzinfo=BANGKOK))
    _send(gw, "ต้นปี", DINDAENG)
    clock.set(dt.datetime(2037, 12, 31, 23, 56, tzinfo=BANGKOK))
    with gw.smtp() as client:
        client.ehlo("dds.bangkok.go.th")
        code, text = client.mail("saraban.dds@bangkok.go.th")
    assert (code, text.decode()) == (451, CLOCK_WRONG.removeprefix("451 "))
    assert "the host's clock says 2580 but the register has begun 2581" in gw.cli("status").stdout
    clock.set(dt.datetime(2038, 1, 1, 0, 6, tzinfo=BANGKOK))
    _send(gw, "ต้นปี ฉบับที่ 2", DINDAENG)
    assert [no for no, _ in _book(gw, DINDAENG, 2580)] == ["1/2580"]
    book = _book(gw, DINDAENG, 2581)
    assert [(no, at.hour, at.minute) for no, at in book] == [("1/2581", 0, 5), ("2/2581", 0, 6)]


def test_a_letter_from_the_central_mailbox_after_a_step_back_is_not_dated_before_the_last(
        tmp_path, dovecot, dovecot_user):
    """1/2569 came by SMTP; NTP steps the clock back minutes; the next letter comes from the
    central mailbox (IMAP intake, another process). Its INTERNALDATE, the mail server's
    clock, is after the fetch by ours, so the fetch time dated it: 2/2569 minutes
    before 1/2569. The IMAP intake's fetch time is held at the last time of receipt
    any intake of the gateway gave (the data directory's `receipt-clock`)."""
    from tests.imap_helpers import intake_config

    from rules.thai_time import be_year

    now = dt.datetime.now(dt.timezone.utc)
    if be_year(now) != be_year(now - dt.timedelta(hours=2)):
        pytest.skip("the mail server's clock is the machine's: not in the two hours after New Year")
    user, password = dovecot_user
    clock = TestClock(tmp_path / "clock")
    d = Daemon(write_config(tmp_path / "gw", extra=intake_config(dovecot, user, password)), env=clock.env).start()
    try:
        d.send(letter(to=LATKRABANG, subject="ทางอีเมล"), LATKRABANG)
        [(first, first_at)] = [(e["receive_no"], dt.datetime.fromisoformat(e["received_at"]))
                               for e in d.wait_for(lambda: d.register("--unit", LATKRABANG), what="1 registered")]
        clock.set(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=8))  # NTP steps the clock back 8 minutes
        dovecot.deliver(user, letter(to=LATKRABANG, subject="จากกล่องกลาง",
                                     message_id="<after-the-step@dds.bangkok.go.th>"))
        both = d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(d.register("--unit", LATKRABANG)),
                          what="the mailbox's letter registered")
        d.wait_idle()
    finally:
        d.stop()
    [(_, second_at)] = [(e["receive_no"], dt.datetime.fromisoformat(e["received_at"])) for e in both
                        if e["mail_subject"] == "จากกล่องกลาง"]
    assert [e["mail_subject"] for e in both] == ["ทางอีเมล", "จากกล่องกลาง"]
    assert second_at >= first_at, (first, first_at, second_at)
