"""`saraban-gateway backup create FILE` / `backup restore FILE`: the register database,
the vault, the sealed (classified) letters, the keys and the audit trail in one
archive, and back.

What is in it is what the gateway cannot rebuild: the database (receive numbers,
findings, outbox), `vault/` (every letter byte for byte, content-addressed),
`secret/` (sealed ลับ/ลับมาก letters; still encrypted in the archive), `keys/` (the
gateway's private key: without it sealed letters cannot be opened, so the archive is
as secret as the key store), `audit/`, and `spool/new|failed` (accepted letters not
yet finished). Left out: `spool/tmp` (half-written, removed at start-up anyway) and
`metrics/`; the unit folders only with --folders (they are filed copies; a
deployment filing into IMAP has none).

Restore goes into an empty data directory only, with the daemon stopped, and checks
what it restored: every vault file's name is its SHA-256, the database opens and
holds the number of entries the manifest says."""
from __future__ import annotations

import argparse
import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import os
import tarfile
import shutil
import stat
import zlib
from pathlib import Path

from gateway.config.settings import Settings
from gateway.secrecy.shred import folders_of_dead_processes
from gateway.service.crashpoints import crashpoint
from gateway.service.numbering import RESTORED, confirm_numbers, mark_restored, unfinished_restore
from gateway.tools.common import ToolError, cannot_write, friendly, settings_of
from storage.backup import copy_sqlite, count_letters, sqlite_path

DIRECTORIES = ("vault", "secret", "keys", "audit", "spool/new", "spool/failed")
# What the data directory keeps beside them that a restored gateway must have: the units
# and folders known (a folder given to a new address is refused against them,
# gateway/units/in_force.py) and the ลับที่สุด refusals not yet in the register
# (gateway/intake/refusals.py). Until session 53 neither was in the archive: a restored
# gateway let a removed unit's folder go to a new address, and the refusals were lost.
STATE_FILES = ("units-in-force.json", "refusals-owed.json")
DATABASE = "saraban.db"
BACKUP_SCRATCH = "backup-scratch"  # under the data directory: the register's copy while archived
MANIFEST = "manifest.json"


def _database_file(settings: Settings) -> Path:
    path = sqlite_path(settings.database_url)
    if path is None:
        raise ToolError("the register is in PostgreSQL: back it up with pg_dump (docs/install.md, "
                        "'Backup and restore'); this command then saves the files with --files-only")
    return path


def create(settings: Settings, target: Path, folders: bool = False, files_only: bool = False) -> dict:
    data_dir = settings.data_dir
    directories = list(DIRECTORIES) + (["folders"] if folders else [])
    target.parent.mkdir(parents=True, exist_ok=True)
    # The register's copy is made on the data directory's volume (encrypted, docs/secrecy.md),
    # in a folder of this command's own: in TMPDIR, a `backup create` killed there left a
    # copy of the register on /tmp's disk for good (session 53). What a killed one left is
    # removed by the next.
    scratch = data_dir / BACKUP_SCRATCH
    own = _own_scratch(scratch)
    try:
        return _create_in(settings, target, folders, files_only, str(own), directories, data_dir)
    finally:
        shutil.rmtree(own, ignore_errors=True)
        # Not left behind: one made by a `backup create` run as root (0700, root's) made
        # every later run as the gateway's user, the nightly job's, fail with
        # "Permission denied: .../backup-scratch" until someone removed it (session 56).
        try:
            scratch.rmdir()
        except OSError:
            pass  # another run's copy is in it, or it is gone


def _own_scratch(scratch: Path) -> Path:
    """This run's folder for the register's copy, under `scratch`, after removing what
    killed runs left there. An empty `scratch` of another user (left by a run as root
    before session 56) is removed: the data directory is this user's to write."""
    try:
        for left in folders_of_dead_processes(scratch):  # a killed run's copy
            shutil.rmtree(left, ignore_errors=True)
    except PermissionError:
        try:
            scratch.rmdir()
        except OSError:
            pass  # not empty: said below, with whose it is
    own = scratch / str(os.getpid())
    for _ in range(3):
        try:
            scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
            own.mkdir(mode=0o700, exist_ok=True)
            return own
        except FileNotFoundError:
            continue  # another run removed the empty scratch folder between the two
        except OSError as exc:
            owner = _owner_of(scratch)
            whose = (f" ({scratch} belongs to {owner}, a backup create run as {owner} left it: remove it "
                     f"as {owner})" if owner is not None and exc.errno in (errno.EACCES, errno.EPERM) else "")
            raise ToolError(f"cannot make {own} for the register's copy: {exc.strerror or exc}{whose}; "
                            "run backup create as the gateway's user") from None
    raise ToolError(f"cannot make {own} for the register's copy: {scratch} keeps being removed; try again")


