"""The IMAP part of `saraban-gateway status`: who reads each pulled mailbox, how far,
its last error and the letters left on the server as too big (figures from
storage.counts.imap_mailboxes and storage.intake.add_problems)."""
from __future__ import annotations

from gateway.notices.sanitize import clean_text

TOO_BIG = "เกินขนาดที่รับได้ ไม่ได้ลงทะเบียน / too big, not registered"
UNREADABLE = ("เซิร์ฟเวอร์อ่านจดหมายนี้ไม่ได้ ยังไม่ได้ลงทะเบียน ระบบจะลองใหม่เอง / the mail server cannot read "
              "it, not registered yet, tried again by itself")
GONE = ("หายไปจากกล่องจดหมายก่อนลงทะเบียน ไม่ได้ลงทะเบียน ขอให้ผู้ส่งส่งใหม่ / gone from the mailbox before it was "
        "registered, not registered: ask the sender for it again")


def render_imap(status: dict) -> list[str]:
    lines = []
    for mailbox, info in sorted(status.get("imap_intake", {}).items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(info["messages"].items())) or "nothing yet"
        lines.append(f"imap       {mailbox}: {counts}; read by {info['holder'] or 'nobody'}"
                     f" (UIDVALIDITY {info['uidvalidity']}, highest UID {info.get('highest_uid', 0)})")
        if info.get("last_error"):
            connected = info.get("connected_at")
            since = (f"; connected again at {connected}" if connected and connected > info["last_error_at"]
                     else "; not connected since")
            lines.append(f"imap         last error at {info['last_error_at']}: {info['last_error']}{since}")
        for bad in info.get("unreadable", []):
            lines.append(f"imap         {UNREADABLE}: UID {bad['uid']} (UIDVALIDITY {bad['uidvalidity']}), "
                         f"Message-ID {clean_text(bad['message_id'], 200) or '(unknown)'}; "
                         f"{clean_text(bad['note'], 300)}; last tried {bad['at']}; "
                         "see the mail server's log for this message")
        for lost in info.get("gone", []):
            lines.append(f"imap         {GONE}: from {clean_text(lost['sender'], 200) or '?'}, Message-ID "
                         f"{clean_text(lost['message_id'], 200) or '(unknown)'}, UID {lost['uid']} "
                         f"(UIDVALIDITY {lost['uidvalidity']}); {clean_text(lost['note'], 300)}; since {lost['at']}")
        for big in info.get("too_big", []):
            lines.append(f"imap         {TOO_BIG}: from {big['sender'] or '?'}, Message-ID "
                         f"{clean_text(big['message_id'], 200) or '(none)'}, {big['size']} bytes ({big['note']}); "
                         f"UID {big['uid']} "
                         f"left in the mailbox with $SarabanTooBig since {big['at']}")
    return lines

