"""`saraban-gateway status`: what is waiting, what is stuck, what is done."""
from __future__ import annotations

from sqlalchemy import func, select

from gateway.config.settings import Settings
from gateway.intake.refusals import refusal_counts
from gateway.notices.status import notice_status, render_notice_status
from gateway.spool import Spool
from gateway.service.status_imap import imap_status, render_imap
from storage.db import Database
from storage.models import Letter, Message, OutboxItem, QuarantineEntry


def collect_status(settings: Settings) -> dict:
    spool = Spool(settings.spool_dir)
    db = Database(settings.database_url)
    db.create_schema()
    with db.session() as session:
        messages = dict(session.execute(select(Message.state, func.count()).group_by(Message.state)).all())
        outbox: dict[str, dict[str, int]] = {}
        for kind, state, count in session.execute(
            select(OutboxItem.kind, OutboxItem.state, func.count()).group_by(OutboxItem.kind, OutboxItem.state)
        ):
            outbox.setdefault(kind, {})[state] = count
        letters = session.scalar(select(func.count()).select_from(Letter)) or 0
        quarantine = dict(session.execute(
            select(QuarantineEntry.state, func.count()).group_by(QuarantineEntry.state)).all())
        refused = refusal_counts(session)  # e.g. {"top_secret": 2}: refused at end of DATA
        notices = notice_status(settings, session)
        imap_intake = imap_status(session)
    db.dispose()
    return {
        "spool": {"pending": spool.depth(), "parked": len(spool.parked())},
        "messages": messages,
        "letters": letters,
        "outbox": outbox,
        "quarantine": quarantine,
        "refused": refused,
        "notices": notices,
        "imap_intake": imap_intake,
    }


def render_status(status: dict) -> str:
    lines = [
        f"spool      pending {status['spool']['pending']}, parked {status['spool']['parked']}",
        "messages   " + (", ".join(f"{k} {v}" for k, v in sorted(status["messages"].items())) or "none"),
        f"register   {status['letters']} letter(s)",
    ]
    for kind, states in sorted(status["outbox"].items()):
        lines.append(f"outbox     {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    lines += render_imap(status)
    lines.append("quarantine " + (", ".join(f"{k} {v}" for k, v in sorted(status["quarantine"].items())) or "empty"))
    if status.get("refused"):
        lines.append("refused    " + ", ".join(f"{k} {v}" for k, v in sorted(status["refused"].items())))
    if "notices" in status:
        lines.append(render_notice_status(status["notices"]))
    return "\n".join(lines)
