"""The receive register as the regulation lays it out (ทะเบียนหนังสือรับ, ระเบียบสำนัก
นายกรัฐมนตรีว่าด้วยงานสารบรรณ): one row per entry, in number order, with the columns
เลขทะเบียนรับ, ที่, ลงวันที่, จาก, ถึง, เรื่อง, การปฏิบัติ, หมายเหตุ.

Classified entries (ลับ, ลับมาก) show their number and that they are classified, never
their subject or sender's text: the printed book is read by more people than the
secret registrar."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


from gateway.secrecy.sealed_text import SHOWN as SEALED_SHOWN, is_sealed
from gateway.sender.results import sender_label
from gateway.units.directory import Directory
from rules.markings import URGENCY_TH
from rules.names import shown_name
from rules.thai_time import THAI_MONTHS_SHORT, thai_datetime, to_bangkok
from storage.actions import actions_for_letters, skipped_numbers
from storage.models import Letter, OperatorAction, OutboxItem
from storage.outbox import folder_items
from storage.register import query_letters

HEADINGS = ("เลขทะเบียนรับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ", "หมายเหตุ")
THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม",
               "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
SECRECY_TH = {"confidential": "ลับ", "secret": "ลับมาก", "top_secret": "ลับที่สุด"}
SECRECY_LABEL = {"none": "ปกติ", **SECRECY_TH}
URGENCY_LABEL = {"normal": "ปกติ", **URGENCY_TH}
FOLDER_TH = {"done": "ส่งเข้าแฟ้มแล้ว", "pending": "รอส่งเข้าแฟ้ม",
             "dead": "ส่งเข้าแฟ้มไม่สำเร็จ"}


# The register's own warnings that the letter may be one already in the book, and where
# each names that entry ("... registered as 1/2569 ..."): the gateway's own sentence.
REPEATED = ("same_files", "same_letter", "message_id_reused")
_NAMED_ENTRY = re.compile(r"\bas (\d+/\d{4})\b(?: in the book ([^\s,;:]+))?")


def repeated_entries(findings: list[dict] | None, book: str | None = None) -> list[str]:
    """The receive numbers a flagged letter may repeat, for the book's หมายเหตุ, with
    the book when it is not `book` (message_id_reused may name the other book): the
    printed book and its CSV said "ควรตรวจสอบ" alone, and the auditor holding the paper
    could not tell which entry it may repeat."""
    found = []
    for f in findings or []:
        if f.get("rule") in REPEATED and (m := _NAMED_ENTRY.search(f.get("message_en") or "")):
            found.append(m[1] if not m[2] or m[2] == book else f"{m[1]} ทะเบียน {m[2]}")
    return list(dict.fromkeys(found))


def remarks_of_entry(entry: dict) -> str:
    """The remarks a one-line listing shows for an entry of `letter_as_dict`:
    cancelled first (a cancelled number must never read as a live letter), then the
    markings in Thai."""
    out = []
    if entry.get("status") == "cancelled":
        out.append("ยกเลิก (cancelled)")
    if entry.get("urgency") in URGENCY_TH:
        out.append(URGENCY_TH[entry["urgency"]])
    if entry.get("secrecy") in SECRECY_TH:
        out.append(SECRECY_TH[entry["secrecy"]])
    if entry.get("review"):
        out.append("ควรตรวจสอบ (review)")
        out += [f"อาจซ้ำกับเลขรับ {number} (may repeat {number})" for number in repeated_entries(entry.get("findings"), entry.get("book"))]
    return "; ".join(out)


@dataclass
class RegisterRow:
    number: int
    number_text: str
    receive_no: str
    reference: str
    letter_date: str
    sender: str
    to: str
    subject: str
    action: str
    remarks: str
    received_at: dt.datetime  # Bangkok time
    book: str
    status: str
    urgency: str
    secrecy: str
    emergency_no: str
    queue_id: str
    letter_id: int = 0
    sender_verified: str = ""  # ผ่าน (moi.go.th) / ไม่ผ่าน (...) / ไม่มีข้อมูล
    thai_digits: bool = False  # the dates and numbers the gateway writes in ๐-๙ (export --thai-digits)

    def cells(self) -> list[str]:
        """The eight columns of the regulation, in its order."""
        return [self.number_text, self.reference, self.letter_date, self.sender, self.to,
                self.subject, self.action, self.remarks]

    def received_text(self) -> str:
        """The time of receipt as the book writes it, '29 ก.พ. 2575 00:00', in the digits
        of the number column: one row, one way of writing numbers."""
        return _digits(thai_datetime(self.received_at), self.thai_digits)

    def receive_no_text(self) -> str:
        return _digits(self.receive_no, self.thai_digits)


def thai_short_date(day: dt.date, thai_digits: bool = False) -> str:
    text = f"{day.day} {THAI_MONTHS_SHORT[day.month - 1]} {day.year + 543}"
    return _digits(text, thai_digits)


def thai_long_date(day: dt.date, thai_digits: bool = False) -> str:
    text = f"{day.day} {THAI_MONTHS[day.month - 1]} {day.year + 543}"
    return _digits(text, thai_digits)


def _digits(text: str, thai_digits: bool) -> str:
    from rules.thai_text import arabic_to_thai

    return arabic_to_thai(text) if thai_digits else text


def register_rows(session, unit: str, year: int, book: str, directory: Directory,
                  thai_digits: bool = False) -> list[RegisterRow]:
    letters = query_letters(session, unit=unit, year=year)
    rows = rows_for(session, [x for x in letters if x.book == book], unit, directory, thai_digits)
    return with_gaps(rows, skipped_numbers(session, unit, book, year), book, year, thai_digits)


GAP_STATUS = "gap"
GAP_STATUS_TH = "เลขที่ให้ไปก่อนกู้คืน"
GAP_REMARK = "เลขรับที่ให้ไปแล้วก่อนการกู้คืนฐานข้อมูลจากสำรอง ดูสำเนาหนังสือในโฟลเดอร์ของหน่วยงาน"
CUT_OVER_STATUS_TH = "เลขของระบบเดิม"
CUT_OVER_REMARK = "เลขรับของระบบเดิม ตั้งเลขเริ่มต้น [register.start_numbers] หลังทะเบียนปีนี้เริ่มแล้ว"


def gap_remark(seen_in: str | None) -> str:
    return GAP_REMARK + (f" ({seen_in})" if seen_in else "")


def with_gaps(rows: list[RegisterRow], runs: list[tuple[int, int, str, str | None]], book: str, year: int,
              thai_digits: bool = False) -> list[RegisterRow]:
    """The book's rows with one row for each run of numbers the register skipped that no
    entry holds (`skipped_numbers`: given before a restore, or left to the previous
    system by a late cut-over number): the printed register is gapless, and a number
    missing from it must say why where it is missing. A letter of the restored spool
    entered again under its number fills its place as before. The row sits in number
    order under the day of the entry before it (numbers and days run together)."""
    if not runs:
        return rows
    taken = {row.number for row in rows}
    added = []
    for first, last, why, seen_in in runs:
        cut_over = why == "numbers_skipped_for_cut_over"
        free = [n for n in range(first, last + 1) if n not in taken]
        taken.update(free)
        while free:
            start = end = free.pop(0)
            while free and free[0] == end + 1:
                end = free.pop(0)
            span = str(start) if start == end else f"{start}-{end}"
            added.append(RegisterRow(
                number=start, number_text=_digits(span, thai_digits), receive_no=f"{span}/{year}",
                # In the subject's wide column, in brackets as a classified entry's is.
                reference="", letter_date="", sender="", to="", action="",
                subject=f"({CUT_OVER_REMARK if cut_over else gap_remark(seen_in)})",
                remarks=CUT_OVER_STATUS_TH if cut_over else GAP_STATUS_TH, received_at=_day_of_place(rows, start),
                book=book,
                status=GAP_STATUS, urgency="normal", secrecy="none", emergency_no="", queue_id="",
                thai_digits=thai_digits))
    return sorted(rows + added, key=lambda row: row.number)


def _day_of_place(rows: list[RegisterRow], number: int) -> dt.datetime:
    before = [row for row in rows if row.number < number]
    if before:
        return max(before, key=lambda row: row.number).received_at
    after = [row for row in rows if row.number > number]
    if after:
        return min(after, key=lambda row: row.number).received_at
    return to_bangkok(dt.datetime.now(dt.timezone.utc))


def rows_for(session, letters: list[Letter], unit: str, directory: Directory,
             thai_digits: bool = False) -> list[RegisterRow]:
    """The printed book's rows of these entries of one unit (the export, the web desk)."""
    ids = [x.id for x in letters]
    folder_state = folder_items(session, ids)
    actions = actions_for_letters(session, ids)
    unit_entry = directory.lookup(unit)
    unit_th = unit_entry.name_th if unit_entry else unit
    return [_row(x, folder_state.get(x.id), actions.get(x.id, []), unit_th, thai_digits) for x in letters]