def _owner_of(path: Path) -> str | None:
    import pwd

    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    if uid == os.geteuid():
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _create_in(settings: Settings, target: Path, folders: bool, files_only: bool, tmp: str,
               directories: list[str], data_dir: Path) -> dict:
    manifest = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "data_dir": str(data_dir), "directories": [], "database": None, "letters": None}
    if not files_only:
        source = _database_file(settings)
        if not source.exists():
            raise ToolError(f"no database at {source}: nothing has been registered here yet")
        # First the database, then the files: a letter's vault file is written before
        # its registration commits, so every file the copy names is in the archive.
        copy = Path(tmp) / DATABASE
        copy_sqlite(source, copy)
        crashpoint("backup_database_copied")
        manifest["database"] = DATABASE
        manifest["letters"] = count_letters(copy)
    partial = target.with_name(f".{target.name}.partial")
    try:
        fd = _claim_partial(partial, target)
    except OSError as exc:
        raise ToolError(_write_refusal(target, partial, exc)) from None
    # Before this archive takes their room: the backup disk filled with them was the
    # next reason a backup failed.
    removed = _remove_abandoned_partials(target.parent, partial)
    try:
        # Written through a duplicate: the lock is held until the rename is done.
        _write_archive(os.dup(fd), tmp, data_dir, directories, manifest, files_only)
        os.replace(partial, target)
    except BaseException as exc:
        # Never a half archive left behind (ENOSPC, Ctrl-C): it holds the keys too.
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ToolError(_write_refusal(target, partial, exc)) from None
        raise
    finally:
        os.close(fd)
    return {**manifest, "removed_partials": [str(path) for path in removed]}


GZIP_MAGIC = b"\x1f\x8b"


def _remove_abandoned_partials(directory: Path, own: Path) -> list[Path]:
    """The partial archives other `backup create` runs left in `directory` when they were
    killed (OOM, kill -9, a reboot during the cron job), whatever target they were
    writing. `_claim_partial` takes over only a partial of the same name, and a cron
    job names each day's file anew (`saraban-$(date +%F).tar.gz`): every killed run left
    its `.NAME.partial` for good, a copy of the register, the vault and the private key
    that no one knew was there, one more at each kill. Only a file this command could
    have written (ours, empty or gzip) whose writer is gone: a live run holds its lock."""
    removed: list[Path] = []
    try:
        candidates = [p for p in directory.iterdir()
                      if p.name.startswith(".") and p.name.endswith(".partial") and p != own]
    except OSError:
        return removed
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode) or found.st_uid != os.getuid() \
                    or os.pread(fd, 2, 0) not in (b"", GZIP_MAGIC):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a run writing it now
            if os.stat(path, follow_symlinks=False).st_ino != found.st_ino:
                continue  # renamed into place, or replaced, meanwhile
            os.unlink(path)
            removed.append(path)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def _claim_partial(partial: Path, target: Path) -> int:
    """The partial file, locked for this command alone. Two `backup create` of one file
    (a cron job and a sysadmin by hand) wrote one partial file at once: the second's
    O_TRUNC cut the first's, the first renamed it into place while the second still
    wrote into it, and the first said "wrote FILE: vault, folders" of an archive that was
    the second's (no folders) with the first's tail after it, while the second said
    "No such file or directory ... free space" (session 53). The lock goes with the
    process, so a partial a kill -9 left is taken over by the next run."""
    while True:
        # 0600 from the first byte: it holds the register, the vault and the private keys
        # (it was the umask's 0644 until the end, session 36).
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ToolError(f"another `saraban-gateway backup create` is writing {target} now ({partial} "
                            "is locked); nothing was written: wait for it to finish, or name another file") \
                from None
        try:
            current = os.stat(partial).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            os.ftruncate(fd, 0)
            return fd
        os.close(fd)  # the one whose lock we waited on renamed it into place meanwhile


def _write_archive(fd: int, tmp: str, data_dir: Path, directories: list[str], manifest: dict,
                   files_only: bool) -> None:
    with os.fdopen(fd, "wb") as raw:
        os.fchmod(raw.fileno(), 0o600)  # a partial left by an older version kept its mode
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            if not files_only:
                tar.add(Path(tmp) / DATABASE, arcname=DATABASE)
            for name in directories:
                path = data_dir / name
                if path.is_dir():
                    _add_tree(tar, path, name)
                    manifest["directories"].append(name)
            crashpoint("backup_archive_begun")
            for name in STATE_FILES:
                try:
                    tar.add(data_dir / name, arcname=name, recursive=False)
                except FileNotFoundError:  # none kept (a refusal owed is rare)
                    continue
                manifest.setdefault("files", []).append(name)
            info = tarfile.TarInfo(MANIFEST)
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info.size, info.mtime, info.mode = len(body), int(dt.datetime.now().timestamp()), 0o600
            tar.addfile(info, io.BytesIO(body))
        raw.flush()
        os.fsync(raw.fileno())


