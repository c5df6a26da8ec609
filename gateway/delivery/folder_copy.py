"""The copy of a letter that lands in a departmental folder, built here and only here.

The original bytes stay as they are (the vault keeps the pristine raw message); the
folder copy gets the receive number in its subject, the register's facts and the
signature verdicts in X-Saraban-* headers, and the receive stamp (ตรารับ,
gateway/signatures/receive_stamp.py), so that the clerk sees "[รับ 15/2569] ..." in the
mail client. Maildir, IMAP APPEND and SMTP forward only transport what `folder_copy`
returns, so every backend files the same copy.

Transport to a peer (IMAP, SMTP) is CRLF-canonical (`wire.py` `on_the_wire`): RFC 5321 §2.3.8
forbids a bare LF from a client and strict servers refuse it, while the vault and the
Maildir keep the bytes the sender sent."""
from __future__ import annotations

import email
import email.header
import email.utils
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.service.services import Services
    from storage.models import Letter

from gateway.delivery.copy_seal import seal_header
from gateway.delivery.part_names import clean_names
from gateway.pipeline import outlook
from gateway.pipeline.file_texts import shown_name
from gateway.pipeline.mime_attach import add_attachment, encoded_header
from gateway.sender.results import (
    authserv_id,
    forged_results,
    misleading_name,
    receipt_goes_to_sender,
    reply_to_vouched,
    sender_field_vouched,
    sender_headers,
    upstream_results_forged,
)
from rules.markings import URGENCY_TH
from storage.register import record_stamped_copy

# The sender's Subject (the copy's is the register's) and every X-Saraban-* header: those
# are the gateway's statements in the clerk's copy, and one a sender wrote
# (X-Saraban-Emergency-No, X-Saraban-Alert, any other name) read as the gateway's.
DROP = {b"subject"}
OURS = b"x-saraban-"
# Where a mail client sends the clerk's reply. Kept only when the verified agency's
# signature covers it (`reply_to_vouched`): otherwise renamed, so that the reply goes to
# the From the register judged, as notices do (docs/notices.md), and the address stays
# readable (docs/sender-authenticity.md).
REPLY_FIELDS = (b"reply-to", b"mail-reply-to", b"mail-followup-to")
UNSIGNED_REPLY = b"X-Saraban-Unsigned-"
REPLY_NOTE = ("ไม่ได้ใช้ที่อยู่ตอบกลับ (Reply-To) ที่ลายมือชื่อของผู้ส่งไม่รับรอง การตอบกลับจะไปที่ผู้ส่ง (From) / "
              "Reply-To not covered by the sender's verified signature: replies go to From")


# Read-receipt requests (RFC 8098 and the older Return-Receipt-To, X-Confirm-Reading-To):
# the clerk's mail client sends its receipt to whatever address they name. Kept only
# when that is the verified sender's own From (`receipt_goes_to_sender`): otherwise
# renamed like an unsigned Reply-To, still readable, never followed.
RECEIPT_FIELDS = (b"disposition-notification-to", b"return-receipt-to", b"x-confirm-reading-to")
# A From whose display name holds another address (`"saraban@moi.go.th"
# <saraban@m0i-go.example>`): a mail client shows the name alone, so the clerk read the
# forger's own verified letter as the ministry's. The copy's From keeps only the address;
# the original stays readable beside it (session 50).
ORIGINAL_FROM = "X-Saraban-Original-From"
FROM_NOTE = ("ชื่อผู้ส่งที่แสดงมีที่อยู่อีเมลอื่นที่ไม่ใช่ของผู้ส่งจริง จึงแสดงเฉพาะที่อยู่ของผู้ส่ง (From) / "
             "the sender's display name holds another address than the sender's: only the From address is shown")
SENDER_NOTE = ("หัวจดหมาย Sender ไม่ใช่ที่อยู่ของหน่วยงานผู้ส่งที่ยืนยันแล้ว จึงไม่แสดงเป็นผู้ส่ง / "
               "Sender is not an address of the verified sending agency: not shown as the sender")
RECEIPT_NOTE = ("ไม่ได้ใช้คำขอตอบรับการอ่าน เพราะไม่ได้ขอให้ส่งถึงผู้ส่งที่ยืนยันตัวตนแล้ว / "
                "read-receipt request not addressed to the verified sender: no receipt is asked for")


