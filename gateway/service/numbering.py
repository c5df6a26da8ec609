"""No receive number given twice after the register is put back from a backup.

A backup holds the counters as they were when it was taken; the numbers given since
are on the letters filed in the units' folders (and in the acknowledgements the senders
hold). Restored as it is, the register would give them again to other letters: two
letters under one official receive number, which nobody can explain. So, before any
letter is numbered, the supervisor reads the numbers back from the folders
(gateway/delivery/numbers_seen.py) and raises each counter that is behind to the
highest number seen: the numbers in between are a gap in the register, written as
such in its actions ("numbers given before the restore, see the folder") and in the
log (`numbers_given_before_restore`). A gap is explainable, a duplicate is not.

Done at every start (a register put back by hand, a pg_restore, is found too); the
pipeline runners wait for it (`wait_until_open`). A folder that cannot be read right
after `backup restore` (its marker `restored.json`) holds numbering: letters are still
accepted and wait in the spool, `status` says why, and the folders are read again every
`[register] check_retry` seconds. Without that marker a folder that cannot be read is
the everyday outage of a mail server: said in the log, numbering goes on.

Letters of the restored spool that were registered after the backup, and whose copy
is in a folder, are entered again under the number their copy carries (`earlier_number`),
not filed or acknowledged a second time."""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from gateway.delivery.numbers_seen import numbers_seen
from gateway.units.directory import load_directory
from storage.fsync import write_durably
from gateway.delivery.targets import route_for
from storage.register import counter_values, find_registration, raise_counters, units_with_letters

if TYPE_CHECKING:
    from gateway.config.settings import Settings

log = structlog.get_logger("gateway.numbering")

RESTORED = "restored.json"  # written by `backup restore`, removed once every folder was read
STATE = "numbering.json"  # checking | held | open, for the runners and `status`
EARLIER = "numbers-before-restore.json"  # (queue id, unit) -> the number its filed copy carries


