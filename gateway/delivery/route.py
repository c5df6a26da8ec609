"""The `folder` outbox handler: file a registered letter by the unit's chosen backend.

Per unit, `[delivery.units."<unit>"]` picks maildir (default), imap (APPEND into a
folder on the mail server) or smtp (forward to departmental addresses); units without
a table use `[delivery] backend`. The route is read when the item is worked, not when
it was queued, so fixing the configuration and retrying a dead item re-routes it."""
from __future__ import annotations

import smtplib

import structlog
from sqlalchemy import select

from gateway.config.settings import Settings
from gateway.config.delivery import UnitDelivery
from gateway.delivery.imap import ImapFiler, ImapTarget
from gateway.delivery.smtp import forward
from gateway.delivery.folder_copy import build_folder_copy
from gateway.sender.results import authserv_id
from gateway.service.services import Services
from storage import lease
from storage.models import Letter, OutboxItem

log = structlog.get_logger("gateway.deliver")

_filer: ImapFiler | None = None
_worked = 0


class ClaimHeld(Exception):
    """Another gateway sharing this database is filing this item right now."""


def route_for(settings: Settings, unit: str) -> UnitDelivery:
    route = settings.delivery.units.get(unit)
    if route is not None:
        return route
    return UnitDelivery(backend=settings.delivery.backend)


def imap_target(settings: Settings, route: UnitDelivery, unit: str, folder: str) -> ImapTarget:
    name = route.server or next(iter(settings.delivery.imap))
    server = settings.delivery.imap[name]
    return ImapTarget(
        host=server.host, port=server.port, tls=server.tls,
        ca_file=str(server.ca_file) if server.ca_file else None, verify=server.verify,
        timeout=server.timeout,
        username=route.username or server.username or unit,
        password=route.secret() or server.secret() or "",
        folder=route.folder or server.folder.format(folder=folder, unit=unit),
        keyword=server.keyword,
    )


def _copy(services: Services, item: OutboxItem) -> tuple[Letter, str, bytes]:
    with services.db.session() as session:
        letter = session.get(Letter, item.letter_id)
        session.expunge(letter)
    unit = services.directory.lookup(letter.unit)
    folder = unit.folder if unit else letter.unit
    copy = build_folder_copy(
        services.vault.get(letter.raw_sha256), receive_no=letter.receive_no, unit=letter.unit,
        book=letter.book, subject=letter.subject, queue_id=letter.queue_id,
        findings=letter.findings, review=letter.review,
        sender_auth=letter.sender_auth, authserv_id=authserv_id(services.settings),
    )
    return letter, folder, copy


def _claim(services: Services, item: OutboxItem, ttl: float) -> bool:
    """Take the item for this gateway; True if an earlier attempt may have done the work."""
    claim = lease.acquire(services.db, f"outbox:{item.id}", lease.holder_name(services.settings.data_dir), ttl)
    if not claim.ok:
        raise ClaimHeld(f"outbox item {item.id} is being filed by {claim.holder or 'another gateway'}")
    return claim.existed or item.attempts > 0


def deliver_routed(services: Services, item: OutboxItem) -> None:
    unit_name = item.unit or ""
    route = route_for(services.settings, unit_name)
    if route.backend == "maildir":
        from gateway.delivery.runner import deliver_folder

        deliver_folder(services, item)
        return
    letter, folder, copy = _copy(services, item)
    if route.backend == "imap":
        _deliver_imap(services, item, route, letter, folder, copy)
    else:
        _deliver_smtp(services, item, route, letter, copy)
    _prune_claims(services)


def _deliver_imap(services: Services, item: OutboxItem, route: UnitDelivery, letter: Letter,
                  folder: str, copy: bytes) -> None:
    global _filer
    target = imap_target(services.settings, route, letter.unit, folder)
    in_doubt = _claim(services, item, ttl=target.timeout * 4 + 10)
    if _filer is None:
        _filer = ImapFiler()
    outcome = _filer.file(target, copy, letter.queue_id, letter.unit, in_doubt)
    log.info("filed", queue_id=item.queue_id, unit=letter.unit, receive_no=letter.receive_no,
             backend="imap", host=target.host, username=target.username, folder=target.folder,
             outcome=outcome)


def _deliver_smtp(services: Services, item: OutboxItem, route: UnitDelivery, letter: Letter,
                  copy: bytes) -> None:
    settings = services.settings
    relay = settings.delivery.smtp[route.server or next(iter(settings.delivery.smtp))]
    in_doubt = _claim(services, item, ttl=relay.timeout * 4 + 10)
    sent = set(item.payload.get("forwarded_to", []))
    to = [addr for addr in route.to if addr not in sent]
    if in_doubt and not sent:
        log.warning("smtp_forward_may_repeat", queue_id=item.queue_id, unit=letter.unit,
                    why="an earlier attempt may have been accepted before its reply was lost")
    mail_from = relay.from_address or f"{letter.unit}@{settings.gateway.domain}"
    try:
        forward(relay, copy, mail_from, to)
    except smtplib.SMTPRecipientsRefused as exc:
        accepted = [addr for addr in to if addr not in exc.recipients]
        if accepted:
            _remember_forwarded(services, item.id, sorted(sent | set(accepted)))
        raise
    log.info("filed", queue_id=item.queue_id, unit=letter.unit, receive_no=letter.receive_no,
             backend="smtp", host=relay.host, to=to)


def _remember_forwarded(services: Services, item_id: int, addresses: list[str]) -> None:
    """A partial success: the retry goes only to the addresses that refused."""
    with services.db.session() as session:
        row = session.get(OutboxItem, item_id)
        row.payload = {**row.payload, "forwarded_to": addresses}


def _prune_claims(services: Services, every: int = 200) -> None:
    """Drop claim rows of finished items now and then (a dead item keeps its claim:
    it is the record that an earlier attempt may have filed it)."""
    global _worked
    _worked += 1
    if _worked % every:
        return
    with services.db.session() as session:
        names = [row.mailbox for row in lease.holders(session, "outbox:")]
        ids = [int(name.split(":", 1)[1]) for name in names]
        done = set(session.scalars(select(OutboxItem.id).where(OutboxItem.id.in_(ids), OutboxItem.state == "done")))
    lease.forget(services.db, [f"outbox:{i}" for i in done])
