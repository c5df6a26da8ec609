"""What every tool needs: a clear error instead of a traceback, the services, the
logging of CLI actions, and the way people write units and receive numbers."""
from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import structlog
from storage.db import DatabaseError
from storage.errors import DAMAGED_ADVICE, database_file_moved, is_damaged_database

from gateway.config.settings import Settings, load_settings
from rules.thai_text import thai_to_arabic
from rules.thai_time import REGISTER_YEARS, be_year, now_utc


class ToolError(Exception):
    """Bad input or a refused action: shown as one sentence, exit code 1.

    `th` is the same refusal for a clerk at the web desk, in Thai: the English sentence
    is the command line's and may name a command, which means nothing on a web page;
    `en`, where it does, is the desk's English sentence."""

    def __init__(self, message: str, th: str | None = None, en: str | None = None):
        super().__init__(message)
        self.th = th
        self.en = en

    def for_person(self, lang: str) -> str:
        if lang == "en":
            return self.en or str(self)
        return self.th or str(self)


def not_on_this_gateway(what: str) -> ToolError:
    """A letter whose bytes this gateway does not keep. Gateways sharing one PostgreSQL
    share the register but each keeps the letters it received in its own data directory
    (vault, sealed letters): asked on the other one, the file was a traceback
    (FileNotFoundError), a held letter showed "no files" and was refused as "a
    classified letter kept sealed", a secret one as "sealed object ... is missing"."""
    return ToolError(
        f"{what}: its copy is not in this gateway's data directory. Gateways that share one "
        "database keep each letter on the gateway that received it: do this there (if that "
        "gateway's data directory was lost, restore it from its backup, docs/operations.md)",
        th="สำเนาหนังสือฉบับนี้ไม่ได้เก็บไว้ที่เครื่องนี้ แต่อยู่ที่เกตเวย์เครื่องที่รับหนังสือไว้ "
           "(ใช้ทะเบียนร่วมกัน) กรุณาเปิดหรือดำเนินการจากเครื่องนั้น หรือแจ้งผู้ดูแลระบบ")


def register_year(year: int) -> int:
    """`year` if a register can have it, else the refusal, in both languages: a clerk
    who asked for 2026 was shown an empty register ("0 letter(s)")."""
    if year not in REGISTER_YEARS:
        now = be_year(now_utc())
        raise ToolError(f"{year} is not a Buddhist-era year (e.g. {now}; ปี พ.ศ. เช่น {now})",
                        th=f"ปี พ.ศ. ไม่ถูกต้อง ({year}) กรุณาเขียนเป็นตัวเลขสี่หลัก เช่น {now}")
    return year