def _header_addresses(lines: list[bytes], names: tuple[bytes, ...]) -> list[str]:
    """The addresses of these header fields, as a mail client reads them (unfolded,
    RFC 2047 decoded)."""
    values = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in names:
            text = re.sub(r"\r?\n|\r", "", value.decode("utf-8", "replace"))
            # Raw UTF-8 beside an encoded word (RFC 6532: =?utf-8?b?...?= <สารบรรณ@กรม.รัฐบาล.ไทย>)
            # comes out of decode_header as backslash-u escapes: such a value is read as written.
            values.append(text if not text.isascii() else
                          str(email.header.make_header(email.header.decode_header(text))))
    return [addr for _, addr in email.utils.getaddresses(values)]


def _receipt_kept(kept: list[bytes], sender_auth: dict | None) -> bool:
    try:
        froms = _header_addresses(kept, (b"from",))
        return len(froms) == 1 and receipt_goes_to_sender(sender_auth, froms[0],
                                                          _header_addresses(kept, RECEIPT_FIELDS))
    except Exception:  # noqa: BLE001 - an unreadable From or request: no receipt asked for
        return False


def _sender_kept(line: bytes, sender_auth: dict | None) -> bool:
    try:
        return sender_field_vouched(sender_auth, _header_addresses([line], (b"sender",)))
    except Exception:  # noqa: BLE001 - an unreadable Sender is nobody's
        return False


_LINE_END = re.compile(rb"\r\n|\n|\r")


def _split(raw: bytes) -> tuple[list[bytes], bytes, bytes]:
    """Header lines (logical, with folds), the body, and the line ending used.

    Lines end at CRLF, LF or CR, whichever: a mail client (and Python's parser) reads a
    header hidden behind a bare LF in a CRLF block as a header of its own, so it is one
    here too, and a forged Authentication-Results or X-Saraban-* there is removed. The
    body starts after the first empty line so read; its bytes are kept as they came."""
    # The first line end tells: a bare-LF letter may still end in the CRLF smtplib adds.
    first = raw.find(b"\n")
    newline = b"\r\n" if first > 0 and raw[first - 1:first] == b"\r" else b"\n"
    headers: list[bytes] = []
    pos, body = 0, b""
    for match in _LINE_END.finditer(raw):
        line = raw[pos:match.start()]
        if not line:  # the empty line: the body follows
            body = raw[match.end():]
            break
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1] += raw[pos - _ending_before(raw, pos):pos] + line
        else:
            headers.append(line)
        pos = match.end()
    else:
        if raw[pos:]:
            headers.append(raw[pos:])
    return headers, body, newline


def _ending_before(raw: bytes, pos: int) -> int:
    """The length of the line ending just before `pos` (a fold keeps its own)."""
    if raw[pos - 2:pos] == b"\r\n":
        return 2
    return 1 if pos > 0 and raw[pos - 1:pos] in (b"\n", b"\r") else 0


def build_folder_copy(raw: bytes, receive_no: str, unit: str, book: str, subject: str | None,
                      queue_id: str, findings: list[dict] | None = None,
                      review: bool = False,
                      extra_headers: list[tuple[str, str]] | None = None,
                      sender_auth: dict | None = None, authserv_id: str | None = None,
                      urgency: str | None = None, upstream_ids: tuple[str, ...] = ()) -> bytes:
    headers, body, newline = _split(raw)
    kept = [h for h in headers if (name := h.split(b":", 1)[0].strip().lower()) not in DROP
            and not name.startswith(OURS)]
    added = []
    vouched = reply_to_vouched(sender_auth)
    renamed = [i for i, h in enumerate(kept) if (name := h.split(b":", 1)[0].strip().lower()) in REPLY_FIELDS
               and not (vouched and name == b"reply-to")]
    receipts = [i for i, h in enumerate(kept) if h.split(b":", 1)[0].strip().lower() in RECEIPT_FIELDS]
    unreceipted = receipts if receipts and not _receipt_kept(kept, sender_auth) else []
    senders = [i for i, h in enumerate(kept) if h.split(b":", 1)[0].strip().lower() == b"sender"]
    unvouched = [i for i in senders if not _sender_kept(kept[i], sender_auth)]
    for i in renamed + unreceipted + unvouched:
        kept[i] = UNSIGNED_REPLY + kept[i].lstrip()
    misnamed = []
    for i, h in enumerate(kept):
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"from":
            found = misleading_name(value.decode("utf-8", "replace"))
            if found is not None:
                misnamed.append(re.sub(r"\r?\n|\r", "", value.decode("utf-8", "replace")).strip())
                kept[i] = b"From: " + found[1].encode("utf-8")
    if authserv_id:  # ยืนยันผู้ส่ง: Authentication-Results on top (RFC 8601), gateway/sender/
        forged_upstream = upstream_results_forged(sender_auth, list(upstream_ids))
        kept = [h for h in kept if not forged_results(h, authserv_id, forged_upstream)]
        added += [encoded_header(n, v) for n, v in sender_headers(sender_auth, authserv_id)]
    if renamed:
        added.append(encoded_header("X-Saraban-Reply-To-Note", REPLY_NOTE))
    if unreceipted:
        added.append(encoded_header("X-Saraban-Receipt-Note", RECEIPT_NOTE))
    if unvouched:
        added.append(encoded_header("X-Saraban-Sender-Note", SENDER_NOTE))
    for original in misnamed:
        added.append(encoded_header(ORIGINAL_FROM, original))
    if misnamed:
        added.append(encoded_header("X-Saraban-From-Note", FROM_NOTE))
    added += [
        encoded_header("X-Saraban-Receive-No", receive_no),
        encoded_header("X-Saraban-Unit", unit),
        encoded_header("X-Saraban-Book", book),
        encoded_header("X-Saraban-Queue-Id", queue_id),
    ]
    for finding in findings or []:
        added.append(encoded_header("X-Saraban-Finding", f"{finding['verdict']}: {finding['rule']}: {finding['message']}"))
    if review:
        added.append(encoded_header("X-Saraban-Review", "yes"))
    for name, value in extra_headers or []:  # e.g. X-Saraban-Signature (gateway/signatures)
        added.append(encoded_header(name, value))
    # ชั้นความเร็ว (urgency) in the register's words: the Subject is the register's เรื่อง, and
    # a "ด่วนที่สุด" the sender put before it must not vanish from the clerk's mail list.
    marking = URGENCY_TH.get(urgency or "")
    if marking and not (subject or "").startswith(marking):
        subject = f"{marking} {subject or ''}"
    added.append(encoded_header("Subject", f"[รับ {receive_no}] {subject or ''}".rstrip()))
    lines = [h.replace(b"\r\n", newline) for h in added] + kept
    # Names a client would read otherwise than the register, written as RFC 2231 UTF-8.
    return clean_names(newline.join(lines) + newline + newline + body)


