"""`saraban-gateway register import-emergency FILE.csv --unit U`: letters numbered in
the paper emergency register during an outage, with their scans, into the register.

During an outage the registrar numbers letters in "สมุดทะเบียนของหน่วยงาน (สำหรับกรณี
ฉุกเฉินชั่วคราว)" as unit abbreviation, unit code, "/ ฉ" and a running number, e.g.
`ปท 0013 / ฉ 001` (seed 004, chapter 3.2), and scans them into the system afterwards.
Here each row gets a regular receive number, in the order the letters arrived, and
keeps its emergency number beside it; its scans go into the vault and to the unit's
folder like any letter. Importing the same file again changes nothing: a letter's
identity is (unit, emergency number), made a database key through its queue id.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from gateway.pipeline import classified as secret
from gateway.pipeline.check import read_entry
from gateway.pipeline.classified import CLASSIFIED, Arrival
from gateway.pipeline.dispose import register_and_file, register_sealed
from gateway.spool import SpoolEntry
from rules.extract import extract_facts
from rules.checks.unreadable_pdf import plain_reason
from rules.model import EMBEDDED_NOT_READ, NOT_READ_IN_TIME, SCAN_NOT_READ, Finding, LetterFacts, ParsedMail
from gateway.intake.clock_guard import EARLIEST_YEAR
from gateway.service.numbering import HELD_FOR_TOOLS, HELD_FOR_TOOLS_EN, HELD_FOR_TOOLS_TH, held_after_restore
from gateway.service.services import Services
from rules.thai_time import BANGKOK, be_year, now_utc, thai_datetime
from gateway.tools.actions import clean_reason, record_action
from gateway.tools.common import ToolError, friendly, open_services, sheet_text, unit_name
from gateway.tools.progress import Progress
from gateway.tools.scan_types import (SCAN_TYPES_TEXT, SCAN_TYPES_TEXT_TH, max_scan_bytes, picture_problem, scan_type,
                                      sniffed)
from rules.dates import parse_thai_date
from rules.thai_text import clean_field, normalise_typed, thai_to_arabic
from storage.messages import record_imported
from rules.reference import normalise_reference
from storage.register import EMERGENCY_QUEUE_PREFIX, NewLetter, find_mailed_twin, find_registration, lock_units

# Column names: English, or the Thai heading of the paper register.
COLUMNS: dict[str, tuple[str, ...]] = {
    "emergency_no": ("emergency_no", "เลขทะเบียนฉุกเฉิน", "เลขฉุกเฉิน"),
    "received_at": ("received_at", "วันเวลาที่รับ", "วันที่รับ"),
    "reference": ("reference", "ที่"),
    "letter_date": ("letter_date", "ลงวันที่"),
    "sender": ("sender", "จาก"),
    "addressee": ("addressee", "ถึง"),
    "subject": ("subject", "เรื่อง"),
    "action": ("action", "การปฏิบัติ"),
    "note": ("note", "หมายเหตุ"),
    "scan": ("scan", "ไฟล์สแกน"),
}
REQUIRED = ("emergency_no", "received_at", "sender", "subject", "scan")



class RowProblem(ValueError):
    """A row's fault, in English (str) and in Thai (`th`): the clerk read the English
    sentence with "แถวที่ 2:" in front of it as its Thai."""

    def __init__(self, message: str, th: str):
        super().__init__(message)
        self.th = th


_EMERGENCY = re.compile(
    r"^(?P<abbr>[ก-ฮ][\u0e01-\u0e4e.]{0,7}?)\.?\s*(?P<code>\d[\d.]*?)\s*/\s*ฉ\.?\s*(?P<seq>\d{1,6})$")


@dataclass(frozen=True)
class EmergencyNo:
    abbr: str  # ชื่อย่อหน่วยงาน, e.g. ปท
    code: str  # รหัสหน่วยงาน, e.g. 0013
    seq: int  # ลำดับเลขหนังสือ after ฉ (ฉุกเฉิน, emergency)
    width: int  # zero padding as written

    def __str__(self) -> str:
        return f"{self.abbr} {self.code} / ฉ {self.seq:0{self.width}d}"

    @property
    def key(self) -> str:
        return f"{self.abbr}|{self.code}|{self.seq}"


def parse_emergency_no(text: str) -> EmergencyNo:
    """'ปท 0013 / ฉ 001', 'ปท ๐๐๑๓/ฉ ๐๐๑', 'ปท.0013/ฉ.1' -> EmergencyNo."""
    squashed = " ".join(thai_to_arabic(text or "").split())
    match = _EMERGENCY.match(squashed)
    if not match:
        raise RowProblem(f"\"{text}\" is not an emergency register number; it is written like "
                         "'ปท 0013 / ฉ 001' (unit abbreviation, unit code, / ฉ, running number)",
                         th=f"\"{text}\" ไม่ใช่เลขทะเบียนฉุกเฉิน ให้เขียนเป็นชื่อย่อหน่วยงาน รหัสหน่วยงาน "
                            "/ ฉ และลำดับที่ เช่น ปท 0013 / ฉ 001")
    abbr = match["abbr"].replace(".", "")
    return EmergencyNo(abbr, match["code"].rstrip("."), int(match["seq"]), max(3, len(match["seq"])))


# The years a paper register's letter can be from (Gregorian); a date outside them is a
# typing slip, and 0001-01-01 would overflow when it is turned into UTC.
FIRST_YEAR, LAST_YEAR = 1900, 2299
# Fields that become the header lines of the message built for the letter (From,
# Subject, X-Saraban-Emergency-No) or one line of the register: one line each.
ONE_LINE = ("emergency_no", "received_at", "reference", "letter_date", "sender", "addressee", "subject")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")  # a tab is allowed


class _OutOfRange(RowProblem):
    pass


def _in_range(year: int, text: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _OutOfRange(f"\"{text}\": the year is out of range (พ.ศ. {FIRST_YEAR + 543}-{LAST_YEAR + 543})",
                          th=f"\"{text}\": ปีไม่อยู่ในช่วงที่รับได้ (พ.ศ. {FIRST_YEAR + 543}-{LAST_YEAR + 543})")


_TIME_AT_END = re.compile(r"\s*(?:เวลา\s*)?(\d{1,2})[.:](\d{2})\s*(?:น\.?)?\s*$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")
# Day/month/year in figures, as a Thai register is written by hand: 30/11/2569,
# 30.11.69, 30-11-2569 10.30 น. A two-figure year is the Buddhist era's (69: 2569).
_DMY = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?:\s+(?:เวลา\s*)?(\d{1,2})[.:](\d{2})\s*(?:น\.?)?)?$")


def _from_figures(value: str, text: str) -> tuple[dt.date, int, int] | None:
    """(date, hour, minute) of a day/month/year written in figures; None if it is not."""
    m = _DMY.match(value)
    if not m:
        return None
    year = int(m[4])
    year = 2500 + year if len(m[4]) == 2 else year
    year = year - 543 if year > 2400 else year
    _in_range(year, text)
    return dt.date(year, int(m[3]), int(m[1])), int(m[5] or 0), int(m[6] or 0)


def parse_when(text: str) -> dt.datetime:
    """When the paper register took the letter, as written there: '2569-03-05 10:30',
    '2026-03-05', '5 มี.ค. 2569 10.30 น.'. A Buddhist-era year is recognised (> 2400);
    a date without a time is taken as 00:00 Bangkok time."""
    value = " ".join(thai_to_arabic(text or "").split())
    iso = _ISO.match(value)
    try:
        if iso:
            year = int(iso[1])
            year = year - 543 if year > 2400 else year
            hour, minute = (int(iso[4]), int(iso[5])) if iso[4] else (0, 0)
            _in_range(year, text)
            return dt.datetime(year, int(iso[2]), int(iso[3]), hour, minute, tzinfo=BANGKOK)
        if (figures := _from_figures(value, text)) is not None:
            day, hour, minute = figures
            return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK)
        hour = minute = 0
        clock = _TIME_AT_END.search(value)
        if clock and parse_thai_date(value[:clock.start()]):
            hour, minute = int(clock[1]), int(clock[2])
            value = value[:clock.start()]
        day = parse_thai_date(value)
        if day is not None:
            _in_range(day.year, text)
            return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK)
    except _OutOfRange:
        raise
    except ValueError:
        pass
    raise RowProblem(f"\"{text}\" is not a date and time; write e.g. 5/3/2569 10.30, 2569-03-05 10:30 "
                     "or '5 มี.ค. 2569 10.30 น.'",
                     th=f"\"{text}\" ไม่ใช่วันเวลาที่อ่านได้ ให้เขียน เช่น 5/3/2569 10.30 หรือ 5 มี.ค. 2569 10.30 น.")


def parse_letter_date(text: str) -> dt.date | None:
    if not (text or "").strip():
        return None
    iso = _ISO.match(thai_to_arabic(text.strip()))
    if iso and not iso[4]:
        year = int(iso[1])
        year = year - 543 if year > 2400 else year
        _in_range(year, text)
        return dt.date(year, int(iso[2]), int(iso[3]))
    try:
        figures = _from_figures(" ".join(thai_to_arabic(text).split()), text)
    except ValueError as exc:
        if isinstance(exc, _OutOfRange):
            raise
        figures = None  # 31/2/2569: no such day
    if figures is not None and figures[1:] == (0, 0):
        return figures[0]
    day = parse_thai_date(text)
    if day is None:
        raise RowProblem(f"\"{text}\" is not a date (ลงวันที่); write e.g. 13 มิ.ย. 2565 or 2565-06-13",
                         th=f"ลงวันที่ \"{text}\" ไม่ใช่วันที่ที่อ่านได้ ให้เขียน เช่น 13 มิ.ย. 2565")
    _in_range(day.year, text)
    return day


@dataclass
class Row:
    line: int
    number: EmergencyNo
    received_at: dt.datetime
    sender: str
    subject: str
    reference: str | None
    letter_date: dt.date | None
    addressee: str | None
    action: str | None
    note: str | None
    scans: list[Path] = field(default_factory=list)  # each resolved, inside the sheet's folder
    # (name as written, bytes, content type) of each scan, read once when it was checked
    files: list[tuple[str, bytes, str]] = field(default_factory=list)


def _scan_file(folder: Path, written: str, max_bytes: int | None = None) -> tuple[Path, tuple[str, bytes, str]]:
    """The scan a row names, checked: a regular file in the sheet's folder or one below it
    (after every symlink), and a PDF or an image by its bytes. A row named
    `../d1/var/keys/copy-seal.key` or `/etc/shadow` and the file was registered and filed,
    base64, into a unit's mailbox folder."""
    path = Path(written)
    try:
        resolved = (folder / path).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop
        raise RowProblem(f"scan \"{written}\" not found (it is looked for in {folder})",
                         th=f"ไม่พบไฟล์สแกน \"{written}\" (ค้นในโฟลเดอร์ {folder})") from None
    if not resolved.is_relative_to(folder):
        raise RowProblem(f"scan \"{written}\" is outside the sheet's folder ({folder}); a scan must be "
                         "a file in the folder of the CSV file or a folder inside it",
                         th=f"ไฟล์สแกน \"{written}\" อยู่นอกโฟลเดอร์ของไฟล์ CSV ({folder}) "
                            "ไฟล์สแกนต้องอยู่ในโฟลเดอร์เดียวกับไฟล์ CSV หรือโฟลเดอร์ย่อยของโฟลเดอร์นั้น")
    if not resolved.is_file():
        raise RowProblem(f"scan \"{written}\" is not a file (a folder or a device)",
                         th=f"\"{written}\" ไม่ใช่ไฟล์สแกน (เป็นโฟลเดอร์หรืออุปกรณ์)")
    if max_bytes is not None:
        # By its size on disk, before it is read: a 2 GB file went whole into memory.
        # And read no further than the limit, should it grow meanwhile.
        size = resolved.stat().st_size
        with open(resolved, "rb") as scan:
            data = scan.read(max_bytes + 1)
        if max(size, len(data)) > max_bytes:
            raise RowProblem(f"scan \"{written}\" is {_mb(max(size, len(data)))}; a scan may be at most "
                             f"{_mb(max_bytes)} ([web] max_upload_mb, as at the desk): scan it again at a "
                             "lower resolution or in black and white",
                             th=f"ไฟล์สแกน \"{written}\" มีขนาด {_mb(max(size, len(data)))} ใหญ่เกินกำหนด "
                                f"(ไม่เกิน {_mb(max_bytes)} เท่ากับที่หน้าจอสารบรรณรับได้) "
                                "กรุณาสแกนใหม่ให้ความละเอียดต่ำลงหรือเป็นขาวดำ")
    else:
        data = resolved.read_bytes()
    content_type = scan_type(data)
    if content_type is None:
        raise RowProblem(f"scan \"{written}\" is {sniffed(data)}, not a scan: {SCAN_TYPES_TEXT} only",
                         th=f"ไฟล์ \"{written}\" ไม่ใช่ไฟล์สแกน รับเฉพาะไฟล์ {SCAN_TYPES_TEXT_TH} "
                            f"(ไฟล์นี้เป็น {sniffed(data)})")
    if (why := picture_problem(data, content_type)) is not None:
        raise RowProblem(f"scan \"{written}\" cannot be opened ({why[0]}): scan the letter again and attach "
                         "the new file", th=f"เปิดไฟล์สแกน \"{written}\" ไม่ได้ ({why[1]}) "
                                             "กรุณาสแกนหนังสือใหม่แล้วแนบไฟล์ใหม่")
    return resolved, (path.name, data, content_type)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def read_rows(csv_path: Path, max_scan: int | None = None) -> list[Row]:
    """Every row, validated, in arrival order; all problems at once, or none. A scan
    larger than `max_scan` bytes is a row's problem, found before it is read."""
    text = sheet_text(csv_path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ToolError(f"{csv_path}: empty file; the first line names the columns "
                        f"({', '.join(c for c in COLUMNS)})",
                        th="ไฟล์ว่าง บรรทัดแรกของไฟล์ต้องเป็นชื่อคอลัมน์ "
                           f"({', '.join(names[1] for names in COLUMNS.values())})")
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        for key, names in COLUMNS.items():
            if name.strip().lower() in names:
                index[key] = position
    missing = [k for k in REQUIRED if k not in index]
    if missing:
        raise ToolError(f"{csv_path}: missing column(s) {', '.join(missing)} "
                        f"(Thai headings accepted: {', '.join(COLUMNS[k][1] for k in missing)})",
                        th=f"ไม่มีคอลัมน์ {', '.join(COLUMNS[k][1] for k in missing)}")
    rows: list[Row] = []
    problems: list[tuple[int, str, str]] = []  # (line, English, Thai)
    folder = csv_path.parent.resolve()
    seen: dict[str, int] = {}
    now = now_utc()
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        get = lambda key: (values[index[key]].strip() if key in index and index[key] < len(values) else "")  # noqa: E731
        try:
            for key in ONE_LINE:
                if _CONTROL.search(get(key)):
                    raise RowProblem(f"{key} ({COLUMNS[key][1]}) has a line break or a control character; "
                                     "write it on one line",
                                     th=f"ช่อง {COLUMNS[key][1]} มีการขึ้นบรรทัดใหม่หรืออักขระควบคุม "
                                        "ให้เขียนในบรรทัดเดียว")
            number = parse_emergency_no(get("emergency_no"))
            if number.key in seen:
                raise RowProblem(f"{number} is also on line {seen[number.key]}",
                                 th=f"เลขทะเบียนฉุกเฉิน {number} ซ้ำกับแถวที่ {seen[number.key]}")
            seen[number.key] = line
            for key in ("sender", "subject"):
                if not get(key):
                    raise RowProblem(f"{key} ({COLUMNS[key][1]}) is empty", th=f"ช่อง {COLUMNS[key][1]} ว่าง")
            written = [p.strip() for p in re.split(r"[;|]", get("scan")) if p.strip()]
            if not written:
                raise RowProblem("no scan (ไฟล์สแกน): give the scanned file's path",
                                 th="ไม่มีไฟล์สแกน ให้ระบุชื่อไฟล์สแกนของหนังสือในช่อง ไฟล์สแกน")
            checked = [_scan_file(folder, p, max_scan) for p in written]
            received_at = parse_when(get("received_at"))
            if received_at > now:
                # A slip of the year (2570 for 2569) would open next year's register
                # before its 1 January: its 1 taken now, and the first letter of that
                # year numbered 2.
                raise RowProblem(f"received_at (วันเวลาที่รับ) \"{get('received_at')}\" is later than now "
                                 f"({thai_datetime(now)}): check the year (พ.ศ.)",
                                 th=f"วันเวลาที่รับ \"{get('received_at')}\" เลยเวลาปัจจุบัน "
                                    f"({thai_datetime(now)}) กรุณาตรวจสอบปี พ.ศ.")
            if be_year(received_at) < EARLIEST_YEAR:
                # A year before this gateway's register first ran is a slip (the Christian
                # year's two figures, "5/3/26", read as พ.ศ. 2526; 2559 for 2569): taken, it
                # opened that year's register, 1/2526, and dated the letter 43 years back in
                # the legal record, as a dead clock battery did before the clock guard.
                raise RowProblem(f"received_at (วันเวลาที่รับ) \"{get('received_at')}\" is read as "
                                 f"พ.ศ. {be_year(received_at)}, before the register began (พ.ศ. {EARLIEST_YEAR}): "
                                 f"check the year; write the Buddhist-era year (e.g. {be_year(now)} or "
                                 f"{be_year(now) % 100:02d})",
                                 th=f"วันเวลาที่รับ \"{get('received_at')}\" อ่านได้เป็นปี พ.ศ. {be_year(received_at)} "
                                    f"ก่อนที่ทะเบียนนี้เริ่มใช้ (พ.ศ. {EARLIEST_YEAR}) กรุณาตรวจสอบปี "
                                    f"ให้เขียนปี พ.ศ. เช่น {be_year(now)} หรือ {be_year(now) % 100:02d}")
            rows.append(Row(line, number, received_at, get("sender"), get("subject"),
                            get("reference") or None, parse_letter_date(get("letter_date")),
                            get("addressee") or None, _annotation(get("action")), _annotation(get("note")),
                            [path for path, _ in checked], [file for _, file in checked]))
        except ValueError as exc:
            problems.append((line, str(exc), getattr(exc, "th", None) or str(exc)))
    if problems:
        raise _nothing_imported(csv_path, problems)
    rows.sort(key=lambda r: (r.received_at, r.number.seq))  # arrival order, as the book ran
    return rows


def _nothing_imported(csv_path: Path, problems: list[tuple[int, str, str]]) -> ToolError:
    """Every row's fault, in English and (`th`) in Thai, each after its line number."""
    return ToolError(f"{csv_path}: nothing imported, fix these first:\n  "
                     + "\n  ".join(f"line {line}: {en}" for line, en, _ in problems),
                     th="ยังไม่ได้บันทึกรายการใด แก้ไขข้อต่อไปนี้ก่อน:\n  "
                        + "\n  ".join(f"แถวที่ {line}: {th}" for line, _, th in problems))


def queue_id_for(unit: str, number: EmergencyNo, generation: int = 1) -> str:
    """The same letter always gets the same id: re-importing finds it already there.
    `generation` 2, 3...: the row imported again after its entry was cancelled (a
    correction, `_entries_under`)."""
    key = f"{unit}\n{number.key}" + (f"\n{generation}" if generation > 1 else "")
    return EMERGENCY_QUEUE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:29]


