"""The receive numbers the gateway's filed copies carry, read back from the folders.

A folder copy and a secret registrar's sealed copy carry `X-Saraban-Receive-No`,
`X-Saraban-Unit`, `X-Saraban-Book` and `X-Saraban-Queue-Id` in their headers (in clear
on the sealed copy too: folder_copy.py, registrar.py). They outlive the database: after
an older backup of the register is put back, they are what says which numbers were
given since (gateway/service/numbering.py).

Cheap on a big folder: headers only (a Maildir file's first block, IMAP
`BODY.PEEK[HEADER.FIELDS (...)]` after a server-side `SEARCH HEADER`), and only the
newest `limit` copies of each folder: the numbers given since a backup are the last
ones filed. Every folder is read, not only the one the gateway files into: Maildir++
sub-folders, and every folder of an IMAP account, since a clerk moves letters on. A folder that cannot be read is named in `unreachable`, never taken as
empty.

Those folders are mailboxes anyone can send a message to: a number counts only on a
copy that carries the gateway's seal on it (gateway/delivery/copy_seal.py); the highest
number each register's unsealed copies claim is kept apart (`unsealed`), to be told,
never believed."""
from __future__ import annotations

import email.header
import email.message
import email.parser
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.delivery.copy_seal import HEADER as SEAL_HEADER, copy_seal_key, sealed_by_us
from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.delivery.targets import imap_target, route_for
from gateway.intake.imap_session import ImapGone
from gateway.units.directory import Directory
from rules.thai_time import REGISTER_YEARS

if TYPE_CHECKING:
    from gateway.config.settings import Settings

HEADER_BYTES = 64 * 1024  # our fields are the copy's first lines; a header block is rarely longer
_NUMBER = re.compile(r"^([1-9][0-9]{0,8})/([0-9]{4})$")

Register = tuple[str, str, int]  # (unit, book, Buddhist-era year)


@dataclass
class NumbersSeen:
    highest: dict[Register, int] = field(default_factory=dict)
    where: dict[Register, str] = field(default_factory=dict)  # the folder the highest was seen in
    # (queue id, unit) -> (book, year, number): which letter each number was given to
    copies: dict[tuple[str, str], tuple[str, int, int]] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)
    read: int = 0
    key: bytes | None = None  # the data directory's copy-seal key; None: nothing is believed
    # (unit, book, year) -> (highest number, folder) claimed by copies without our seal
    unsealed: dict[Register, tuple[int, str]] = field(default_factory=dict)

    def add(self, fields: email.message.Message, folder: str) -> None:
        def value(name: str) -> str:
            raw = fields.get(name)
            if raw is None:
                return ""
            try:
                text = str(email.header.make_header(email.header.decode_header(str(raw))))
            except Exception:  # noqa: BLE001 - a field no parser reads: not one of ours
                return ""
            return "".join(text.split())

        match = _NUMBER.match(value("X-Saraban-Receive-No"))
        unit, book, queue_id = value("X-Saraban-Unit").lower(), value("X-Saraban-Book"), value("X-Saraban-Queue-Id")
        if not match or not unit or not book or int(match.group(2)) not in REGISTER_YEARS:
            return
        number, year = int(match.group(1)), int(match.group(2))
        key = (unit, book, year)
        seal = str(fields.get(SEAL_HEADER) or "")
        if self.key is None or not sealed_by_us(self.key, seal, unit, book, match.group(0), queue_id):
            if number > self.unsealed.get(key, (0, ""))[0]:
                self.unsealed[key] = (number, folder)
            return
        self.read += 1
        if number > self.highest.get(key, 0):
            self.highest[key], self.where[key] = number, folder
        if queue_id:
            self.copies[(queue_id, unit)] = (book, year, number)


def numbers_seen(settings: Settings, directory: Directory, limit: int) -> NumbersSeen:
    seen = NumbersSeen(key=copy_seal_key(settings.data_dir))
    _maildirs(settings.folders_dir, limit, seen)
    _imap_folders(settings, directory, limit, seen)
    return seen


