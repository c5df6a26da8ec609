"""`saraban-gateway register show|cancel`: one register entry, and cancelling one.

A cancelled entry (ยกเลิก) stays in the register with its number: receive numbers are
never reused, so the book shows the gap's reason instead of a gap."""
from __future__ import annotations

from gateway.sender.results import sender_detail, sender_label

import argparse
import json
import sys
from typing import Any


from gateway.delivery.error_texts import error_for_person
from gateway.service.services import Services
from gateway.cli.table import width
from gateway.tools.actions import action_as_dict, checked_reason, reason_refusal, record_action
from gateway.tools.common import ToolError, friendly, listed_unit, open_services, parse_receive_no
from gateway.tools.register_rows import CUT_OVER_REMARK, SECRECY_TH, URGENCY_TH, gap_remark
from rules.names import shown_name
from rules.thai_time import thai_datetime, to_bangkok
from storage.actions import actions_for, skipped_numbers
from storage.models import Letter
from storage.outbox import items_for_letter
from storage.register import find_by_number, letter_as_dict, unit_has_letters


def _named_unit(services: Services, text: str) -> str:
    """The unit a person named: in the directory, or removed from it but in the register.
    Any other name was answered "has no receive number 1/2569", as if the unit existed."""
    def has_letters(name: str) -> bool:
        with services.db.session() as session:
            return unit_has_letters(session, name)
    return listed_unit(services.directory, text, has_letters)


def find_letter(session, unit: str, number: int, year: int, book: str) -> Letter:
    letter = find_by_number(session, unit, number, year, book)
    if letter is None:
        for first, last, why, seen_in in skipped_numbers(session, unit, book, year):
            if first <= number <= last and why == "numbers_skipped_for_cut_over":
                raise ToolError(f"{number}/{year} of {unit} is a number of the previous system: the cut-over "
                                "number ([register.start_numbers]) was set after this year's register had begun, "
                                f"from {last + 1}; it is not in this register",
                                th=f"เลขรับ {number}/{year} ของ {unit} เป็น{CUT_OVER_REMARK} (เริ่มที่ {last + 1})")
            if first <= number <= last:
                where = f" (seen in {seen_in})" if seen_in else ""
                raise ToolError(f"{number}/{year} of {unit} was given before the register was restored from a "
                                f"backup{where}: it is not in this register; the letter's copy is in the unit's "
                                "folder, and the sender's acknowledgement carries the number",
                                th=f"เลขรับ {number}/{year} ของ {unit} เป็น{gap_remark(seen_in)}")
        raise ToolError(f"{unit} has no receive number {number}/{year} in the {book} register "
                        f"(see `saraban-gateway register list --unit {unit} --year {year}`)",
                        th=f"ไม่พบเลขรับ {number}/{year} ของ {unit} ในทะเบียน {book} "
                           "กรุณาตรวจเลขรับจากทะเบียนหนังสือรับ (register list)")
    return letter


def entry_details(session, letter: Letter) -> dict[str, Any]:
    """The register entry with everything that happened to it: files, findings, its
    outbox items (filing, notices) and the actions people took."""
    data = letter_as_dict(letter)
    data["registered_at"] = to_bangkok(letter.registered_at).isoformat(timespec="seconds")
    data["sender_name"] = None if letter.secrecy not in ("none", None) else letter.sender_name
    data["emergency_no"] = (letter.facts or {}).get("emergency_no")
    data["sender_verified"] = sender_label(letter.sender_auth)
    if letter.secrecy not in ("none", None):
        # Its row keeps them bare (rule and verdict; the gateway's own words such as
        # `same_files` in full: dispose._bare): without them a classified entry said
        # "review: yes" and not why.
        data["findings"] = letter.findings or []
    data["outbox"] = [
        {"kind": o.kind, "state": o.state, "attempts": o.attempts,
         "last_error": error_for_person(o.last_error) or None,  # what failed, not the exception's words
         "done_at": to_bangkok(o.done_at).isoformat(timespec="seconds") if o.done_at else None}
        for o in items_for_letter(session, letter.id)
    ]
    data["actions"] = [action_as_dict(a) for a in actions_for(session, letter_id=letter.id)]
    return data


def show(services: Services, unit: str, receive_no: str, book: str | None = None) -> dict[str, Any]:
    number, year = parse_receive_no(receive_no)
    with services.db.session() as session:
        letter = find_letter(session, unit, number, year, book or services.settings.register_.general_book)
        return entry_details(session, letter)