def _entries_under(session, unit: str, number: EmergencyNo) -> tuple[list, str]:  # noqa: ANN001
    """The entries imported under this emergency number, oldest first, and the queue id
    the next one would take."""
    entries, generation = [], 1
    while (found := find_registration(session, queue_id_for(unit, number, generation), unit)) is not None:
        entries.append(found)
        generation += 1
    return entries, queue_id_for(unit, number, generation)


def _same_scans(files: list[tuple[str, bytes, str]], existing) -> bool:  # noqa: ANN001 - a Letter
    return {hashlib.sha256(data).hexdigest() for _, data, _ in files} == {a.sha256 for a in existing.attachments}


def build_raw(row: Row, unit_address: str, files: list[tuple[str, bytes, str]], queue_id: str) -> bytes:
    """The letter as a message, so it is vaulted and filed like one that came by mail."""
    msg = EmailMessage()
    # The sender as typed is a display name only, quoted by the library: pasted into
    # the header's text (until session 54), "สำนักงานเขตบางกะปิ (ฝ่ายทะเบียน" left the
    # folder's copy without an address, "ก.ท.ม.; สำนักการคลัง" and "ฝ่ายโยธา: งานทาง"
    # lost a part, and "ผอ. <somchai@gmail.example>" filed it as from that address.
    msg["From"] = Address(display_name=f"{row.sender} (สมุดทะเบียนฉุกเฉิน)", addr_spec=unit_address)
    msg["To"] = unit_address
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.received_at)
    msg["Message-ID"] = f"<{queue_id}@emergency-register.saraban-gateway>"
    msg["X-Saraban-Emergency-No"] = str(row.number)
    lines = ["หนังสือที่ลงเลขในสมุดทะเบียนของหน่วยงาน (สำหรับกรณีฉุกเฉินชั่วคราว)",
             f"เลขทะเบียนฉุกเฉิน: {row.number}", f"ที่: {row.reference or '-'}",
             f"ลงวันที่: {row.letter_date.isoformat() if row.letter_date else '-'}",
             f"จาก: {row.sender}", f"ถึง: {row.addressee or '-'}", f"เรื่อง: {row.subject}"]
    if row.action:
        lines.append(f"การปฏิบัติ: {row.action}")
    if row.note:
        lines.append(f"หมายเหตุ: {row.note}")
    msg.set_content("\n".join(lines) + "\n")
    for name, data, content_type in files:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=name)
    # A boundary from the content, so the same row makes the same bytes (same vault hash).
    msg.set_boundary("=_emergency_" + hashlib.sha256(str(row.number).encode() + b"".join(
        hashlib.sha256(d).digest() for _, d, _ in files)).hexdigest()[:24])
    return msg.as_bytes()