def friendly(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ToolError as exc:
            print(f"saraban-gateway: {exc}", file=sys.stderr)
            if exc.th:  # the same refusal in Thai, for the clerk at the terminal
                print(f"  {exc.th}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # `... | head`: the reader has all it wanted (gateway/cli/main.py)
            raise
        except OSError as exc:  # a file that cannot be read or written: say which
            print(f"saraban-gateway: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 1
        except DatabaseError as exc:
            print(database_refusal(exc), file=sys.stderr)
            return 1
    return wrapper


def database_refusal(exc: Exception) -> str:
    """One line for a person when the database refused (PostgreSQL down or restarting,
    SQLite locked past its timeout): the driver's first line, no traceback."""
    if type(getattr(exc, "orig", None)).__name__ == "ConnectionTimeout":
        # It took the connection (or its host never said no) but did not answer: a hung
        # server, a half-open firewall; not a refusal (storage/db.py, connect_timeout).
        return ("saraban-gateway: the database did not answer within its connect_timeout "
                "(the server took the connection and said nothing); is PostgreSQL up and not hung, "
                "and is the host and port in database_url right?")
    if is_damaged_database(exc):
        return f"saraban-gateway: {DAMAGED_ADVICE}"
    moved = database_file_moved(exc)
    if moved is not None:  # the running daemon's file moved: opened, a new empty one is made
        return f"saraban-gateway: {moved}"
    first = (str(exc).splitlines() or [""])[0]
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if state in ("55P03", "57014") or "database is locked" in first.lower():
        # Not a refusal and nothing to configure: a lock another program holds (a sqlite3
        # shell's BEGIN, LOCK TABLE, VACUUM FULL) outlasted [storage] lock_timeout /
        # statement_timeout (docs/database.md, "When the database is stuck").
        return ("saraban-gateway: the database is stuck: another program holds a lock the gateway needs "
                "and did not let go within [storage] lock_timeout (a sqlite3 shell left in BEGIN, LOCK TABLE, "
                "VACUUM FULL, a migration by hand); `status` says which; try again once it is released")
    return (f"saraban-gateway: the database refused ({type(exc).__name__}: {first}); "
            "is it reachable and is the configuration right?")


def _who() -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"
    except KeyError:
        return f"uid {os.geteuid()}"


def _owner(path: Path) -> str | None:
    """The user owning `path` or the nearest folder above it that exists."""
    import pwd

    for place in (path, *path.parents):
        try:
            uid = os.stat(place).st_uid
        except OSError:
            continue
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"uid {uid}"
    return None


def os_refusal(exc: OSError) -> str:
    """One line for a person when a file of the gateway could not be used: which file,
    why in words, and for a permission, whose it is and how to run as them."""
    import errno

    name = exc.filename if exc.filename is not None else ""
    where = f" {name}" if name else ""
    if exc.errno in (errno.EACCES, errno.EPERM) and name:
        owner = _owner(Path(os.fsdecode(name)))
        advice = (f"; it belongs to {owner}: run the command as that user (sudo -u {owner} saraban-gateway ...)"
                  if owner and owner != _who().split(" ")[0] else "")
        return f"saraban-gateway: permission denied:{where} cannot be used by {_who()}{advice}"
    if exc.errno == errno.EROFS:
        return f"saraban-gateway: the file system is read-only:{where} cannot be written"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"saraban-gateway: no space left on the disk (or the user's quota) for{where}"
    reason = exc.strerror or type(exc).__name__
    return f"saraban-gateway: {reason}{':' + where if where else ''}"


def unopenable_database(args: argparse.Namespace, exc: Exception) -> str | None:
    """SQLite's "unable to open database file" names no file and no reason; the usual
    one is a database this user may not open. Says which file and whose it is, or None
    (not SQLite, not that error, or no permission problem found)."""
    if "unable to open database file" not in str(exc):
        return None
    from storage.db import sqlite_file

    try:
        path = sqlite_file(load_settings(args.config).database_url)
    except Exception:  # noqa: BLE001 - only a better sentence is at stake
        return None
    if path is None:
        return None
    # os.path's and os.access's answers, not Path.exists(): that raises on a folder this
    # user may not enter, which is the very case to name.
    for place in (*reversed(path.parents), path.parent):
        if os.path.isdir(place) and not os.access(place, os.X_OK):
            return os_refusal(PermissionError(13, "Permission denied", str(place)))
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return os_refusal(PermissionError(13, "Permission denied", str(path)))
    if not os.path.exists(path) and os.path.isdir(path.parent) and not os.access(path.parent, os.W_OK):
        return os_refusal(PermissionError(13, "Permission denied", str(path.parent)))
    return None


def settings_of(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    setup_cli_logging(settings, verbose=getattr(args, "verbose", False))
    return settings


# Commands that may run while the daemon registers in another database than the
# configuration names: the database's own (the new one prepared before the restart),
# `status` (it shows the daemon's register with a warning), the daemon, and those that
# open no register.
ANY_DATABASE = frozenset({"db", "status", "check-config", "run", "keys", "verify", "rules", "units", "audit"})


@contextmanager
def open_services(args: argparse.Namespace, role: str = "register", *,
                  writes: bool = True, new_database: bool = False) -> Iterator["Services"]:  # noqa: F821
    """The daemon's services for one tool command, closed after. A command that writes
    brings the schema to the newest migration first; one that only reads checks it and
    says to run `db upgrade` when it is behind (it never changes the schema).

    A command that decides on rows already there (release, reject, cancel, reprocess)
    refuses a database never set up, as the reading ones do: with the wrong --config or
    a relative data_dir run from another folder it made a new, empty register and
    answered "no quarantine entry 1" (session 38). `new_database`: one that may be the
    first to write (the emergency register's import)."""
    from gateway.service.services import open_services as open_role
    from storage.schema_version import require_current, schema_revision

    settings = settings_of(args)
    if writes and not new_database:
        db = settings.open_database()
        try:
            if schema_revision(db.engine) is None:
                require_current(db.engine)  # SchemaBehind: "not set up", which file, exit 2
        finally:
            db.dispose()
    with open_role(settings, role, upgrade_schema=writes) as services:
        if not writes:
            # SchemaBehind goes to the command line's handler: exit code 2, as for
            # `status` and `register list` (session 16: `quarantine list` said 1).
            require_current(services.db.engine)
        yield services


def same_database_as_the_daemon(settings: Settings) -> None:
    """Refuse a command while the running daemon registers in another database than the
    configuration now names (`[storage]` is read at start-up only). `register list`,
    `quarantine release` and the others opened the new one: a reader was told to run `db
    upgrade` (a second, empty register), a writer made that register and, finding no entry
    there, said so (session 53; `status` shows the daemon's register with a warning)."""
    from gateway.service.db_file import daemon_database_elsewhere
    from gateway.service.instance_lock import running_pid

    elsewhere = daemon_database_elsewhere(settings, running_pid(settings.data_dir))
    if elsewhere is not None:
        named = settings.effective()["effective"]["database_url"]  # never a password on the screen
        raise ToolError(f"the running daemon registers in {elsewhere}, not in the database the configuration "
                        f"now names ({named}), which it reads only at start-up: restart it (systemctl restart "
                        "saraban-gateway) or put the old value back; nothing was read or written",
                        th="ระบบที่ทำงานอยู่ยังใช้ทะเบียนเดิม ส่วนการตั้งค่าระบุฐานข้อมูลใหม่ซึ่งจะใช้หลังเริ่มระบบใหม่ "
                           "กรุณาแจ้งผู้ดูแลระบบ ไม่ได้อ่านหรือบันทึกสิ่งใด")


def setup_cli_logging(settings: Settings, verbose: bool = False) -> None:
    """Events of a CLI action go to stderr, and only with -v: a person reads the
    command's answer, not the daemon's event stream (the action itself is kept in
    operator_actions either way). JSON lines when run by a script or a timer (journald
    keeps them), readable lines when a person is at the terminal."""
    fmt = "console" if sys.stderr.isatty() else "json"
    from gateway.service.log import setup_logging

    setup_logging(settings.logging.level if verbose else "warning", fmt, process="cli", stream=sys.stderr)
    structlog.configure(processors=[_drop_start_up_noise, *structlog.get_config()["processors"]])


QUIET_EVENTS = {"directory_loaded"}  # the daemon's start-up news, not the operator's action


def _drop_start_up_noise(_logger, _method, event_dict):
    if event_dict.get("event") in QUIET_EVENTS:
        raise structlog.DropEvent
    return event_dict


def sheet_text(path: Path) -> str:
    """A CSV a person saved from a spreadsheet, as text (UTF-8, with Excel's byte-order
    mark or without); Excel's plain "CSV" (Windows-874 for Thai) named, not a traceback."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ToolError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ToolError(f"{path}: not UTF-8 text (byte {exc.start}); save the sheet as 'CSV UTF-8'") from None


def cannot_write(out: str | Path) -> str | None:
    """Why a command cannot write the file a person named (`-o`, `--out`, an archive),
    or None; said before the work, not as a traceback after it."""
    path = Path(out)
    if path.is_dir():
        return "it is a folder; give a file name in it"
    if not path.parent.is_dir():
        return f"there is no folder {path.parent}"
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "this user may not write there"
    return None


def unit_name(text: str) -> str:
    """'saraban.latkrabang@bangkok.go.th' or 'saraban.latkrabang' -> the local part."""
    name = text.strip().split("@", 1)[0].lower()
    if not name:
        raise ToolError("no unit given: give its address, e.g. saraban.latkrabang",
                        th="ไม่ได้ระบุหน่วยงาน กรุณาระบุที่อยู่ของหน่วยงาน เช่น saraban.latkrabang")
    return name


def quoted(text: str, most: int = 60) -> str:
    """What a person typed, as a refusal quotes it: at most `most` characters (a
    3000-character paste was said twice, in English and in Thai, whole)."""
    return text if len(text) <= most else text[:most] + "…"


def directory_unit(directory, text: str) -> str:
    """The unit a person named, by its address (with or without the domain) or by its
    Thai or English name as the unit directory writes it ("สำนักงานเขตลาดกระบัง"): a new
    clerk types the name on the stamp, and `register list --unit` with it listed an
    empty register ("0 letter(s)") as if the unit had received nothing."""
    _same_domain(directory, text)
    name = unit_name(text)
    if directory.lookup(name) is not None:
        return name
    wanted = " ".join(text.split()).casefold()
    named = [u.address for u in directory.units if wanted in (u.name_th.casefold(), u.name_en.casefold())]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        # Two units of one name in the directory (since session 36 said so, not "unknown")
        listed = ", ".join(named)
        raise ToolError(f"{len(named)} units are named \"{text}\" in the unit directory ({directory.source}): "
                        f"give the address of the one you mean ({listed})",
                        th=f"ทำเนียบหน่วยงานมี {len(named)} หน่วยงานที่ชื่อ \"{text}\" กรุณาระบุที่อยู่ของหน่วยงานที่ต้องการ "
                           f"({listed})")
    raise ToolError(f"unknown unit \"{quoted(text)}\": not in the unit directory ({directory.source}); "
                    "give its address, e.g. saraban.latkrabang, or its name as the directory writes it",
                    th=f"ไม่พบหน่วยงาน \"{quoted(text)}\" ในทำเนียบหน่วยงาน กรุณาระบุที่อยู่ เช่น saraban.latkrabang "
                       "หรือชื่อหน่วยงานให้ตรงกับทำเนียบ")


def _same_domain(directory, text: str) -> None:
    """A unit's address with another domain (saraban.latkrabang@other.go.th) refused:
    until session 38 the domain was dropped and the gateway's own unit of that name
    answered, as if the address were right."""
    address = text.strip()
    if "@" not in address:
        return
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    if domain != directory.domain:
        local = address.rpartition("@")[0].strip().lower()
        raise ToolError(f"\"{text}\" is an address of {domain or 'no domain'}, not of this gateway's "
                        f"{directory.domain}: give the unit as {local or 'saraban.latkrabang'} "
                        f"or {local or 'saraban.latkrabang'}@{directory.domain}",
                        th=f"ที่อยู่ \"{text}\" ไม่ใช่โดเมนของเกตเวย์นี้ ({directory.domain}) "
                           f"กรุณาระบุหน่วยงานเป็น {local or 'saraban.latkrabang'} "
                           f"หรือ {local or 'saraban.latkrabang'}@{directory.domain}")


def listed_unit(directory, text: str | None, has_rows: Callable[[str], bool]) -> str | None:
    """`directory_unit` for a listing; a unit since removed from the directory is still
    listed by its address while the register or the quarantine holds rows of it."""
    if text is None:
        return None
    _same_domain(directory, text)
    try:
        return directory_unit(directory, text)
    except ToolError:
        if has_rows(unit_name(text)):
            return unit_name(text)
        raise


_RECEIVE_NO = re.compile(r"^\s*(\d{1,7})\s*/\s*(\d{4})\s*$")
# What a newcomer writes for 15/2569: 15-2569, 15.2569, 15 2569, 15/69.
_RECEIVE_NO_LIKE = re.compile(r"^\s*(\d{1,7})\s*([-./\\ _]|\s)\s*(\d{2,4})\s*$")


def looks_like_receive_no(text: str) -> bool:
    """True for what a person meant as a receive number, written right or wrong (Thai
    digits, another separator, a two-digit year); a queue id is 24 hex digits."""
    return bool(_RECEIVE_NO_LIKE.match(thai_to_arabic(text)))


def parse_receive_no(text: str) -> tuple[int, int]:
    """'15/2569' or '๑๕/๒๕๖๙' -> (15, 2569): the number and its Buddhist-era year.
    Since session 38 a refusal says, in English and Thai, how to write the one meant
    (15-2569 and 15/69 were "not a receive number", in English only)."""
    arabic = thai_to_arabic(text)
    match = _RECEIVE_NO.match(arabic)
    if not match:
        like = _RECEIVE_NO_LIKE.match(arabic)
        shown = text if len(text) <= 40 else text[:40] + "…"
        if like and len(like[3]) == 4:
            meant = f"{int(like[1])}/{like[3]}"
            raise ToolError(f"\"{shown}\" is not a receive number: write it with a slash, {meant}",
                            th=f"เลขรับ \"{shown}\" ไม่ถูกต้อง กรุณาเขียนเป็น เลขที่/ปี พ.ศ. เช่น {meant}")
        if like and len(like[3]) == 2:
            meant = f"{int(like[1])}/25{like[3]}"
            raise ToolError(f"\"{shown}\" is not a receive number: write the Buddhist-era year in full, "
                            f"e.g. {meant}",
                            th=f"เลขรับ \"{shown}\" ไม่ถูกต้อง กรุณาเขียนปี พ.ศ. เต็มสี่หลัก เช่น {meant}")
        raise ToolError(f"\"{shown}\" is not a receive number; write it NUMBER/YEAR, e.g. 15/2569",
                        th=f"เลขรับ \"{shown}\" ไม่ถูกต้อง กรุณาเขียนเป็น เลขที่/ปี พ.ศ. เช่น 15/2569")
    number, year = int(match[1]), int(match[2])
    if not 2400 <= year <= 2700:
        raise ToolError(f"{year} is not a Buddhist-era year (e.g. 2569)",
                        th=f"ปี พ.ศ. ไม่ถูกต้อง ({year}) กรุณาเขียนเป็นตัวเลขสี่หลัก เช่น 2569")
    return number, year
