"""Where a unit's mail goes, and the one transport for every backend.

Per unit, `[delivery.units."<unit>"]` picks maildir (default), imap (APPEND into a
folder on the mail server) or smtp (forward to departmental addresses); units without
a table use `[delivery] backend`. The route is read when the item is worked, not when
it was queued, so fixing the configuration and retrying a dead item re-routes it.

Two kinds of item travel this way: the folder copy (`deliver_routed`, outbox kind
"folder") and the secret registrar's S/MIME copy (gateway/delivery/registrar.py,
kind "registrar"), each to its own destination on the same backend."""
from __future__ import annotations

import datetime as dt
import smtplib
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from gateway.delivery.folder_copy import folder_copy
from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.delivery.targets import imap_target, route_for
from gateway.delivery.maildir import deliver
from gateway.delivery.smtp import forward
from gateway.intake.imap_session import ImapGone
from gateway.service import metrics
from gateway.service.crashpoints import crashpoint
from gateway.service.services import Services
from storage import lease, outbox
from storage.models import OutboxItem

if TYPE_CHECKING:
    from gateway.config.delivery import SmtpForward
    from gateway.config.settings import Settings

log = structlog.get_logger("gateway.deliver")

# One IMAP filer (its cached connections) per delivery thread: an IMAP session is one
# conversation and cannot be shared between threads.
_filers = threading.local()
_worked = 0


class ClaimHeld(Exception):
    """Another gateway sharing this database is filing this item right now."""


@dataclass(frozen=True)
class Destination:
    """One place a copy is filed: a Maildir folder, an IMAP folder, or SMTP addresses."""

    backend: str
    maildir_folder: str | None = None
    imap: ImapTarget | None = None
    relay: SmtpForward | None = None
    to: list[str] = field(default_factory=list)
    mail_from: str | None = None


def destination(settings: Settings, unit: str, folder: str, *, registrar: bool = False,
                maildir_folder: str | None = None) -> Destination:
    """The folder copy's (or, with registrar=True, the registrar copy's) destination.
    `maildir_folder` overrides the Maildir name (the registrar's `{folder}.secret`)."""
    route = route_for(settings, unit)
    if route.backend == "imap":
        return Destination("imap", imap=imap_target(settings, route, unit, folder, registrar=registrar))
    if route.backend == "smtp":
        relay = settings.delivery.smtp[route.server or next(iter(settings.delivery.smtp))]
        to = list(route.to)
        if registrar:
            if route.registrar is None or not route.registrar.to:
                # Never the departmental addresses: the copy is for the registrar alone.
                raise RegistrarRouteMissing(
                    f'no address for the secret registrar of {unit}: set to = ["..."] in '
                    f'[delivery.units."{unit}".registrar]')
            to = list(route.registrar.to)
        return Destination("smtp", relay=relay, to=to,
                           mail_from=relay.from_address or f"{unit}@{settings.gateway.domain}")
    return Destination("maildir", maildir_folder=maildir_folder or folder)


class RegistrarRouteMissing(Exception):
    """A unit on the SMTP backend has no registrar address configured."""


def transport(services: Services, item: OutboxItem, where: Destination, queue_id: str, unit: str,
              data: bytes, name_unit: str | None = None) -> dict:
    """File `data` exactly once (IMAP, Maildir) or at least once (SMTP). Returns what
    the log line says about where it went."""
    if where.backend == "maildir":
        in_doubt = _first_attempts.in_doubt(services, item)
        path = deliver(services.settings.folders_dir, where.maildir_folder, queue_id, name_unit or unit, data,
                       in_doubt=in_doubt)
        crashpoint("after_folder_write")
        return {"backend": "maildir", "path": str(path)}
    if where.backend == "imap":
        target = where.imap
        in_doubt = _claim(services, item, ttl=target.timeout * 4 + 10)
        filer = getattr(_filers, "filer", None)
        if filer is None:
            filer = _filers.filer = ImapFiler()
        outcome = filer.file(target, data, queue_id, unit, in_doubt, since=_made_at(item))
        return {"backend": "imap", "host": target.host, "username": target.username,
                "folder": filer.server_folder(target), "outcome": outcome}
    relay = where.relay
    in_doubt = _claim(services, item, ttl=relay.timeout * 4 + 10)
    sent = set((item.payload or {}).get("forwarded_to", []))
    to = [addr for addr in where.to if addr not in sent]
    if not to:
        # Every address in `to` has it: one that refused it was taken out (a typing error
        # the relay answered 550 to). smtplib refuses an empty list of recipients, and
        # the copy stayed owed for ever (red team of 7 Dec 2026).
        return {"backend": "smtp", "host": relay.host, "to": [], "already": sorted(sent)}
    if in_doubt and not sent:
        log.warning("smtp_forward_may_repeat",
                    why="an earlier attempt may have been accepted before its reply was lost")
    try:
        forward(relay, data, where.mail_from, to)
    except smtplib.SMTPRecipientsRefused as exc:
        accepted = [addr for addr in to if addr not in exc.recipients]
        if accepted:  # a partial success: the retry goes only to the addresses that refused
            outbox.update_payload(services.db, item.id, forwarded_to=sorted(sent | set(accepted)))
        raise
    return {"backend": "smtp", "host": relay.host, "to": to}


def _made_at(item: OutboxItem) -> dt.datetime | None:
    """When the item was first made (`outbox retry` restarts created_at): no attempt
    of it can have filed a copy before."""
    times = [item.created_at]
    try:
        times.append(dt.datetime.fromisoformat((item.payload or {})["first_created_at"]))
    except (KeyError, TypeError, ValueError):
        pass
    known = [t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc) for t in times if t is not None]
    return min(known) if known else None