@dataclass
class _Read:
    """One row's letter as built and as the pipeline reads it (its classification)."""

    row: Row
    queue_id: str
    files: list[tuple[str, bytes, str]]
    entry: SpoolEntry
    arrival: Arrival | None = None
    mail: ParsedMail | None = None
    secrecy: str = "none"
    clash: tuple[str, str] | None = None  # (English, Thai): its number is another letter's
    unopened: list[tuple[str, str]] = field(default_factory=list)  # (English, Thai): a PDF scan no one can open
    cancelled: bool = False  # imported before, and that entry cancelled since
    replaces: str | None = None  # the cancelled entry (its receive number) this corrected row follows


def _annotation(text: str | None) -> str | None:
    """The registrar's การปฏิบัติ or หมายเหตุ as the register keeps a reason: one line, no
    control or bidi characters, at most REASON_MAX characters (session 38: kept as typed,
    an override reversed the register's remarks column for every clerk, and 1,000
    characters broke the printed book)."""
    return clean_reason(text)


# What identifies the letter of a row, as the register keeps it: a row under a number
# already imported is that letter again only if these are the same. `action` and `note`
# are the registrar's annotations, not the letter's.
IDENTIFYING = ("received_at", "sender", "reference", "letter_date", "addressee", "subject")


def typed_field(text: str | None) -> str | None:
    """A one-line field typed or pasted into the sheet or the desk's form, as the register
    keeps a mailed letter's subject: normalised as typed Thai (ํ + า is ำ), since the
    search box rewrites every term so. A subject pasted from a PDF's text layer, สระอำ in
    its two parts, was kept as it came and found by no search, neither as a clerk types
    it nor as pasted again (session 53)."""
    return clean_field(normalise_typed(text or ""))


