"""Counts the notice rate limits need (gateway/notices/create.py): notices that went
or will go out in the past hour, by one payload field (`rate_key`: the address without
its +tag; `rate_domain`: its domain). Suppressed notices do not count."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import OutboxItem

NOTICE = "notice"
COUNTED_STATES = ("pending", "done", "dead", "held")  # notices that went or will go out


def notices_in_last_hour(session: Session, field: str, value: str) -> int:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    return session.scalar(
        select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == NOTICE,
            OutboxItem.created_at >= since,
            OutboxItem.state.in_(COUNTED_STATES),
            OutboxItem.payload[field].as_string() == value,
        )
    ) or 0
