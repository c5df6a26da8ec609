"""`saraban-gateway status`: what is waiting, what is stuck, what is done."""
from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.service.instance_lock import running_pid
from gateway.config.settings import Settings
from gateway.intake.clock_guard import clock_warning, receipt_warning
from gateway.intake.refusals import owed_counts, owed_warning
from gateway.intake.disk_space import MIB, DiskReading, storage_guard
from gateway.notices.status import notice_status, render_notice_status
from gateway.service.db_file import daemon_database_elsewhere, problem_for_status
from gateway.service.health import LOCK_PROBE, stuck_words
from gateway.service.numbering import state as numbering_state
from gateway.intake.tls import configured_certificate_warnings
from gateway.service.readiness import notice_warnings, ocr_warnings, registrar_gaps, registrar_warning
from gateway.service.status_imap import render_imap
from gateway.spool import Spool
from gateway.delivery.error_texts import error_for_person
from storage.counts import counts, imap_mailboxes, notice_figures, retrying, waiting_letter
from storage.errors import is_transient_reason
from storage.schema_version import require_current
from storage.outbox import LETTER_COPIES
from storage.register import newest_receipt, newest_register_year, units_with_classified_letters

if TYPE_CHECKING:
    from storage.db import Database


def collect_status(settings: Settings, db: Database | None = None) -> dict:
    """`_collect_status` of the register the running daemon writes, also when the
    configuration file names another database that waits for a restart."""
    elsewhere = daemon_database_elsewhere(settings, running_pid(settings.data_dir))
    if elsewhere is None:
        return _collect_status(settings, db)
    if elsewhere.startswith("postgresql://"):
        # Its password is in no record (one file holds it: the configuration, which now
        # names another database), so its register cannot be read from here.
        from gateway.tools.common import same_database_as_the_daemon

        same_database_as_the_daemon(settings)  # raises: the refusal the other commands give
    url = f"sqlite:///{elsewhere}"
    shown = settings.model_copy(update={"storage": settings.storage.model_copy(update={"database_url": url})})
    result = _collect_status(shown)
    result["warnings"].insert(0, (
        f"the running daemon registers in {elsewhere}; the configuration now names another database "
        f"({_masked(settings)}), read only at start-up: this status is of {elsewhere}. Restart the daemon "
        "to use the new one (systemctl restart saraban-gateway), or put the old value back"))
    return result


def _masked(settings: Settings) -> str:
    return settings.effective()["effective"]["database_url"]  # never a password on the screen


