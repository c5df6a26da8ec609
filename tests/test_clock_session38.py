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


def test_a_clock_stepped_back_an_hour_never_dates_a_number_before_the_one_before(gw, clock):
    """15/2578 at 10:00; the clock steps back an hour; the next letter was 16/2578 dated
    09:00, before 15. Now it is dated 10:00, the book's last time, until the clock passes
    it; the log says clock_stepped_back once, and `status` warns while it holds."""
    _send(gw, "ก่อนปรับนาฬิกา")
    [(first, first_at)] = _book(gw, LATKRABANG, 2578)
    assert first == "1/2578" and (first_at.hour, first_at.minute) == (10, 0)
    clock.set(dt.datetime(2035, 6, 10, 9, 0, tzinfo=BANGKOK))  # NTP steps the clock back an hour
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