# The writers' half-written objects (storage/vault.py, gateway/secrecy/sealed_store.py),
# renamed into place or removed at the next start: never a file of the data directory.
# One in the archive made it one `backup restore` refuses ("do not match their SHA-256").
HALF_WRITTEN = {"vault/tmp", "secret/tmp"}


def _add_tree(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    """`tar.add(path)` for a directory the daemon works in while it is read: a spool file
    whose letter was finished, a temporary file renamed, a copy a clerk's client moved,
    all between the listing and the reading, is passed over. With tar.add's own walk a
    backup taken while letters flowed failed about one time in eight ("cannot read
    spool/new/....msg: No such file or directory; nothing was written", session 53). A
    letter finished after the register was copied is in neither: as after any backup,
    its number is read back from its folder copy at a restore."""
    try:
        tar.add(path, arcname=arcname, recursive=False)
        entries = sorted(os.listdir(path)) if path.is_dir() and not path.is_symlink() else []
    except FileNotFoundError:
        return
    for entry in entries:
        if f"{arcname}/{entry}" not in HALF_WRITTEN:
            _add_tree(tar, path / entry, f"{arcname}/{entry}")


def _write_refusal(target: Path, partial: Path, exc: OSError) -> str:
    """What a failed write says: the archive a person named, and the file it could not
    read if that was the trouble ("No space left on device" named none)."""
    why = exc.strerror or str(exc)
    if exc.filename and str(exc.filename) not in (str(partial), str(target)):
        return f"cannot write {target}: cannot read {exc.filename}: {why}; nothing was written"
    return f"cannot write {target}: {why}; nothing was written (free space or choose another place)"


def _vault_problems(vault: Path) -> list[str]:
    bad = []
    for path in vault.rglob("*"):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != path.name:
                bad.append(str(path.relative_to(vault)))
    return bad


def restore(settings: Settings, archive: Path) -> dict:
    data_dir = settings.data_dir
    database = sqlite_path(settings.database_url)
    if database is not None and database.exists() and count_letters(database):
        raise ToolError(f"{database} already holds a register: restore only into an empty data "
                        "directory (stop the daemon, move the old one aside, then restore)")
    busy = [name for name in DIRECTORIES if (data_dir / name).is_dir() and any((data_dir / name).iterdir())]
    if busy:
        raise ToolError(f"{data_dir} is not empty ({', '.join(busy)}): restore only into an empty data directory")
    if not archive.is_file():
        raise ToolError(f"{archive}: no such backup file")
    # Before the first file: a kill -9 (or a failure) from here on leaves the marker, and
    # the daemon numbers nothing on what was put back (gateway/service/numbering.py).
    data_dir.mkdir(parents=True, exist_ok=True)
    mark_restored(data_dir, str(archive), finished=False)
    try:
        manifest = _unpack(archive, data_dir, database)
        crashpoint("restore_database_in_place")
    except (tarfile.TarError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError):
        # The pg_dump file beside it, a copy cut short: a traceback before (tarfile.ReadError).
        _forget_marker_if_nothing_unpacked(data_dir)
        left = " (the data directory may hold part of it: empty it before restoring again)" \
            if any(data_dir.iterdir()) else ""
        raise ToolError(f"{archive} is not a backup written by `saraban-gateway backup create`, "
                        f"or it is damaged (not a whole .tar.gz){left}") from None
    except ToolError:
        _forget_marker_if_nothing_unpacked(data_dir)
        raise
    bad = _vault_problems(data_dir / "vault") if (data_dir / "vault").is_dir() else []
    if bad:
        raise ToolError(f"restored, but {len(bad)} vault file(s) do not match their SHA-256: {', '.join(bad[:5])}")
    letters = count_letters(database) if manifest.get("database") and database else None
    if manifest.get("letters") is not None and letters != manifest["letters"]:
        raise ToolError(f"restored database holds {letters} entries, the backup said {manifest['letters']}")
    # The counters are the backup's: until the folders were read back at the next start
    # (the numbers given since), no letter is numbered (gateway/service/numbering.py).
    mark_restored(data_dir, str(archive), folders_from_backup="folders" in manifest.get("directories", []))
    return {**manifest, "restored_letters": letters}


def _forget_marker_if_nothing_unpacked(data_dir: Path) -> None:
    """A file refused before anything of it was written put nothing back: the marker alone
    would hold numbering on an empty data directory for a restore that never began."""
    if [p.name for p in data_dir.iterdir()] == [RESTORED]:
        (data_dir / RESTORED).unlink()


def extract_data(tar: tarfile.TarFile, destination: Path, members: list[tarfile.TarInfo]) -> None:
    """`members` under `destination` as the "data" filter of PEP 706 has them: no absolute
    path, no `..`, no link out of it, no device, no set-id bit, no owner from the archive.
    Debian 12's Python 3.11.2 (the one `make` prefers, Makefile) has no `filter`: there
    a backup holds only directories and regular files, as `backup create` writes them,
    and any other member, or a name that leaves `destination`, is refused before
    anything is written."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(destination, members=members, filter="data")
        return
    root = os.path.realpath(destination)
    for member in members:
        target = os.path.realpath(os.path.join(root, member.name))
        if not (member.isreg() or member.isdir()) or os.path.isabs(member.name) \
                or os.path.commonpath([root, target]) != root:
            raise tarfile.TarError(f"{member.name!r} is not a file or folder of the data directory")
    for member in members:
        member.mode = member.mode & 0o755 | (0o700 if member.isdir() else 0o600)
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    tar.extractall(destination, members=members, numeric_owner=True)


def _unpack(archive: Path, data_dir: Path, database: Path | None) -> dict:
    with tarfile.open(archive, "r:gz") as tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except KeyError:
            raise ToolError(f"{archive} is not a saraban-gateway backup (no {MANIFEST})") from None
        if manifest.get("database") and database is None:
            # Before the first file: refused after them, the data directory was left half
            # restored and the next try was refused as "not empty".
            raise ToolError("the backup holds a SQLite register but this configuration uses "
                            "PostgreSQL: restore that with pg_restore (docs/install.md)")
        data_dir.mkdir(parents=True, exist_ok=True)
        members = [m for m in tar.getmembers() if m.name not in (MANIFEST, DATABASE)]
        extract_data(tar, data_dir, members)
        if manifest.get("database"):
            partial = database.with_name(f".{database.name}.restore")
            with tar.extractfile(DATABASE) as src, open(partial, "wb") as dst:
                dst.write(src.read())
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(partial, database)
    return manifest


@friendly
def cmd_create(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if Path(args.file).is_dir():  # was "Is a directory: /.tmp.partial", a name nobody typed
        raise ToolError(f"cannot write {args.file}: {cannot_write(args.file)}")
    manifest = create(settings, Path(args.file), args.folders, args.files_only)
    what = f"{manifest['letters']} register entries, " if manifest["letters"] is not None else ""
    print(f"wrote {args.file}: {what}{', '.join(manifest['directories']) or 'no data directories'} "
          f"(keep it as safe as the keys: it holds the gateway's private key)")
    for path in manifest["removed_partials"]:
        print(f"removed {path}: the unfinished archive of a `backup create` that was killed")
    return 0


@friendly
def cmd_restore(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    result = restore(settings, Path(args.file))
    what = f"{result['restored_letters']} register entries, " if result["restored_letters"] is not None else ""
    print(f"restored {args.file} (made {result['created']}) into {settings.data_dir}: {what}"
          f"{', '.join(result['directories'])}; vault checked. Start the daemon: it reads back from the units' "
          f"folders the receive numbers given since the backup before it numbers a letter, then finishes "
          f"what was in hand.")
    return 0


@friendly
def cmd_confirm_numbers(args: argparse.Namespace) -> int:
    import sys

    from gateway.service.numbering import state as numbering_state
    from gateway.tools.actions import reason_refusal, record_action

    settings = settings_of(args)
    unfinished = unfinished_restore(settings.data_dir)
    if unfinished:
        raise ToolError(unfinished)
    marker = settings.data_dir / RESTORED
    if not marker.exists():
        print("numbering was not held after a restore: nothing to confirm")
        return 0
    # The operator's word lets numbering go on past folders nobody read back: if a number
    # given since the backup is given again, the central unit must answer who decided
    # that and why. Until session 54 the act left no trace but a file removed.
    if refusal := reason_refusal(args.reason, required=True):
        print(refusal, file=sys.stderr)
        return 2
    try:
        restored = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        restored = {}
    db = settings.open_database()
    try:
        with db.session() as session:
            record_action(session, "numbers_confirmed", reason=args.reason, details={
                "archive": restored.get("archive"), "restored_at": restored.get("at"),
                "held": str(numbering_state(settings).get("detail") or "")[:2000],
                "start_numbers": {key: {str(year): number for year, number in years.items()}
                                  for key, years in settings.register_.start_numbers.items()}})
    finally:
        db.dispose()
    confirm_numbers(settings.data_dir)  # after the record: a confirmation never unrecorded
    print("numbering goes on at the daemon's next look at the folders (within [register] check_retry): "
          "a folder that cannot be read back no longer holds it; check that [register.start_numbers] "
          "is past every number given since the backup. Recorded in the register's actions "
          "(numbers_confirmed) with your user name and reason")
    return 0