def _as_stored(row: Row) -> dict[str, object]:
    return {"received_at": row.received_at.astimezone(dt.timezone.utc).replace(tzinfo=None),
            "sender": typed_field(row.sender), "reference": row.reference,
            "letter_date": row.letter_date.isoformat() if row.letter_date else None,
            "addressee": typed_field(row.addressee), "subject": typed_field(row.subject)}


def _clash(row: Row, existing, secret_book: str) -> tuple[str, str] | None:
    """None if `existing` (the letter registered under the row's number) is the row's
    letter; else why not, in English and Thai. A row under the number of a letter already
    imported, with another date, sender or subject (a typing slip of the number), was
    "already imported as 2/2569" and that letter was never registered. A letter sealed
    into the secret book keeps only its arrival and sender in plain: those are compared."""
    received = existing.received_at
    if received.tzinfo is not None:
        received = received.astimezone(dt.timezone.utc).replace(tzinfo=None)
    stored = {"received_at": received, "sender": existing.sender}
    facts = existing.facts or {}
    stored.update({key: facts.get(key) for key in IDENTIFYING[2:] if key in facts})
    ours = _as_stored(row)
    # An entry imported before session 53 kept its text as typed: compared as it is kept now.
    stored.update({key: typed_field(stored[key]) for key in ("sender", "addressee", "subject") if key in stored})
    differ = [key for key in IDENTIFYING if key in stored and (stored[key] or None) != (ours[key] or None)]
    if not differ:
        return None
    en_fields = ", ".join(f"{key} ({COLUMNS[key][1]})" for key in differ)
    th_fields = ", ".join(COLUMNS[key][1] for key in differ)
    if existing.book == secret_book:
        entry_en = f"{existing.receive_no} in the secret register (ทะเบียนลับ)"
        entry_th = f"เลขรับ {existing.receive_no} ในทะเบียนลับ"
    else:
        when = thai_datetime(received.replace(tzinfo=dt.timezone.utc))
        entry_en = (f"{existing.receive_no} (received {when}, from {existing.sender}, "
                    f"subject \"{facts.get('subject') or existing.subject or '-'}\")")
        entry_th = (f"เลขรับ {existing.receive_no} (รับเมื่อ {when} จาก {existing.sender} "
                    f"เรื่อง \"{facts.get('subject') or existing.subject or '-'}\")")
    return (f"{row.number} was already imported as {entry_en}, and this row differs from it in {en_fields}: "
            "one emergency number cannot be two letters; check the number written on this row",
            f"เลขทะเบียนฉุกเฉิน {row.number} นำเข้าแล้วเป็น{entry_th} แต่แถวนี้ต่างจากรายการนั้นที่ช่อง "
            f"{th_fields} เลขทะเบียนฉุกเฉินเดียวกันจะเป็นหนังสือสองฉบับไม่ได้ กรุณาตรวจสอบเลขในแถวนี้")