def _collect_status(settings: Settings, db: Database | None = None) -> dict:
    """Read-only: it checks the schema instead of upgrading it (storage/schema_version.py).
    `db`: a Database already open on this configuration's register, kept by a caller that
    asks again and again (the tests' waits, tests/daemon.py `status_here`), so that
    SQLAlchemy's compiled statements, cached per engine, are not compiled anew each time
    (~60 % of a call); `status` itself opens one and closes it."""
    spool = Spool(settings.spool_dir)
    # The spool before the database: a letter leaves the spool only after its
    # registration (and its notice, its copies) is committed, so a spool read empty
    # first means the database read after it holds that letter's outbox items; read the
    # other way round, a letter registered in between was in neither, and a caller
    # waiting for "nothing pending" (tests' wait_idle, a sysadmin before a restart) was
    # told so while its notice was not yet counted.
    spool_figures = {"pending": spool.depth(), "parked": len(spool.parked())}
    owed = owed_counts(settings.data_dir)  # before the register, as the spool: written, then removed
    pid = running_pid(settings.data_dir)
    moved = problem_for_status(settings, pid)
    if moved is not None:
        # Not opened: a missing file would be made anew, empty, at the path, and a file
        # put in its place would be opened with the WAL the daemon's connections still write.
        return _without_database(settings, pid, spool_figures, moved[0], owed)
    own = db is None
    if own:
        db = settings.open_database()
    try:
        require_current(db.engine)
        # Read without the write lock: a lock another program holds is what `status`
        # must then report, not wait lock_timeout behind and fail on (session 18).
        blocked = db.writer_blocked(LOCK_PROBE)
        with db.read_session() as session:
            figures = counts(session, overdue_after=settings.delivery.dead_after)
            notices = notice_status(settings, notice_figures(session))
            letter = waiting_letter(session)
            copies = {kind: found for kind in sorted(LETTER_COPIES) if (found := retrying(session, kind))}
            imap_intake = imap_mailboxes(session)
            classified_units = units_with_classified_letters(session)
            # Not behind a held lock (its table is the one a migration by hand locks):
            # the clock's warning waits for the database to be free.
            newest_year = None if blocked else newest_register_year(session)
            newest_time = None if blocked else newest_receipt(session)
    finally:
        if own:
            db.dispose()
    missing = registrar_gaps(settings, classified_units)
    gate = numbering_state(settings)
    disk = storage_guard(settings).reading()
    return {
        "daemon": {"running": pid is not None, "pid": pid},
        "spool": spool_figures,
        "waiting": letter,  # the oldest letter the pipeline retries after a failure, and why
        "disk": {"free_mib": None if disk.free is None else disk.free // MIB, "floor_mib": disk.floor // MIB,
                 "detail": disk.describe()},
        "messages": figures.messages,
        "letters": figures.letters,
        "outbox": figures.outbox,
        "retrying": copies,  # the oldest letter copy of each kind waiting after a failure, and why
        "quarantine": figures.quarantine,
        "refused": figures.refused,  # e.g. {"top_secret": 2}: refused at end of DATA
        "refused_not_recorded": owed,  # refusals kept in refusals-owed.json, the database away
        "notices": notices,
        "imap_intake": imap_intake,
        "registrars_missing": missing,
        "numbering": gate or {"state": "open"},
        "database": {"ok": not blocked, "detail": stuck_words(blocked, LOCK_PROBE) if blocked else "ok"},
        "warnings": _stopped_warning(pid, settings, spool_figures["pending"]) + _database_warning(blocked)
        + notice_warnings(settings) + registrar_warning(missing)
        + _disk_warning(disk) + _overdue_warning(figures.outbox) + clock_warning(settings, newest_year)
        + receipt_warning(newest_time)
        + _held_warning(gate) + ocr_warnings()
        + configured_certificate_warnings(settings) + owed_warning(owed, settings.data_dir),
    }


def status_without_database(settings: Settings, refusal: str) -> dict:
    """`status` while the database refuses (`refusal`, in words): the spool, the daemon,
    the disk and the numbering, which need none."""
    spool = Spool(settings.spool_dir)
    spool_figures = {"pending": spool.depth(), "parked": len(spool.parked())}
    pid = running_pid(settings.data_dir)
    owed = owed_counts(settings.data_dir)
    status = _without_database(settings, pid, spool_figures, refusal, owed)
    status["warnings"] = [*status["warnings"][:1], *_stopped_warning(pid, settings, spool_figures["pending"]),
                          *status["warnings"][1:]]
    return status


def _without_database(settings: Settings, pid: str | None, spool_figures: dict, moved: str,
                      owed: dict[str, int]) -> dict:
    """`status` while the running daemon's database file is gone from its path: what the
    spool and the disk say, and why nothing else can be read."""
    disk = storage_guard(settings).reading()
    gate = numbering_state(settings)
    return {
        "daemon": {"running": pid is not None, "pid": pid},
        "spool": spool_figures,
        "waiting": None,
        "disk": {"free_mib": None if disk.free is None else disk.free // MIB, "floor_mib": disk.floor // MIB,
                 "detail": disk.describe()},
        "messages": {}, "letters": None, "outbox": {}, "retrying": {}, "quarantine": {}, "refused": {},
        "refused_not_recorded": owed,
        "imap_intake": {}, "registrars_missing": [],
        "numbering": gate or {"state": "open"},
        "database": {"ok": False, "detail": moved},
        "warnings": [moved] + _disk_warning(disk) + owed_warning(owed, settings.data_dir)
        + _held_warning(gate),
    }


def _held_warning(gate: dict | None) -> list[str]:
    """Numbering held (after a restore): said with or without the database, since the
    folders to put back are the numbering file's, not the register's."""
    return [gate["detail"]] if gate and gate.get("state") == "held" else []