def _write(path: Path, data: dict) -> None:
    write_durably(path, json.dumps(data, ensure_ascii=False).encode(), tmp_dir=path.parent, mode=0o640)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def mark_restored(data_dir: Path, archive: str, folders_from_backup: bool = False,
                  finished: bool = True) -> None:
    """Said by `backup restore`: until every folder was read, no letter is numbered.
    `folders_from_backup`: the Maildirs came out of the archive (`backup create
    --folders`), as old as its register: they cannot show the numbers given since.
    `finished` False is written before the first file is unpacked: a restore killed or
    failed half-way has put back a register whose counters are the backup's, and without
    the marker the next start took it for a register that was never restored."""
    _write(data_dir / RESTORED, {"archive": archive, "folders_from_backup": folders_from_backup,
                                 "finished": finished,
                                 "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})


def unfinished_restore(data_dir: Path) -> str | None:
    """Why numbering may never open by itself: a `backup restore` that did not finish.
    None when there was none (a marker of an older version has no `finished`: finished)."""
    marker = _read(data_dir / RESTORED)
    if not marker or marker.get("finished", True):
        return None
    return (f"`backup restore {marker.get('archive', '')}` did not finish (killed or failed, begun "
            f"{marker.get('at', '?')}): the register, vault and keys may be incomplete; stop the daemon, "
            "empty the data directory and run the restore again")


def state(settings: Settings) -> dict:
    return _read(settings.data_dir / STATE)


def _set_state(settings: Settings, name: str, detail: str = "") -> None:
    _write(settings.data_dir / STATE, {"state": name, "detail": detail, "pid": os.getpid(),
                                       "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})


def check_numbers(settings: Settings) -> tuple[bool, str]:
    """Read the folders, raise the counters that are behind. (numbering may go on, why not)."""
    restored = (settings.data_dir / RESTORED).exists()
    directory = load_directory(settings.directory_path, settings.gateway.domain)
    started = time.monotonic()
    seen = numbers_seen(settings, directory, settings.register_.check_copies)
    earlier_path = settings.data_dir / EARLIER
    earlier = _read(earlier_path)
    db = settings.open_database()
    try:
        with db.session() as session:
            if restored:
                unfinished = unfinished_restore(settings.data_dir)
                if unfinished:
                    seen.unreachable.append(unfinished)
                seen.unreachable += _folders_unseen(settings, directory, units_with_letters(session),
                                                      _read(settings.data_dir / RESTORED).get("folders_from_backup"))
            raised = raise_counters(session, seen.highest, seen.where,
                                    {key: settings.start_number(*key) for key in seen.highest})
            counters = counter_values(session, sorted(seen.unsealed))
            unsealed = [{"unit": unit, "book": book, "year": year, "claimed": number, "counter": counters[key],
                         "seen_in": folder}
                        for key, (number, folder) in sorted(seen.unsealed.items())
                        for unit, book, year in [key] if number > counters[key]]
            for (queue_id, unit), (book, year, number) in seen.copies.items():
                if any(r["unit"] == unit and r["book"] == book and r["year"] == year
                       and r["first"] <= number <= r["last"] for r in raised):
                    earlier[f"{queue_id} {unit}"] = [book, year, number]
            earlier = {key: value for key, value in earlier.items()
                       if find_registration(session, *key.split(" ", 1)) is None}
            # Written before the raise commits: once committed, the gap is not seen again,
            # and a letter of the spool would be numbered anew after a crash right here.
            if earlier:
                _write(earlier_path, earlier)
            elif earlier_path.exists():
                earlier_path.unlink()
    finally:
        db.dispose()
    for record in raised:
        log.warning("numbers_given_before_restore", **record, seen_in=seen.where.get(
            (record["unit"], record["book"], record["year"])))
    for record in unsealed[:20]:
        # Not the gateway's copy (a message sent to the mailbox with our headers), or one
        # filed before session 36: never believed. After a restore it holds numbering
        # until the operator has looked (it may be the numbers given since the backup).
        log.warning("numbers_claimed_without_seal", **record, numbering_held=restored)
    if restored:
        seen.unreachable += [
            f"{r['seen_in']}: a copy without the gateway's seal claims {r['unit']} {r['book']} "
            f"{r['claimed']}/{r['year']} (the register is at {r['counter']}): if it is a copy filed before "
            "the upgrade to sealed copies, set [register.start_numbers] past it; if it is not the gateway's, "
            "remove it" for r in unsealed]
    log.info("numbers_checked", copies=seen.read, raised=len(raised), unsealed=len(unsealed),
             unreachable=len(seen.unreachable),
             after_restore=restored, seconds=round(time.monotonic() - started, 2))
    if not seen.unreachable:
        if restored:
            (settings.data_dir / RESTORED).unlink(missing_ok=True)
        return True, ""
    why = "; ".join(seen.unreachable[:5]) + (f" (and {len(seen.unreachable) - 5} more)"
                                             if len(seen.unreachable) > 5 else "")
    log.warning("numbers_check_incomplete", unreachable=seen.unreachable[:20], numbering_held=restored)
    return not restored, why


def _folders_unseen(settings: Settings, directory, units: list[str],  # noqa: ANN001 - a Directory
                      from_backup: bool = False) -> list[str]:
    """After a restore, the folders of units the register holds letters of that cannot
    show the numbers given since the backup: a Maildir absent (left in the old data
    directory, moved aside whole) or put back from the archive itself, or a unit filed by
    SMTP forward. None of them may be taken as "nothing filed since"."""
    missing = []
    for unit in units:
        backend = route_for(settings, unit).backend
        if backend == "smtp":  # its copies are in the departments' own mailboxes
            missing.append(f"{unit}: filed by SMTP forward, no folder the gateway can read back "
                           "(set [register.start_numbers] past its numbers given since the backup)")
        if backend != "maildir":
            continue
        found = directory.lookup(unit)
        folder = settings.folders_dir / (found.folder if found is not None else unit)
        if not folder.is_dir():
            missing.append(f"Maildir {folder}: missing (put back the folders of the old data directory)")
        elif from_backup:
            missing.append(f"Maildir {folder}: restored from the backup, as old as its register (put back "
                           "the newer folders of the old data directory, then confirm-numbers)")
    return missing


def held_after_restore(settings: Settings) -> bool:
    """Whether the register was restored and the folders not yet read back: numbering
    a letter now (a release from quarantine, the paper emergency register's import) would
    give a number the folders may show was given since the backup."""
    return (settings.data_dir / RESTORED).exists()


HELD_FOR_TOOLS = ("the register was restored from a backup and the receive numbers given since are not yet "
                  "read back from the units' folders: start the daemon (it reads them before it numbers a "
                  "letter; `status` says when) and try again")
HELD_FOR_TOOLS_TH = ("ฐานข้อมูลทะเบียนเพิ่งกู้คืนจากสำรอง ระบบยังอ่านเลขรับที่ให้ไปแล้วจากโฟลเดอร์ของหน่วยงานไม่ครบ "
                     "จึงยังให้เลขรับไม่ได้ กรุณาแจ้งผู้ดูแลระบบ แล้วลองใหม่ภายหลัง")
# The desk's English: the command line's sentence tells its operator to start the daemon
# and read `status`, which a clerk at the desk (of the daemon that is running) cannot.
HELD_FOR_TOOLS_EN = ("The register was just restored from a backup and the receive numbers given since are not "
                     "yet read back from the units' folders, so no receive number can be given yet: tell the "
                     "administrator, then try again later.")


def confirm_numbers(data_dir: Path) -> bool:
    """`backup confirm-numbers`: the operator has accounted for the numbers given since
    the backup (a folder lost for good: `[register.start_numbers]` set past the highest
    number the senders' acknowledgements show); a folder that cannot be read no longer
    holds numbering. True if numbering was held after a restore."""
    marker = data_dir / RESTORED
    if unfinished_restore(data_dir):
        # The operator's word covers numbers given since the backup, not a register
        # that was only half put back.
        return False
    held = marker.exists()
    marker.unlink(missing_ok=True)
    return held


class NumberingGate:
    """The supervisor's side: closed before the runners start, opened once checked."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        _set_state(self.settings, "checking")
        self._thread = threading.Thread(target=self._run, name="numbering-check", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok, why = check_numbers(self.settings)
            except Exception as exc:  # noqa: BLE001 - the database away, a broken directory
                why = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
                ok = not (self.settings.data_dir / RESTORED).exists()
                log.error("numbers_check_failed", error=why, numbering_held=not ok)
            try:
                if ok:
                    _set_state(self.settings, "open", why)
                    return
                _set_state(self.settings, "held", HELD.format(why=why))
            except OSError as exc:  # a full disk: the runners keep waiting, tried again below
                log.error("numbering_state_unwritten", error=exc.strerror or str(exc))
            self._stop.wait(self.settings.register_.check_retry)


HELD = ("ยังไม่ให้เลขรับ: หลังการกู้คืนจากสำรองยังอ่านเลขรับที่ให้ไปแล้วจากโฟลเดอร์ไม่ได้ครบ หนังสือรอในคิว / "
        "numbering held after a restore until every folder is read back (receive numbers given since the "
        "backup): {why}. If a folder is lost for good: set [register.start_numbers] past the highest number "
        "given, then `saraban-gateway backup confirm-numbers --reason '...'`")


def wait_until_open(settings: Settings, stopping, poll: float) -> bool:  # noqa: ANN001 - a StopFlag
    """The pipeline runner's side: True once numbering may go on, False if stopped first."""
    told = False
    while not stopping():
        if state(settings).get("state", "open") == "open":
            return True
        if not told:
            log.info("numbering_waits", detail=state(settings).get("detail", ""))
            told = True
        time.sleep(poll)
    return False


def earlier_number(settings: Settings, queue_id: str, unit: str) -> tuple[str, int, int] | None:
    """(book, year, number) a letter of the restored spool was given before the restore
    (its copy is in the folder), or None."""
    path = settings.data_dir / EARLIER
    if not path.exists():  # the everyday case: one stat
        return None
    found = _read(path).get(f"{queue_id} {unit}")
    return tuple(found) if found else None
