"""The IMAP part of `saraban-gateway status`: who reads each pulled mailbox, how far
(figures from storage.counts.imap_mailboxes)."""
from __future__ import annotations


def render_imap(status: dict) -> list[str]:
    lines = []
    for mailbox, info in sorted(status.get("imap_intake", {}).items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(info["messages"].items())) or "nothing yet"
        lines.append(f"imap       {mailbox}: {counts}; read by {info['holder'] or 'nobody'}"
                     f" (UIDVALIDITY {info['uidvalidity']}, highest UID {info.get('highest_uid', 0)})")
    return lines
