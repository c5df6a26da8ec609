"""The copy of a letter that lands in a departmental folder.

The original bytes stay as they are (the vault keeps the pristine raw message); the
folder copy gets the receive number in its subject and the register's facts in
X-Saraban-* headers, so that the clerk sees "[รับ 15/2569] ..." in the mail client."""
from __future__ import annotations

from email.header import Header

from gateway.sender.results import forged_results, sender_headers

DROP = {b"subject", b"x-saraban-receive-no", b"x-saraban-unit", b"x-saraban-book",
        b"x-saraban-finding", b"x-saraban-review", b"x-saraban-queue-id",
        b"x-saraban-signature", b"x-saraban-stamp", b"x-saraban-sender-verified"}


def _split(raw: bytes) -> tuple[list[bytes], bytes, bytes]:
    """Header lines (logical, with folds), the body, and the line ending used."""
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    sep = newline + newline
    head, found, body = raw.partition(sep)
    if not found:
        head, body = raw, b""
    headers: list[bytes] = []
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1] += newline + line
        elif line:
            headers.append(line)
    return headers, body, newline


def _encode(name: str, value: str) -> bytes:
    # ASCII stays readable (and searchable: IMAP SEARCH HEADER X-Saraban-Queue-Id ...).
    header = Header(value, "us-ascii" if value.isascii() else "utf-8", header_name=name)
    return f"{name}: {header.encode(linesep=chr(13) + chr(10))}".encode("ascii")


def build_folder_copy(raw: bytes, receive_no: str, unit: str, book: str, subject: str | None,
                      queue_id: str, findings: list[dict] | None = None,
                      review: bool = False,
                      extra_headers: list[tuple[str, str]] | None = None,
                      sender_auth: dict | None = None, authserv_id: str | None = None) -> bytes:
    headers, body, newline = _split(raw)
    kept = [h for h in headers if h.split(b":", 1)[0].strip().lower() not in DROP]
    added = []
    if authserv_id:  # ยืนยันผู้ส่ง: Authentication-Results on top (RFC 8601), gateway/sender/
        kept = [h for h in kept if not forged_results(h, authserv_id)]
        added += [_encode(n, v) for n, v in sender_headers(sender_auth, authserv_id)]
    added += [
        _encode("X-Saraban-Receive-No", receive_no),
        _encode("X-Saraban-Unit", unit),
        _encode("X-Saraban-Book", book),
        _encode("X-Saraban-Queue-Id", queue_id),
    ]
    for finding in findings or []:
        added.append(_encode("X-Saraban-Finding", f"{finding['verdict']}: {finding['rule']}: {finding['message']}"))
    if review:
        added.append(_encode("X-Saraban-Review", "yes"))
    for name, value in extra_headers or []:  # e.g. X-Saraban-Signature (gateway/signatures)
        added.append(_encode(name, value))
    added.append(_encode("Subject", f"[รับ {receive_no}] {subject or ''}".rstrip()))
    lines = [h.replace(b"\r\n", newline) for h in added] + kept
    return newline.join(lines) + newline + newline + body
