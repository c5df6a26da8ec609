"""A message again as it arrived: its envelope from the `messages` row, its bytes from
the vault (the raw copy is kept byte for byte under its SHA-256)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway.service.services import Services
from gateway.spool import SpoolEntry
from gateway.tools.common import not_on_this_gateway
from storage.models import Message


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def entry_from_vault(services: Services, message: Message, raw_sha256: str | None = None) -> SpoolEntry:
    sha = raw_sha256 or message.sha256
    if not services.vault.has(sha):
        raise not_on_this_gateway(f"{message.queue_id} cannot be processed again")
    return entry_of(message, services.vault.get(sha))


def entry_of(message: Message, raw: bytes) -> SpoolEntry:
    """The message's envelope around `raw` (from the vault, or a sealed letter opened in
    memory), as the pipeline takes a spool entry."""
    return SpoolEntry(
        queue_id=message.queue_id,
        mail_from=message.mail_from,
        rcpt_to=list(message.recipients or []),
        received_at=aware(message.received_at),
        peer=None,
        helo=None,
        raw=raw,
        path=Path(),
    )