def _maildirs(root: Path, limit: int, seen: NumbersSeen) -> None:
    """Every Maildir under the folders directory (unit folders and `.secret` ones, of
    units since renamed too). A folder that is a symbolic link (a unit's Maildir on
    another disk) is read through it, each directory once; one that cannot be listed
    is named in `unreachable`. Until session 52 os.walk passed over both in silence:
    after a restore, the numbers given in a linked unit folder were given again."""
    if not root.is_dir():
        return

    def unlisted(exc: OSError) -> None:
        seen.unreachable.append(f"Maildir {exc.filename}: {exc.strerror or exc}")

    walked: set[tuple[int, int]] = set()
    for path, dirs, _files in os.walk(root, onerror=unlisted, followlinks=True):
        try:
            where = os.stat(path)
        except OSError as exc:
            unlisted(exc)
            dirs[:] = []
            continue
        if (where.st_dev, where.st_ino) in walked:  # a link back to a folder read already
            dirs[:] = []
            continue
        walked.add((where.st_dev, where.st_ino))
        if "cur" in dirs and "new" in dirs:
            try:
                _maildir(Path(path), limit, seen, str(Path(path).relative_to(root)))
            except OSError as exc:
                seen.unreachable.append(f"Maildir {path}: {exc.strerror or exc}")
            dirs[:] = [d for d in dirs if d not in ("cur", "new", "tmp")]


def _maildir(maildir: Path, limit: int, seen: NumbersSeen, name: str) -> None:
    entries = []
    for sub in ("new", "cur"):
        with os.scandir(maildir / sub) as found:
            for entry in found:
                when = _filed_at(entry)
                if when is not None:
                    entries.append((when, entry.path))
    entries.sort(reverse=True)  # filed last first: the numbers given since a backup
    for _when, path in entries[:limit]:
        try:
            with open(path, "rb") as f:
                head = f.read(HEADER_BYTES)
        except FileNotFoundError:  # moved new/ -> cur/ between the listing and the read
            continue
        end = re.search(rb"\r?\n\r?\n", head)
        seen.add(email.parser.BytesHeaderParser().parsebytes(head[:end.start()] if end else head),
                 f"Maildir {name}")


# When a copy was filed, from its name alone: ours start with the queue id (nanoseconds
# since the epoch in hex, gateway/spool.py), a mail server's with the Unix time (Maildir's
# own naming, kept by Dovecot when the clerk moves a letter). A folder of 100,000 letters
# is then one directory listing, not 100,000 stat calls; any other name is stat'ed.
_OURS = re.compile(r"^([0-9a-f]{16})[0-9a-f]{8}\.")
_MAILDIR = re.compile(r"^([0-9]{9,11})\.")


def _filed_at(entry: os.DirEntry) -> float | None:
    if (m := _OURS.match(entry.name)) is not None:
        return int(m.group(1), 16) / 1e9
    if (m := _MAILDIR.match(entry.name)) is not None:
        return float(m.group(1))
    try:
        return entry.stat().st_mtime
    except FileNotFoundError:  # moved by the clerk's client meanwhile
        return None


def _imap_folders(settings: Settings, directory: Directory, limit: int, seen: NumbersSeen) -> None:
    if not settings.delivery.imap:
        return
    units = [u.address for u in directory.units] + [u for u in settings.delivery.units
                                                     if directory.lookup(u) is None]
    # Every folder of an account is read (a clerk moves filed letters on): one look per
    # account, whichever units and registrars file into it.
    accounts: dict[tuple, ImapTarget] = {}
    for unit in units:
        route = route_for(settings, unit)
        if route.backend != "imap":
            continue
        found = directory.lookup(unit)
        folder = found.folder if found is not None else unit
        for registrar in (False, True):
            target = imap_target(settings, route, unit, folder, registrar=registrar)
            accounts.setdefault((target.host, target.port, target.username), target)
    filer = ImapFiler()
    silent: dict[tuple[str, int], str] = {}  # a server that did not answer is not asked per account
    try:
        for target in accounts.values():
            name = f"IMAP {target.host} as {target.username}"
            if (target.host, target.port) in silent:
                seen.unreachable.append(f"{name}: {silent[(target.host, target.port)]}")
                continue
            try:
                for folder, fields in filer.numbered_copies(target, limit):
                    seen.add(fields, f"IMAP {folder!r} on {target.host} as {target.username}")
            except Exception as exc:  # noqa: BLE001 - any cause: this account was not read
                reason = (str(exc) or type(exc).__name__).replace("\r", " ").replace("\n", " ")[:300]
                seen.unreachable.append(f"{name}: {reason}")
                if isinstance(exc, (ImapGone, OSError)):
                    silent[(target.host, target.port)] = f"the server did not answer ({reason})"
    finally:
        filer.close()