def deliver_routed(services: Services, item: OutboxItem):
    """The `folder` outbox handler: the one folder copy, by the unit's backend. Returns
    the copy's bookkeeping, written when the runner finishes the item. `item.letter`:
    read with the item (outbox.LETTER_COPIES)."""
    letter = item.letter
    copy = folder_copy(services, letter, item.payload)
    where = destination(services.settings, letter.unit, copy.folder)
    went = transport(services, item, where, letter.queue_id, item.unit or letter.unit, copy.data)
    log.info("filed", receive_no=letter.receive_no, **went)
    if not (letter.facts or {}).get("emergency_no"):
        # A letter from the paper emergency register was received days or months ago on
        # paper: its age says nothing about the gateway and would swamp the histogram.
        metrics.filed(letter.received_at)
    _prune_claims(services)
    return copy.record


class FirstAttempts:
    """Which outbox items this process is the first to work, whose copy then cannot be
    in a folder yet (maildir.deliver lists cur/ only for the others).

    An item is in doubt when it failed before (`attempts`), existed when this process
    first asked (a runner before it may have filed it and died before recording so),
    was worked here before (its copy filed, its end not yet recorded), or when the
    database may be another gateway's too (PostgreSQL: a gateway sharing it may have
    filed the item and died). On SQLite one daemon holds the database (its instance
    lock) and its delivery runner is the one process filing copies, so an item added
    after this process's first look and new to it is filed here first. The items worked
    here are remembered up to `kept`; older ones count as worked."""

    def __init__(self, kept: int = 10_000):  # ~1 MiB of ids at most
        self.kept = kept
        self._lock = threading.Lock()
        self._newer_than: dict[str, int] = {}  # database -> the last outbox id when this process first asked
        self._worked: set[int] = set()
        self._order: deque[int] = deque()
        self._forgotten = 0  # the highest id let go from _worked

    def in_doubt(self, services: Services, item: OutboxItem) -> bool:
        db = services.db
        if item.attempts or db.engine.dialect.name != "sqlite":
            return True
        with self._lock:
            newer_than = self._newer_than.get(str(db.url))
            if newer_than is None:
                newer_than = self._newer_than[str(db.url)] = outbox.last_item_id(db)
            doubt = item.id <= newer_than or item.id <= self._forgotten or item.id in self._worked
            self._worked.add(item.id)
            self._order.append(item.id)
            while len(self._order) > self.kept:
                gone = self._order.popleft()
                self._worked.discard(gone)
                self._forgotten = max(self._forgotten, gone)
            return doubt


_first_attempts = FirstAttempts()


def _claim(services: Services, item: OutboxItem, ttl: float) -> bool:
    """Take the item for this gateway; True if an earlier attempt may have done the work."""
    claim = lease.acquire(services.db, f"outbox:{item.id}", lease.holder_name(services.settings.data_dir), ttl)
    if not claim.ok:
        raise ClaimHeld(f"outbox item {item.id} is being filed by {claim.holder or 'another gateway'}")
    return claim.existed or item.attempts > 0


def _prune_claims(services: Services, every: int = 200) -> None:
    """Drop claim rows of finished items now and then."""
    global _worked
    _worked += 1
    if _worked % every == 0:
        outbox.forget_finished_claims(services.db)


def check_imap_routes(settings: Settings, units: list[str] | None = None) -> list[str]:
    """Each IMAP route's folders (folder copy and registrar copy) exist on the server
    or are created now. Returns one line per problem, naming the unit and the folder."""
    problems: list[str] = []
    filer = ImapFiler()
    # A server that could not be reached or did not answer in time is not asked again
    # for the next unit: with fifty units on a stuck server, the check took fifty
    # timeouts, and the delivery runner filed nothing meanwhile (session 17).
    silent: dict[tuple[str, int], str] = {}
    try:
        for unit in units if units is not None else list(settings.delivery.units):
            route = route_for(settings, unit)
            if route.backend != "imap":
                continue
            found = unit_folder(settings, unit)
            # The registrar folder is checked when the unit names one ([...registrar]);
            # otherwise it is created with the first classified letter.
            for registrar in (False, True) if route.registrar is not None else (False,):
                target = imap_target(settings, route, unit, found, registrar=registrar)
                what = "registrar folder" if registrar else "folder"
                server = (target.host, target.port)
                if server in silent:
                    problems.append(f'units."{unit}": IMAP {what} {target.folder!r} on {target.host} '
                                    f"as {target.username}: not checked, {silent[server]}")
                    continue
                try:
                    name, created = filer.ensure_folder(target)
                except Exception as exc:  # noqa: BLE001 - every cause is reported the same way
                    problems.append(f'units."{unit}": IMAP {what} {target.folder!r} on {target.host} '
                                    f"as {target.username}: {_reason(exc)}")
                    if isinstance(exc, ImapGone):
                        silent[server] = f"the server did not answer for an earlier unit ({_reason(exc)})"
                    continue
                if created:
                    log.info("imap_folder_created", unit=unit, folder=name, username=target.username)
    finally:
        filer.close()
    return problems


def unit_folder(settings: Settings, unit: str) -> str:
    """The unit's folder from the directory (units.toml), without building Services."""
    from gateway.units.directory import load_directory

    try:
        found = load_directory(settings.directory_path, settings.gateway.domain).lookup(unit)
    except Exception:  # noqa: BLE001 - a broken directory is reported by check-config itself
        found = None
    return found.folder if found is not None else unit


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\r", " ").replace("\n", " ")[:300]
