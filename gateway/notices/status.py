"""The notices part of `saraban-gateway status`: where they go and what is stuck.

Counts by state (pending, done, dead, held, suppressed) are already in the outbox
lines; this adds the smarthost, the suppression reasons of the last day and the last
error of a notice still waiting, which is what an operator needs to act."""
from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config.settings import Settings
from storage.models import OutboxItem


def notice_status(settings: Settings, session: Session) -> dict:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    reasons = Counter(
        (payload or {}).get("suppressed", "unknown")
        for payload in session.scalars(
            select(OutboxItem.payload).where(OutboxItem.kind == "notice", OutboxItem.state == "suppressed",
                                             OutboxItem.created_at >= since)
        )
    )
    waiting = session.scalar(
        select(OutboxItem).where(OutboxItem.kind == "notice", OutboxItem.state == "pending",
                                 OutboxItem.last_error.is_not(None))
        .order_by(OutboxItem.id).limit(1)
    )
    return {
        "enabled": settings.notices.enabled,
        "smarthost": settings.notices.smarthost,
        "suppressed_last_day": dict(sorted(reasons.items())),
        "retrying": None if waiting is None else {
            "key": waiting.key,
            "attempts": waiting.attempts,
            "next_attempt_at": waiting.next_attempt_at.isoformat(),
            "last_error": waiting.last_error,
        },
    }


def render_notice_status(status: dict) -> str:
    if not status["enabled"]:
        return "notices    disabled ([notices] enabled = false)"
    where = status["smarthost"] or "NO SMARTHOST: notices are held (set [notices] smarthost, then `notices release`)"
    line = f"notices    via {where}" if status["smarthost"] else f"notices    {where}"
    if status["suppressed_last_day"]:
        line += "; suppressed today: " + ", ".join(f"{k} {v}" for k, v in status["suppressed_last_day"].items())
    if status["retrying"]:
        retry = status["retrying"]
        line += f"\n           retrying {retry['key']} (attempt {retry['attempts']}): {retry['last_error']}"
    return line