def _read_row(services: Services, row: Row, unit: str, address: str) -> _Read:
    """The paper letter read as a mailed one is: the typed เรื่อง, the body built from the
    row and every scan (text layer, or OCR of a scanned page's stamp) go through
    `read_classification`, so a ลับ stamped on the paper is seen here too."""
    files = list(row.files)  # read and checked once, in read_rows
    secret_book = services.settings.register_.secret_book
    replaces = None
    with services.db.read_session() as session:
        entries, next_id = _entries_under(session, unit, row.number)
        latest = entries[-1] if entries else None
        if latest is not None and latest.status == "cancelled" and (
                _clash(row, latest, secret_book) is not None
                or (latest.book != secret_book and not _same_scans(files, latest))):
            # Imported, cancelled (a subject typed wrong, the wrong scan attached), and
            # now corrected: a letter of its own under the next number. Until session 54
            # the emergency number's one queue id was taken for good: the row was "already
            # imported" or a clash, and the corrected letter could never be registered.
            replaces, latest = latest.receive_no, None
        queue_id = latest.queue_id if latest is not None else next_id
        if latest is not None:  # imported before: not read again
            return _Read(row, queue_id, files, _entry(row, address, files, queue_id),
                         clash=_clash(row, latest, secret_book), cancelled=latest.status == "cancelled")
    entry = _entry(row, address, files, queue_id)
    raw = entry.raw
    arrival, mail, _error = read_entry(services, entry)
    if mail is None:  # fail closed, as the pipeline does with what it cannot parse
        return _Read(row, queue_id, files, entry, arrival, None, secret.unreadable_secrecy(raw), replaces=replaces)
    facts = secret.classify(mail, extract_facts(mail), arrival)
    return _Read(row, queue_id, files, entry, arrival, mail, facts.secrecy, unopened=_unopened_pdfs(mail),
                 replaces=replaces)


