"""The gateway's own clock, checked before a letter is taken: it dates the register.

The time of receipt is the gateway's clock when a letter reaches it, and its year in
Bangkok is the register year the letter is numbered in (storage/register.py). A clock
set back by years (a machine whose clock battery died boots in 1970 or 2000 until NTP
answers; a virtual machine restored from a snapshot; `date -s` with a slip) numbered
letters 1/2513 or 1/2543, stamped and acknowledged with that day: a register year that
ended long ago, numbers given twice there, a legal incident in every letter.

The gateway cannot know the true time, but it knows years that have begun: every year
its register already has numbers in, and every year a letter was accepted in since it
started. A clock in an earlier year is wrong for certain. Nor can a letter reach this
gateway before EARLIEST_YEAR, the year its register first ran. While the clock is
wrong SMTP answers 451 4.3.0 (the sender's server tries again, nothing is lost) and
IMAP intake leaves the central mailbox as it is; the letters are taken once the clock
is right. A clock wrong by less (hours, days within the year) cannot be told from a
right one and is taken as it is: keep the host's clock synchronised.

`[register] clock_check = false` turns this off: for the one case where the register
itself holds a year that has not begun (a clock that ran ahead a year, its letters
numbered there), until the registrar has settled those letters.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from rules.thai_time import be_year, now_utc, thai_datetime
from storage.register import newest_receipt, newest_register_year

if TYPE_CHECKING:
    from gateway.config.settings import Settings
    from storage.db import Database

log = structlog.get_logger("gateway.intake")

# 2026: the first year of this gateway's register. A clock before it is wrong whatever
# the register holds (a new installation with no letters yet too).
EARLIEST_YEAR = 2569


class ClockGuard:
    """Whether the gateway's clock may date a letter now: not in a Buddhist-era year
    before `newest` (the register's newest year, read at start) nor EARLIEST_YEAR, nor
    before a year this process has accepted a letter in since."""

    def __init__(self, newest: int | None, where: str, receipt: ReceiptClock | None = None):
        self.floor = max(newest or 0, EARLIEST_YEAR)
        self.where = where  # "smtp" or the IMAP mailbox, for the log
        self.refused = 0  # letters (or rounds) refused in the current spell
        # The last time of receipt any intake of this gateway gave: a year begun by the
        # IMAP intake's letters is begun for SMTP too (session 38).
        self.receipt = receipt

    def hint(self, clock_year: int) -> str:
        return (f"the host's clock says {clock_year} but the register has begun {self.floor}: "
                "letters are refused until the clock is right (timedatectl, chrony)")

    def _year_behind(self) -> int | None:
        """The clock's Buddhist-era year while it is before the floor (the floor first
        raised to the last time of receipt any intake gave), else None."""
        if self.receipt is not None:
            latest = self.receipt.latest()
            if latest is not None:
                self.floor = max(self.floor, be_year(latest))
        year = be_year(now_utc())
        return year if year < self.floor else None

    def wrong(self) -> bool:
        """True while the clock is in a year before the floor. The first refusal of a
        spell and every 1000th are logged, its end too."""
        year = self._year_behind()
        if year is None:
            if self.refused:
                log.info("clock_right_again", where=self.where, refused=self.refused)
                self.refused = 0
            return False
        self.refused += 1
        if self.refused % 1000 == 1:
            log.error("clock_behind_register", where=self.where, clock=thai_datetime(now_utc()),
                      register_year=self.floor, refused=self.refused, hint=self.hint(year))
        return True

    def refusing(self) -> str | None:
        """What /healthz says while letters are refused for the clock: `wrong()` without
        its log or count (a probe every few seconds is no refusal)."""
        year = self._year_behind()
        return None if year is None else self.hint(year)

    def accepted(self) -> None:
        """A letter was taken now: its year has begun."""
        self.floor = max(self.floor, be_year(now_utc()))


def clock_warning(settings: Settings, newest: int | None) -> list[str]:
    """What `status` says while letters are refused for the clock."""
    if not settings.register_.clock_check:
        return []
    guard, year = ClockGuard(newest, "status"), be_year(now_utc())
    return [guard.hint(year)] if year < guard.floor else []


def clock_guard(settings: Settings, db: Database, where: str,
                receipt: ReceiptClock | None = None) -> ClockGuard | None:
    if not settings.register_.clock_check:
        return None
    with db.session() as session:
        return ClockGuard(newest_register_year(session), where, receipt)


# A clock behind the last time of receipt by less than this is not worth a word in
# `status` (the hold itself still applies: a book never goes back a second).
STATUS_SLACK = dt.timedelta(seconds=60)
# A step back up to this long is the clock's own correction (NTP, a few seconds to
# minutes): times of receipt are held at the last one given. A longer one means the
# clock ran ahead and was set right: held, hours of letters would be dated at a time
# still to come, so they are dated by the clock (ReceiptClock._now).
HOLD_MAX = dt.timedelta(minutes=10)


class ReceiptClock:
    """The time of receipt an intake gives a letter: the host's clock, never before the
    last time of receipt it gave (or the register's newest at start) within the same
    Buddhist-era year.

    A clock stepped back within the year (an NTP correction, a wrong `date -s` set
    right, a virtual machine restored from a snapshot) cannot be told from a right one by
    its year (ClockGuard above), but it can by the last time given: the next letter was
    dated before the one the book numbered before it, 16/2569 an hour before 15/2569
    (session 38). While the clock is behind, every letter is dated at the last time
    given (the register's order of numbers stays its order of times); the first such
    letter logs `clock_stepped_back`, the clock passing the held time again
    `clock_caught_up`, and `status` warns meanwhile (`receipt_warning`). A clock in an
    earlier year is ClockGuard's: refused, or with `clock_check = false` taken at the
    clock's own time, as the operator asked."""

    def __init__(self, last: dt.datetime | None = None, where: str = "smtp", path: Path | None = None):
        self.last = _aware(last) if last is not None else None
        self.where = where
        self.held = 0  # letters dated at the held time in the current spell
        self._lock = threading.Lock()  # SMTP commits run in the executor's threads
        # RECEIPT_FILE in the data directory: the last time given, shared by the SMTP
        # intake and the IMAP intake's processes (and kept over a restart).
        self.path = path

    def now(self) -> dt.datetime:
        with self._lock:
            if self.path is None:
                return self._now()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
            except OSError:
                return self._now()  # a hint only: this process's own last time still holds
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                shared = _read_moment(fd)
                if shared is not None and (self.last is None or shared > self.last):
                    self.last = shared
                given = self._now()
                if shared is None or given > shared or self.held < 0:  # held < 0: set back past HOLD_MAX
                    os.pwrite(fd, repr(given.timestamp()).encode("ascii").ljust(_WIDTH), 0)
                return given
            except OSError:
                return self._now()
            finally:
                os.close(fd)

    def latest(self) -> dt.datetime | None:
        """The last time of receipt given by any intake of this gateway."""
        if self.path is None:
            return self.last
        try:
            with open(self.path, "rb") as handle:
                shared = _read_moment(handle.fileno())
        except OSError:
            shared = None
        return max((m for m in (shared, self.last) if m is not None), default=None)

    def _now(self) -> dt.datetime:
        clock = now_utc()
        last = self.last
        if last is not None and last - clock > HOLD_MAX and be_year(clock) == be_year(last):
            # Not a correction of the clock's drift: it ran ahead (a zone mistaken for
            # UTC, a wrong `date -s`) and was set right. The times given meanwhile were
            # the wrong ones; holding at them would date hours or days of letters at a
            # time still to come. Dated by the clock, said once (status warns meanwhile).
            if self.held >= 0:
                log.error("clock_stepped_back", where=self.where, clock=thai_datetime(clock),
                          last_given=thai_datetime(last), behind_seconds=round((last - clock).total_seconds()),
                          held=False, hint="the clock ran ahead and was set back: the letters received since "
                                           f"{thai_datetime(last)} or before may carry times of receipt ahead of "
                                           "the true time; the registrar should check them")
                self.held = -1  # said for this step
            self.last = clock  # the hold starts again from the clock set right
            return clock
        if last is not None and clock < last and be_year(clock) == be_year(last):
            self.held = max(self.held, 0) + 1
            if self.held == 1:
                log.warning("clock_stepped_back", where=self.where, clock=thai_datetime(clock),
                            held_at=thai_datetime(last), behind_seconds=round((last - clock).total_seconds()),
                            hint="times of receipt are held at the last one given until the clock passes it; "
                                 "check the host's clock (timedatectl, chrony)")
            return last
        if self.held > 0:
            log.info("clock_caught_up", where=self.where, held=self.held, clock=thai_datetime(clock))
        self.held = 0
        self.last = clock
        return clock


RECEIPT_FILE = "receipt-clock"
_WIDTH = 32  # the file's one line, written in place (epoch seconds, padded)


def _read_moment(fd: int) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(os.pread(fd, _WIDTH, 0).decode("ascii").strip()), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None  # empty (new), or half written by a process that died: a hint only


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)  # SQLite: naive UTC


def receipt_clock(db: Database, where: str, data_dir: Path | None = None) -> ReceiptClock:
    """A ReceiptClock that starts from the register's newest time of receipt, shared
    through RECEIPT_FILE in `data_dir` with the gateway's other intakes."""
    with db.session() as session:
        return ReceiptClock(newest_receipt(session), where,
                            data_dir / RECEIPT_FILE if data_dir is not None else None)


def receipt_warning(newest: dt.datetime | None) -> list[str]:
    """What `status` says while the host's clock is behind the register's newest time of
    receipt in the same year (letters are dated at that time meanwhile)."""
    if newest is None:
        return []
    newest, clock = _aware(newest), now_utc()
    if clock + STATUS_SLACK >= newest or be_year(clock) != be_year(newest):
        return []
    if newest - clock > HOLD_MAX:
        return [f"the register has times of receipt ahead of the host's clock ({thai_datetime(newest)} > "
                f"{thai_datetime(clock)}): the clock ran ahead and was set back; letters are dated by the clock, "
                "and those received while it was ahead carry times still to come: the registrar should check them"]
    return [f"the host's clock is behind the last time of receipt in the register ({thai_datetime(clock)} < "
            f"{thai_datetime(newest)}): letters are dated {thai_datetime(newest)} until the clock passes it; "
            "check the host's clock (timedatectl, chrony)"]