def _row(letter: Letter, folder: OutboxItem | None, acts: list[OperatorAction], unit_th: str,
         thai_digits: bool) -> RegisterRow:
    classified = letter.secrecy not in ("none", None)
    facts = letter.facts or {}
    emergency = facts.get("emergency_no") or ""
    received = to_bangkok(letter.received_at)
    if classified:
        subject = f"(หนังสือ{SECRECY_TH.get(letter.secrecy, 'ลับ')})"
        sender = to = reference = ""
    else:
        subject = letter.subject or ""
        # The address with anything that changes how it is drawn written out (shown_name):
        # a right-to-left override in its local part drew "\u202efdp@evil.example" as
        # "elpmaxe.live@pdf", the domain it came from reversed (until session 19).
        address = shown_name(letter.sender)
        sender = letter.sender_name or address
        if sender != address and "@" in letter.sender:
            # A display name is the sender's own words ("saraban@moi.go.th", or
            # "กระทรวงมหาดไทย" on a letter verified for m0i-go.example): the book always
            # shows the address, and so the domain, the letter came from beside it.
            sender = f"{sender} <{address}>"
        to = letter.addressee or unit_th
        reference = letter.reference or ""
    action = ""
    if folder is not None:
        action = FOLDER_TH.get(folder.state, folder.state)
        if folder.state == "done" and folder.done_at:
            action += " " + thai_short_date(to_bangkok(folder.done_at).date())
    remarks = []
    if letter.status == "cancelled":
        why = next((a.reason for a in reversed(acts) if a.action == "register_cancelled"), None)
        if is_sealed(why):  # a classified letter's: the printed book and the CSV never open it
            why = SEALED_SHOWN
        remarks.append("ยกเลิก" + (f" ({why})" if why else ""))
    if emergency:
        remarks.append(f"เลขทะเบียนฉุกเฉิน {emergency}")
    if facts.get("replaces"):
        remarks.append(f"แทนเลขรับ {facts['replaces']} ที่ยกเลิก")
    if any(a.action == "quarantine_released" for a in acts):
        remarks.append("ปล่อยจากการกักกันโดยเจ้าหน้าที่")
    if letter.urgency in URGENCY_TH:
        remarks.append(URGENCY_TH[letter.urgency])
    if letter.review:
        # A ลับ letter's too, in its own book (only its registrar prints that one): a letter
        # sent again was flagged there with nothing said at all.
        remarks.append("ควรตรวจสอบ")
        remarks += [f"อาจซ้ำกับเลขรับ {number}" for number in repeated_entries(letter.findings, letter.book)]
    if facts.get("note") and not classified:
        remarks.append(str(facts["note"]))
    if letter.sender_auth is not None and not classified:
        remarks.append(sender_label(letter.sender_auth))  # ยืนยันผู้ส่ง (gateway/sender/)
    row = RegisterRow(
        number=letter.number,
        number_text=_digits(str(letter.number), thai_digits),
        receive_no=letter.receive_no,
        reference=reference,
        letter_date=thai_short_date(letter.letter_date) if letter.letter_date and not classified else "",
        sender=sender,
        to=to,
        subject=subject,
        action=action,
        remarks="; ".join(remarks),
        received_at=received,
        book=letter.book,
        status=letter.status,
        urgency=letter.urgency,
        secrecy=letter.secrecy,
        emergency_no=emergency,
        queue_id=letter.queue_id,
        letter_id=letter.id,
        sender_verified="" if classified else sender_label(letter.sender_auth).split(": ", 1)[1],
        thai_digits=thai_digits,
    )
    if thai_digits:  # only what the gateway writes; the sender's own text stays as sent
        row.letter_date = _digits(row.letter_date, True)
        row.action = _digits(row.action, True)
    return row