def _entry(row: Row, address: str, files: list[tuple[str, bytes, str]], queue_id: str) -> SpoolEntry:
    return SpoolEntry(queue_id=queue_id, mail_from=address, rcpt_to=[address],
                      received_at=row.received_at.astimezone(dt.timezone.utc), peer=None, helo=None,
                      raw=build_raw(row, address, files, queue_id), path=Path())


# What the PDF reader leaves unread in a PDF that opened: a person can still open it.
_OPENED_BUT = (EMBEDDED_NOT_READ, SCAN_NOT_READ, NOT_READ_IN_TIME)


def _unopened_pdfs(mail: ParsedMail) -> list[tuple[str, str]]:
    """Why each PDF scan of the letter cannot be opened, by the pipeline's reading of it
    (the PDF reader's bounded child, as for a mailed letter): a scan cut off after
    "%PDF-1.4" was registered as the letter's only copy, under a gapless number
    (session 43). A PDF with no page, or locked with a password, is no copy either."""
    out = []
    for a in mail.attachments:
        if a.sniffed_type != "application/pdf":
            continue
        name = a.filename or "scan.pdf"
        if a.pdf_encrypted and a.pdf_pages is None:
            why = ("it is locked with a password", "ไฟล์ถูกล็อกด้วยรหัสผ่าน")
        elif a.pdf_error and not a.pdf_error.startswith(_OPENED_BUT):
            th, en = plain_reason(a.pdf_error)
            why = (en, th)
        elif a.pdf_pages == 0:
            why = ("it has no pages", "ไฟล์ไม่มีหน้าเอกสาร")
        else:
            continue
        out.append((f"scan \"{name}\" cannot be opened ({why[0]}): scan the letter again and attach the new file",
                    f"เปิดไฟล์สแกน \"{name}\" ไม่ได้ ({why[1]}) กรุณาสแกนหนังสือใหม่แล้วแนบไฟล์ใหม่"))
    return out