@dataclass(frozen=True)
class FolderCopy:
    folder: str  # the unit's folder in units.toml (Maildir directory, IMAP {folder})
    data: bytes
    # Where the stamped PDF is kept, for the register: written in the transaction that
    # marks the copy filed (outbox.finish), so filing a letter costs one transaction less.
    record: Callable[..., None] | None = None  # called with the finishing transaction's session


def folder_copy(services: "Services", letter: "Letter", payload: dict | None = None) -> FolderCopy:
    """The copy of a registered letter for its unit's folder, stamped, for any backend;
    `payload` its outbox item's (the unit as registered, copy_unit.py)."""
    from gateway.delivery.copy_unit import unit_for_copy
    from gateway.signatures.receive_stamp import apply_receive_stamp, receive_stamp, stamp_job_for

    unit = unit_for_copy(services, letter.unit, payload)
    emergency_no = (letter.facts or {}).get("emergency_no")
    raw = services.vault.get(letter.raw_sha256)
    copy = build_folder_copy(
        raw, receive_no=letter.receive_no, unit=letter.unit,
        book=letter.book, subject=letter.subject, queue_id=letter.queue_id,
        findings=letter.findings, review=letter.review,
        sender_auth=letter.sender_auth, authserv_id=authserv_id(services.settings),  # ยืนยันผู้ส่ง
        urgency=letter.urgency,
        upstream_ids=tuple(services.settings.sender.upstream_authserv_ids),
        # The paper emergency register's number (gateway/tools/emergency_import.py), from
        # the register: the one in the imported message is dropped with the sender's.
        extra_headers=([("X-Saraban-Emergency-No", str(emergency_no))] if emergency_no else []) + [
            # the number read back after a restore counts only with it (copy_seal.py)
            seal_header(services.settings.data_dir, letter)],
    )
    if any(a.content_type == outlook.SNIFFED for a in letter.attachments):
        for name, data in outlook.files_beside(raw):  # winmail.dat's files, which only Outlook opens
            copy = add_attachment(copy, shown_name(name), data, "pdf" if data.startswith(b"%PDF-") else "octet-stream")
    # ตรารับ (docs/signatures.md): the stamped PDF or receipt, X-Saraban-Stamp and one
    # X-Saraban-Signature per verified signature; the sender's own are dropped above.
    stamp = receive_stamp(services.settings, stamp_job_for(services.settings, letter, unit, services.vault), letter)
    record = None
    if stamp.attachment is not None:  # kept for the desk's letter page (gateway/web/)
        name, pdf = stamp.attachment
        record = functools.partial(record_stamped_copy, letter_id=letter.id, filename=name,
                                   sha256=services.vault.put(pdf))
    return FolderCopy(folder=unit.folder, data=apply_receive_stamp(copy, stamp),
                      record=record)
