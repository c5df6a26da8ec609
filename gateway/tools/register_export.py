"""`saraban-gateway register export --unit U --year Y --format csv|pdf -o FILE`.

CSV is UTF-8 with a byte-order mark, so that Excel opens the Thai text correctly on a
double-click; the regulation's eight columns come first, then what the gateway knows
besides (time of receipt, book, status, emergency number, queue id). PDF is the
printed register book (see register_pdf.py)."""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
from pathlib import Path

from gateway.service.services import Services
from rules.thai_time import be_year, now_utc, thai_datetime
from rules.thai_time import thai_digits as in_thai_digits
from gateway.tools.actions import who
from gateway.tools.csv_safe import SafeWriter
from gateway.tools.common import ToolError, cannot_write, friendly, open_services, register_year, unit_name
from gateway.tools.progress import Progress
from gateway.tools.register_rows import (GAP_STATUS, HEADINGS, SECRECY_TH, URGENCY_TH, RegisterRow,
                                         register_rows)

EXTRA_HEADINGS = ("วันเวลาที่รับ", "ทะเบียน", "สถานะ", "ชั้นความเร็ว", "ชั้นความลับ",
                  "เลขทะเบียนฉุกเฉิน", "เลขรับ/ปี", "รหัสคิว", "ยืนยันผู้ส่ง")
STATUS_TH = {"cancelled": "ยกเลิก"}
BOOK_TH = {"general": "ทะเบียนหนังสือรับ", "secret": "ทะเบียนหนังสือรับลับ"}


def write_csv(rows: list[RegisterRow], path: Path, bar: Progress | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _write_csv(rows, tmp, bar)
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: no hidden file of register rows left behind
        tmp.unlink(missing_ok=True)
        raise


def _write_csv(rows: list[RegisterRow], tmp: Path, bar: Progress | None) -> None:
    with open(tmp, "w", encoding="utf-8-sig", newline="") as out:
        # What Excel writes and expects; every cell neutralised against formula injection.
        writer = SafeWriter(csv.writer(out, lineterminator="\r\n"))
        writer.writerow(HEADINGS + EXTRA_HEADINGS)
        for row in rows:
            writer.writerow(row.cells() + [
                row.received_text(),
                row.book,
                row.remarks if row.status == GAP_STATUS else STATUS_TH.get(row.status, "ปกติ"),
                URGENCY_TH.get(row.urgency, ""),
                SECRECY_TH.get(row.secrecy, ""),
                row.emergency_no,
                row.receive_no_text(),
                row.queue_id,
                row.sender_verified,
            ])
            if bar:
                bar.advance()


def export(services: Services, unit: str, year: int, fmt: str, path: Path, book: str | None = None,
           thai_digits: bool = False, show_progress: bool | None = None,
           days: tuple[dt.date | None, dt.date | None] = (None, None), most_pdf_rows: int | None = None,
           apart_nice: int | None = None) -> dict:
    """`days`: only the entries received from the first to the last day (Bangkok
    time, both included; None for open), as the web desk asks for a date range.
    `most_pdf_rows`: the rows a PDF may have (the desk's `[web] max_printed_rows`), a
    refusal in Thai and English past it, before the book is laid out. `apart_nice`: the
    PDF is laid out in a child process of that nice value (the desk: register_pdf.py
    `render_pdf_apart`), not in this one."""
    settings = services.settings
    book = book or settings.register_.general_book
    directory_unit = services.directory.lookup(unit)
    with services.db.session() as session:
        rows = register_rows(session, unit, year, book, services.directory, thai_digits)
    first, last = days
    rows = [r for r in rows if (first is None or r.received_at.date() >= first)
            and (last is None or r.received_at.date() <= last)]
    if not rows and directory_unit is None:
        raise ToolError(f"unknown unit \"{unit}\": not in the unit directory and nothing registered")
    entries = sum(1 for r in rows if r.status != GAP_STATUS)  # a run of skipped numbers is none
    if fmt == "pdf" and most_pdf_rows is not None and len(rows) > most_pdf_rows:
        raise ToolError(f"the book has {len(rows):,} rows; at most {most_pdf_rows:,} are printed as PDF at once: "
                        "choose a shorter range of days, or export it as CSV",
                        th=f"ทะเบียนที่เลือกมี {len(rows):,} แถว พิมพ์เป็น PDF จากหน้านี้ได้ครั้งละไม่เกิน "
                           f"{most_pdf_rows:,} แถว กรุณาเลือกช่วงวันที่ให้แคบลง (เช่น ทีละเดือน) หรือส่งออกเป็น CSV",
                        en=f"The book chosen has {len(rows):,} rows; this page prints at most {most_pdf_rows:,} "
                           "as PDF at a time. Choose a shorter range of days (a month at a time, say), or "
                           "export it as CSV.")
    bar = Progress(len(rows), f"export {unit} {year}", enabled=show_progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "csv":
            write_csv(rows, path, bar)
            pages = None
        else:
            from gateway.tools.register_pdf import render_pdf, render_pdf_apart

            name_th = directory_unit.name_th if directory_unit else unit
            def digits(text: str) -> str:  # the page's own figures as its rows write theirs
                return in_thai_digits(text) if thai_digits else text

            title = f"{BOOK_TH.get(book, 'ทะเบียนหนังสือรับ (' + book + ')')}  {name_th}"
            subtitle = f"พ.ศ. {digits(str(year))}  ({unit}, {digits(str(entries))} รายการ)"
            footer = f"พิมพ์จาก saraban-gateway เมื่อ {thai_datetime(now_utc(), digits=thai_digits)} น. โดย {who()}"
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                if apart_nice is None:
                    pages = render_pdf(rows, tmp, title, subtitle, footer, settings.export.font,
                                       settings.export.font_bold, on_row=bar.advance)
                else:
                    pages = render_pdf_apart(rows, tmp, title, subtitle, footer, settings.export.font,
                                             settings.export.font_bold, nice=apart_nice)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    finally:
        bar.close()
    return {"unit": unit, "year": year, "book": book, "format": fmt, "rows": entries,
            "pages": pages, "path": str(path)}


@friendly
def cmd_export(args: argparse.Namespace) -> int:
    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() or "csv")
    if fmt not in ("csv", "pdf"):
        raise ToolError(f"unknown format \"{fmt}\": use --format csv or --format pdf")
    year = register_year(args.year or be_year(now_utc()))
    # A folder given as -o was written as "Is a directory: .../.adir.tmp", a name the
    # person never typed, and left the hidden file holding the rows (session 36).
    if (why := cannot_write(args.output)) is not None:
        raise ToolError(f"cannot write {args.output}: {why}")
    with open_services(args, writes=False) as services:  # after the checks: a typo opens no database
        result = export(services, unit_name(args.unit), year, fmt, Path(args.output), args.book,
                        args.thai_digits)
    pages = f", {result['pages']} page(s)" if result["pages"] else ""
    print(f"wrote {result['rows']} entr{'y' if result['rows'] == 1 else 'ies'} of {result['unit']} "
          f"{result['year']} ({result['book']}) to {result['path']} ({fmt}{pages})")
    return 0