class TopSecretOnPaper(ToolError):
    """Rows marked ลับที่สุด: `lines` lets the web desk, whose form is one row of a sheet
    the clerk never sees, say it without a line number."""

    def __init__(self, csv_path: Path, lines: list[int]):
        numbers = ", ".join(str(n) for n in lines)
        super().__init__(f"{csv_path}: nothing imported: line {numbers} is marked ลับที่สุด (top secret), "
                         "which stays on paper and is never entered into an electronic system",
                         th=f"ไม่ได้นำเข้า: บรรทัด {numbers} เป็นหนังสือชั้นลับที่สุด ซึ่งต้องเก็บเป็นเอกสารกระดาษ "
                            "ห้ามนำเข้าระบบอิเล็กทรอนิกส์")
        self.lines = lines


def _read_sheet(services: Services, csv_path: Path, unit: str):
    """(directory unit, its address, every row read and classified), or the refusal an
    import would give; nothing written."""
    directory_unit = services.directory.lookup(unit)
    if directory_unit is None:
        raise ToolError(f"unknown unit \"{unit}\": it is not in the unit directory")
    if held_after_restore(services.settings):  # no number given blind (gateway/service/numbering.py)
        raise ToolError(HELD_FOR_TOOLS, th=HELD_FOR_TOOLS_TH, en=HELD_FOR_TOOLS_EN)
    rows = read_rows(csv_path, max_scan_bytes(services.settings))
    address = f"{directory_unit.address}@{services.directory.domain}"
    read = [_read_row(services, row, directory_unit.address, address) for row in rows]
    clashes = [(r.row.line, *r.clash) for r in read if r.clash is not None]
    clashes += [(r.row.line, en, th) for r in read for en, th in r.unopened]
    if clashes:
        raise _nothing_imported(csv_path, sorted(clashes, key=lambda c: c[0]))
    top_secret = [r.row.line for r in read if r.secrecy == "top_secret"]
    if top_secret:
        raise TopSecretOnPaper(csv_path, top_secret)
    return directory_unit, address, read


def check_emergency(services: Services, csv_path: Path, unit: str) -> None:
    """Everything `import_emergency` would refuse, refused, and nothing written: the
    desk's check said "all right" for a ลับที่สุด letter that the import then refused,
    because it ran `read_rows` only and the marking is read from the letter as built."""
    _read_sheet(services, csv_path, unit)


def import_emergency(services: Services, csv_path: Path, unit: str, reason: str | None = None,
                     show_progress: bool | None = None) -> list[dict]:
    """Import every row; return, per row, its emergency number, receive number, book and
    whether it was new. A ลับ or ลับมาก paper letter is sealed into the secret book like a
    mailed one; a ลับที่สุด one stays on paper and nothing of the file is imported."""
    directory_unit, address, read = _read_sheet(services, csv_path, unit)
    settings = services.settings
    results = []
    bar = Progress(len(read), f"import {csv_path.name}", enabled=show_progress)
    try:
        for letter in read:
            results.append(_import_row(services, settings, letter, directory_unit.address, address, reason))
            bar.advance()
    finally:
        bar.close()
    return results


SAME_LETTER = "same_letter"
# How far from the row's time a letter registered from e-mail is looked for: an outage
# of days, the sender's server retrying for up to five.
TWIN_WITHIN = dt.timedelta(days=30)


def same_letter(receive_no: str) -> Finding:
    """For the clerk: this paper letter looks like one the unit registered from e-mail
    (the same ที่ and ลงวันที่, or its scans are that letter's files). Registered all the
    same, its emergency number was given on paper; a person checks and cancels one."""
    return Finding(SAME_LETTER, "warn",
                   f"อาจเป็นหนังสือฉบับเดียวกับเลขรับ {receive_no} ที่ลงทะเบียนรับทางอีเมลแล้ว (ที่และลงวันที่ "
                   "หรือไฟล์ตรงกัน) โปรดตรวจสอบ หากซ้ำให้ยกเลิกเลขรับฉบับใดฉบับหนึ่ง",
                   f"possibly the letter registered from e-mail as {receive_no} (the same ที่ and date, or "
                   "the same file): check, and cancel one entry if so")


def _twin(session, row: Row, new: NewLetter) -> str | None:
    reference = (normalise_reference(row.reference) or row.reference.strip()) if row.reference else None
    return find_mailed_twin(session, new.unit, new.book, reference, row.letter_date,
                            frozenset(a["sha256"] for a in new.attachments), new.received_at, TWIN_WITHIN)


def _clash_meanwhile(row: Row, clash: tuple[str, str]) -> ToolError:
    """Another import registered the row's number, as another letter, after this one read it."""
    return ToolError(f"line {row.line}: {clash[0]} (this row and those after it not imported)",
                     th=f"แถวที่ {row.line}: {clash[1]} (แถวนี้และแถวถัดไปยังไม่ได้นำเข้า)")


