"""The IMAP part of `saraban-gateway status`: who reads each pulled mailbox, how far."""
from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models_imap import ImapLease, ImapMessage


def imap_status(session: Session) -> dict:
    mailboxes: dict[str, dict] = {}
    now = time.time()
    for row in session.scalars(select(ImapLease).where(ImapLease.mailbox.like("imap://%"))):
        mailboxes[row.mailbox] = {"holder": row.holder if row.expires_at > now else None,
                                  "uidvalidity": row.uidvalidity, "messages": {}}
    for mailbox, state, count in session.execute(
        select(ImapMessage.mailbox, ImapMessage.state, func.count()).group_by(ImapMessage.mailbox, ImapMessage.state)
    ):
        mailboxes.setdefault(mailbox, {"holder": None, "uidvalidity": None, "messages": {}})["messages"][state] = count
    for mailbox, high in session.execute(
        select(ImapMessage.mailbox, func.max(ImapMessage.uid)).group_by(ImapMessage.mailbox)
    ):
        mailboxes[mailbox]["highest_uid"] = high
    return mailboxes


def render_imap(status: dict) -> list[str]:
    lines = []
    for mailbox, info in sorted(status.get("imap_intake", {}).items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(info["messages"].items())) or "nothing yet"
        lines.append(f"imap       {mailbox}: {counts}; read by {info['holder'] or 'nobody'}"
                     f" (UIDVALIDITY {info['uidvalidity']}, highest UID {info.get('highest_uid', 0)})")
    return lines
