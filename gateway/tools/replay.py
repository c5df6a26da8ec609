"""A message again as it arrived: its envelope from the `messages` row, its bytes from
the vault (the raw copy is kept byte for byte under its SHA-256)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway.service.services import Services
from gateway.spool import SpoolEntry
from gateway.tools.common import ToolError
from storage.models import Message


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def entry_from_vault(services: Services, message: Message, raw_sha256: str | None = None) -> SpoolEntry:
    sha = raw_sha256 or message.sha256
    if not services.vault.has(sha):
        raise ToolError(f"the raw copy of {message.queue_id} is not in the vault ({sha[:12]}…); "
                        "it cannot be processed again")
    return SpoolEntry(
        queue_id=message.queue_id,
        mail_from=message.mail_from,
        rcpt_to=list(message.recipients or []),
        received_at=aware(message.received_at),
        peer=None,
        helo=None,
        raw=services.vault.get(sha),
        path=Path(),
    )