def cancel(services: Services, unit: str, receive_no: str, reason: str, book: str | None = None) -> Letter:
    number, year = parse_receive_no(receive_no)
    # Spaces or control characters only are no reason; a reason past REASON_MAX refused
    # (both in words, Thai too: session 37).
    reason = checked_reason(reason, required=True) or ""
    with services.db.session() as session:
        letter = find_letter(session, unit, number, year, book or services.settings.register_.general_book)
        # The entry's row locked until the commit (FOR UPDATE on PostgreSQL; SQLite's
        # BEGIN IMMEDIATE serialises anyway): a second cancel of it (a double click, two
        # clerks) waits, then finds it cancelled, instead of recording it twice.
        session.refresh(letter, with_for_update=True)
        if letter.status == "cancelled":
            raise ToolError(f"{letter.receive_no} of {unit} is already cancelled",
                            th=f"เลขรับ {letter.receive_no} ยกเลิกไปแล้ว ไม่ต้องยกเลิกซ้ำ")
        letter.status = "cancelled"
        record_action(session, "register_cancelled", reason=reason, queue_id=letter.queue_id,
                      unit=unit, letter_id=letter.id,
                      details={"receive_no": letter.receive_no, "book": letter.book},
                      sealed_in=services.settings.data_dir if letter.secrecy not in ("none", None) else None)
        return letter


def render_entry(data: dict[str, Any]) -> str:
    def pairs(items: list[tuple[str, Any]]) -> list[str]:
        items = [(k, v) for k, v in items if v not in (None, "", [])]
        pad = max(width(k) for k, _ in items)
        return [f"  {k}{' ' * (pad - width(k))}  {v}" for k, v in items]

    sender = data["sender"]
    if data.get("sender_name") and data["sender_name"] != data["sender"]:
        sender = f"{data['sender_name']} <{data['sender']}>"
    state = "ยกเลิก (cancelled)" if data["status"] == "cancelled" else data["status"]
    head = f"เลขรับ {data['receive_no']}  {data['unit']}  (book {data['book']}, {state})"
    out = [head]
    out += pairs([
        ("รับเมื่อ (received)", thai_datetime(data["received_at"])),
        ("ลงทะเบียน (registered)", thai_datetime(data["registered_at"])),
        ("จาก (from)", sender),
        ("ที่ (reference)", data.get("reference")),
        ("ลงวันที่ (dated)", _thai_date(data.get("letter_date"))),
        ("ถึง (to)", data.get("addressee")),
        ("เรื่อง (subject)", data.get("subject") or ("(ลับ: classified)" if data["secrecy"] != "none" else None)),
        ("ชั้นความเร็ว (urgency)", URGENCY_TH.get(data["urgency"])),
        ("ชั้นความลับ (secrecy)", SECRECY_TH.get(data["secrecy"])),
        ("เลขฉุกเฉิน (emergency)", data.get("emergency_no")),
        ("ยืนยันผู้ส่ง (sender)", sender_detail(data.get("sender_auth"))),
        ("หัวเรื่องอีเมล (mail subject)",
         data.get("mail_subject") if data.get("mail_subject") != data.get("subject") else None),
        ("review", "yes: a person should look at it" if data["review"] else None),
        ("queue id", data["queue_id"]),
    ])
    if data["attachments"]:
        out.append("files:")
        for a in data["attachments"]:
            name = (shown_name(a["filename"]) if a.get("filename") else "(no name)") if "filename" in a else "(classified)"
            out.append(f"  {name}  {a.get('content_type', '')}  {a['size']} bytes  sha256 {a['sha256'][:16]}…")
    if data.get("findings"):
        out.append("findings:")
        for f in data["findings"]:
            said = " / ".join(t for t in (f.get("message_th"), f.get("message_en")) if t)
            out.append(f"  {f.get('verdict')} {f.get('rule')}" + (f": {said}" if said else ""))
    if data["outbox"]:
        out.append("outbox:")
        for o in data["outbox"]:
            extra = f", done {thai_datetime(o['done_at'])}" if o["done_at"] else ""
            error = f", last error: {o['last_error']}" if o["last_error"] and o["state"] != "done" else ""
            out.append(f"  {o['kind']}: {o['state']} (attempts {o['attempts']}{extra}{error})")
    if data["actions"]:
        out.append("actions:")
        for a in data["actions"]:
            why = f": {a['reason']}" if a["reason"] else ""
            out.append(f"  {thai_datetime(a['at'])}  {a['action']} by {a['who']}{why}")
    return "\n".join(out)



def _thai_date(iso: str | None) -> str | None:
    import datetime as dt

    from gateway.tools.register_rows import thai_short_date

    return thai_short_date(dt.date.fromisoformat(iso)) if iso else None


@friendly
def cmd_show(args: argparse.Namespace) -> int:
    with open_services(args, writes=False) as services:
        data = show(services, _named_unit(services, args.unit), args.receive_no, args.book)
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else render_entry(data))
    return 0


@friendly
def cmd_cancel(args: argparse.Namespace) -> int:
    # A reason missing or of nothing is a usage error before the database is opened, exit 2,
    # as `quarantine reject` says it (exit 1 after the register was opened until session 38).
    if refusal := reason_refusal(args.reason, required=True):
        print(refusal, file=sys.stderr)
        return 2
    with open_services(args) as services:
        letter = cancel(services, _named_unit(services, args.unit), args.receive_no,
                        args.reason, args.book)
    print(f"cancelled {letter.receive_no} of {letter.unit}; the number stays taken and is not given again")
    return 0