def _stopped_warning(pid: str | None, settings: Settings, pending: int) -> list[str]:
    if pid is not None:
        return []
    return [f"no saraban-gateway is running on {settings.data_dir}: no letter is accepted, and the "
            f"{pending} letter(s) in the spool and the outbox's items wait until it starts "
            "(systemctl start saraban-gateway)"]


def _database_warning(blocked: str | None) -> list[str]:
    if not blocked:
        return []
    return [f"the database is {stuck_words(blocked, LOCK_PROBE)}; end that session (or let the backup "
            "finish) and nothing else is needed"]


def _overdue_warning(outbox: dict[str, dict[str, int]]) -> list[str]:
    late = {kind: states["overdue"] for kind, states in outbox.items() if states.get("overdue")}
    if not late:
        return []
    return [f"{', '.join(f'{n} {kind}' for kind, n in sorted(late.items()))} item(s) still failing after "
            "[delivery] dead_after: a letter's copies are never given up and are retried every retry_max; "
            "see `outbox list --state pending` for the error, then `outbox retry ID` once it is fixed"]


def _disk_warning(disk: DiskReading) -> list[str]:
    if disk.ok:
        return []
    return [f"the disk is below [smtp] min_free_mb ({disk.floor // MIB} MiB): new letters are refused "
            "with 452 4.3.1 (senders retry) until space is freed; letters already accepted wait in the spool"]


def render_status(status: dict) -> str:
    daemon = status.get("daemon") or {}
    # Without the database, "none" and "empty" would be read as facts.
    read = status["letters"] is not None or (status.get("database") or {}).get("ok", True)
    lines = [
        *([f"daemon     {'running, pid ' + str(daemon.get('pid')) if daemon.get('running') else 'not running'}"]
          if daemon else []),
        f"spool      pending {status['spool']['pending']}, parked {status['spool']['parked']}",
        *_waiting_letter_line(status.get("waiting")),
        "messages   " + (", ".join(f"{k} {v}" for k, v in sorted(status["messages"].items()))
                         or ("none" if read else "? (the database was not read)")),
        f"register   {status['letters'] if status['letters'] is not None else '?'} letter(s)",
    ]
    if "disk" in status:
        lines.append(f"disk       {status['disk']['detail']}")
    for kind, states in sorted(status["outbox"].items()):
        lines.append(f"outbox     {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
        if kind in status.get("retrying", {}):
            lines.append(_retrying_line(status["retrying"][kind]))
    lines += render_imap(status)
    lines.append("quarantine " + (", ".join(f"{k} {v}" for k, v in sorted(status["quarantine"].items()))
                                  or ("empty" if read else "?")))
    if status.get("refused"):
        lines.append("refused    " + ", ".join(f"{k} {v}" for k, v in sorted(status["refused"].items())))
    if status.get("refused_not_recorded"):
        lines.append("refused    not yet recorded: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(status["refused_not_recorded"].items())))
    if "notices" in status:
        lines.append(render_notice_status(status["notices"]))
    lines += [f"WARNING    {w}" for w in status.get("warnings", [])]
    return "\n".join(lines)


def _retrying_line(item: dict) -> str:
    """Which copy waits, since when, the next try and what failed, in words (the
    exception's own text stays in the log: delivery_retry)."""
    also = f" (and {item['items'] - 1} more)" if item["items"] > 1 else ""
    return (f"           waiting: {item['unit'] or '?'} letter {item['queue_id']} (outbox item {item['id']}){also}, "
            f"since {item['since']}, attempt {item['attempts']}, next {item['next_attempt_at']}: "
            f"{error_for_person(item['last_error'])}")


def _waiting_letter_line(letter: dict | None) -> list[str]:
    """The oldest letter retried after a failure: the storage's condition in words (a
    full disk, the database away), any other failure only by name of the log event: a
    letter's own failure is kept as an exception's type and place, for the staff."""
    if not letter:
        return []
    why = (error_for_person(letter["reason"]) if is_transient_reason(letter["reason"])
           else "ระบบตรวจหนังสือขัดข้อง / the gateway failed to process it (process_failed in the log)")
    also = f" (and {letter['letters'] - 1} more)" if letter["letters"] > 1 else ""
    return [f"           waiting: letter {letter['queue_id']}{also}, received {letter['since']}, retried: {why}"]