def _import_row(services: Services, settings, read: _Read, unit: str, address: str, reason: str | None) -> dict:
    row, queue_id = read.row, read.queue_id
    received_utc = read.entry.received_at  # as the pipeline stores times
    with services.db.session() as session:
        existing = find_registration(session, queue_id, unit)
        if existing is not None:
            if (clash := _clash(row, existing, settings.register_.secret_book)) is not None:
                raise _clash_meanwhile(row, clash)
            return {"emergency_no": str(row.number), "receive_no": existing.receive_no, "new": False,
                    "line": row.line, "book": existing.book, "cancelled": existing.status == "cancelled"}
    sender = typed_field(row.sender)
    if read.secrecy in CLASSIFIED:
        # Nothing of it in plain: no vault copy, no subject in the register, no folder
        # copy; sealed for the unit's secret registrar (docs/secrecy.md).
        facts = LetterFacts(secrecy=read.secrecy)
        sealed = secret.seal_letter(services, read.entry, read.arrival, read.mail, facts, [])
        raw_sha256 = sealed.raw_ref
        new = NewLetter(queue_id=queue_id, unit=unit, book="", received_at=received_utc, sender=sender,
                        raw_sha256=raw_sha256,
                        facts={"secrecy": read.secrecy, "urgency": "normal", "emergency_no": str(row.number),
                               "source": "emergency_register", "replaces": read.replaces},
                        findings=secret.bare(sealed.unread), review=sealed.opaque)
    else:
        sealed = None
        raw_sha256 = services.vault.put(read.entry.raw)
        attachments = []
        for name, data, content_type in read.files:
            attachments.append({"filename": name, "sha256": services.vault.put(data), "size": len(data),
                                "content_type": content_type, "declared_type": content_type})
        # The register's one-line fields as for a mailed letter: a soft hyphen or an override
        # pasted into the sheet from a PDF is not kept (the filed copy keeps what was typed).
        subject, addressee = typed_field(row.subject), typed_field(row.addressee)
        facts = {"reference": row.reference, "letter_date": row.letter_date.isoformat() if row.letter_date else None,
                 "subject": subject, "addressee": addressee, "urgency": "normal", "secrecy": "none",
                 "kind": None, "emergency_no": str(row.number), "source": "emergency_register",
                 "action": row.action, "note": row.note, "replaces": read.replaces}
        new = NewLetter(queue_id=queue_id, unit=unit, book=settings.register_.general_book,
                        received_at=received_utc, sender=sender, raw_sha256=raw_sha256,
                        sender_name=sender, subject=subject, facts=facts, attachments=attachments)
    with services.db.session() as session:
        # Two clerks (or a double click) importing the same row at once, on PostgreSQL: each
        # found no entry and added one, and all but the first failed on the message row's
        # key, the desk's 500 page (session 53). Locked, the second waits for the first's
        # commit and finds its entry below.
        lock_units(session, [unit])
        existing = find_registration(session, queue_id, unit)  # another import ran meanwhile
        if existing is not None:
            if (clash := _clash(row, existing, settings.register_.secret_book)) is not None:
                raise _clash_meanwhile(row, clash)
            return {"emergency_no": str(row.number), "receive_no": existing.receive_no, "new": False,
                    "line": row.line, "book": existing.book}
        message = record_imported(session, queue_id=queue_id, received_at=received_utc, address=address,
                                  size=len(read.entry.raw), sha256=raw_sha256)
        twin = None
        if sealed is not None:
            letter = register_sealed(services, session, new, sealed)
        else:
            if (twin := _twin(session, row, new)) is not None:
                warning = same_letter(twin)
                new.findings, new.review = [warning.as_dict()], True
            letter = register_and_file(services, session, new)
        message.outcome = {address: f"registered {letter.receive_no} (emergency {row.number})"}
        record_action(session, "emergency_imported", reason=reason, queue_id=queue_id, unit=unit,
                      sealed_in=services.settings.data_dir if sealed is not None else None,
                      letter_id=letter.id, details={"emergency_no": str(row.number),
                                                    "receive_no": letter.receive_no, "line": row.line,
                                                    "book": letter.book, "replaces": read.replaces})
        return {"emergency_no": str(row.number), "receive_no": letter.receive_no, "new": True,
                "line": row.line, "book": letter.book, "replaces": read.replaces, "same_letter": twin}


@friendly
def cmd_import(args: argparse.Namespace) -> int:
    with open_services(args, new_database=True) as services:
        results = import_emergency(services, Path(args.file), unit_name(args.unit), args.reason)
    secret_book = services.settings.register_.secret_book
    for r in results:
        state = "registered" if r["new"] else "already imported as"
        book = " in the secret register (ทะเบียนลับ)" if r["book"] == secret_book else ""
        cancelled = " (cancelled, ยกเลิกแล้ว: correct the row to import it again)" if r.get("cancelled") else ""
        replaces = f" (in place of the cancelled {r['replaces']})" if r.get("replaces") else ""
        twin = ""
        if r.get("same_letter"):
            warning = same_letter(r["same_letter"])
            twin = f"  (review: {warning.message_en} / {warning.message_th})"
        print(f"{r['emergency_no']}  ->  {state} {r['receive_no']}{book}{cancelled}{replaces}{twin}")
    new = sum(1 for r in results if r["new"])
    print(f"\n{new} new, {len(results) - new} already in the register")
    return 0
