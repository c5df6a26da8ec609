"""The rest of the desk: printing and export (the register book PDF and the CSV of
`register export`), the emergency register form (the validation and import of
`register import-emergency`), and the operations page for administrators (the figures
of `status` and the outbox's dead items with a retry, as `outbox retry`)."""
from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rules.names import cut, saved_name
from rules.thai_time import REGISTER_YEARS
from gateway.tools.actions import acting_as
from gateway.tools.common import ToolError
from gateway.tools.scan_types import SCAN_TYPES, SCAN_TYPES_TEXT, SCAN_TYPES_TEXT_TH, scan_type, sniffed
from gateway.web.desk import MAX_FILES, BadRequest, Desk, NotFound, form_ids, page
from gateway.web.auth import Person
from gateway.web.i18n import word
from gateway.web.pages_letters import content_disposition, days_refusal, filter_day

log = structlog.get_logger("gateway.web")

EMERGENCY_FIELDS = ("emergency_no", "received_at", "reference", "letter_date", "sender", "addressee",
                    "subject", "action", "note")


# --- printing and export --------------------------------------------------------------

def export_form(desk: Desk, request: Request, person: Person, form: FormData | None,
                message: str | None = None, status: int = 200, values: dict | None = None) -> Response:
    books = [b for b in (desk.general_book, desk.secret_book) if desk.units_of(person, b)]
    units = desk.units_of(person, desk.general_book) or desk.units_of(person, desk.secret_book)
    # A registrar sees the general book of the units below theirs but keeps the secret
    # book of their own only: the form says whose, so that no one picks a pair it refuses.
    secret_units = desk.units_of(person, desk.secret_book)
    secret_units = secret_units if set(secret_units) != set(units) else []
    return desk.render(request, person, "export.html", status=status, units=units, books=books,
                       secret_units=secret_units, year=desk.this_year(), message=message, values=values or {})


def _chosen(form: FormData) -> dict:
    """What the export form was sent with, for the form drawn again after a refusal:
    until session 52 it came back at its first unit, the general book, PDF and this
    year, and a clerk who corrected the year and pressed ดาวน์โหลด got another unit's
    book in another format."""
    return {key: str(form.get(key) or "")[:40] for key in ("unit", "book", "format", "year", "from", "to")}


def export_file(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    from gateway.tools.register_export import export

    unit, book = str(form.get("unit") or ""), str(form.get("book") or desk.general_book)
    fmt = "pdf" if form.get("format") == "pdf" else "csv"
    if book not in (desk.general_book, desk.secret_book):  # the configured books only
        raise BadRequest("bad_book")
    if unit not in desk.units_of(person, book):
        kept = desk.units_of(person, book)
        if kept and unit in desk.units_of(person, desk.general_book):
            # a unit whose general book they print, but whose secret book is another
            # registrar's: "no such entry or no right" sent them looking for an error
            names = ", ".join(desk.unit_name(u) for u in kept)
            return export_form(desk, request, person, None,
                               f"{word('secret_book_not_yours', person.lang)} {names}", 403, _chosen(form))
        raise NotFound()
    try:
        year = int(str(form.get("year") or desk.this_year()))
    except ValueError:
        year = 0
    if year not in REGISTER_YEARS:
        # "0: ปี พ.ศ.?" was all a clerk who typed 30/11/2569 or 2026 got
        text = str(form.get("year") or "").strip()[:20]
        return export_form(desk, request, person, None, f"{word('bad_year', person.lang)} ({text})", 400,
                           _chosen(form))
    days = (filter_day(str(form.get("from") or ""), "from"), filter_day(str(form.get("to") or ""), "to"))
    if (refusal := days_refusal(days, year, person.lang)) is not None:
        return export_form(desk, request, person, None, refusal, 400, _chosen(form))
    with tempfile.TemporaryDirectory(prefix="saraban-export-") as tmp:
        path = Path(tmp) / f"register.{fmt}"
        try:
            with acting_as(person.who):  # the printed book's footer names who printed it
                # A year of a busy unit was laid out for a quarter of an hour (session 56):
                # past the bound, the clerk is told to print a range of days, or to take
                # the CSV. Within it, the book is laid out in a child process, not in the
                # daemon's, whose SMTP sessions waited for it (session 57).
                result = export(desk.services, unit, year, fmt, path, book, days=days,
                                most_pdf_rows=desk.web.max_printed_rows,
                                apart_nice=desk.services.settings.service.background_nice)
        except ToolError as exc:
            if exc.th:
                return export_form(desk, request, person, None, exc.for_person(person.lang), 409, _chosen(form))
            # The command line's sentence is the administrator's ("Thai font /usr/share/...
            # not found: install the Debian package ..."): it was the clerk's page, in
            # English on the Thai page with the server's paths, until session 50.
            log.error("web_export_failed", username=person.username, unit=unit, book=book, format=fmt,
                      error=str(exc))
            return export_form(desk, request, person, None, word("export_failed", person.lang), 500,
                               _chosen(form))
        data = path.read_bytes()
    name = f"{unit}-{book}-{year}.{fmt}"
    media = "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
    # Unit and book are checked above, but a configured book may be named in Thai.
    return Response(data, media_type=media, headers={
        "content-disposition": content_disposition("attachment", name),
        "x-register-entries": str(result["rows"])})


# --- the emergency register (ฉ) ----------------------------------------------------------

def emergency_form(desk: Desk, request: Request, person: Person, form: FormData | None,
                   message: str | None = None, results: list[dict] | None = None, values: dict | None = None,
                   status: int = 200) -> Response:
    units = [u for u in desk.units_of(person) if u in person.visible or person.all_units]
    return desk.render(request, person, "emergency.html", status=status, units=units, message=message,
                       results=results, values=values or {}, max_mb=desk.web.max_upload_mb, max_files=MAX_FILES)


def _scan_name(upload: UploadFile, n: int, content_type: str) -> str:
    """The scan's name as the register keeps it, the clerk's own (หนังสือนำ.pdf), with
    the extension of its bytes. Only what cannot stand in the one-row sheet behind the
    form goes: a folder in it (saved_name), the sheet's `;` and `|` between scans, a
    leading dot. Until session 54 every character that was not a letter or digit was an
    `_`, Thai vowels and tone marks too: หนังสือนำ.pdf was registered, filed into the
    unit's folder and downloaded as หน_งส_อนำ.pdf."""
    stem = Path(saved_name(upload.filename or "")).stem
    stem = cut(re.sub(r"[;|]+", "_", stem).strip(" ."), 80).strip() or f"scan{n}"
    return f"{stem}{SCAN_TYPES[content_type]}"


def _unused_name(name: str, n: int, taken: list[str]) -> str:
    """`name`, or with the scan's place before it (`2_scan.pdf`) while another scan has
    it, in any case: two scans of one name (scan.pdf from two scanner folders) were one
    file, the second written over the first and registered twice."""
    folded = {other.casefold() for other in taken}
    while name.casefold() in folded:
        name = f"{n}_{name}"
    return name


@contextmanager
def _shredded(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        from gateway.secrecy.shred import shred

        for path in folder.iterdir():
            shred(path, logged_as="an emergency register upload")  # its name is the clerk's file's


def emergency_submit(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    """One letter of the paper register: written as the one-row CSV `register
    import-emergency` reads, beside its scans, and checked (or imported) by that code."""
    from gateway.tools.emergency_import import TopSecretOnPaper, check_emergency, import_emergency

    # Whole, as a mailed letter's are (each field is at most the form parser's 64 KB):
    # until session 54 each was cut at 1,000 characters without a word, and a long
    # เรื่อง was registered without its end. การปฏิบัติ and หมายเหตุ are cut by the
    # import at 500, ending "…", as a reason is.
    values = {key: str(form.get(key) or "").strip() for key in EMERGENCY_FIELDS}
    unit = str(form.get("unit") or "")
    if unit not in person.visible and not person.all_units:
        raise NotFound()
    # The form comes back after a check or a refusal: with its unit at the first option,
    # a clerk who re-attached the scan and pressed ลงทะเบียน put the letter in another
    # unit's gapless book.
    values["unit"] = unit
    uploads = [u for u in form.getlist("scans") if isinstance(u, UploadFile) and u.filename]
    if not uploads:
        return emergency_form(desk, request, person, None, word("no_scans", person.lang), values=values, status=400)
    # The scans of a paper letter that may be ลับ: in the data directory (an encrypted
    # volume, docs/secrecy.md), shredded after, never in TMPDIR where they were unlinked.
    with tempfile.TemporaryDirectory(prefix="emergency-", dir=desk.services.spool.tmp) as tmp, \
            _shredded(Path(tmp)):
        names = []
        for n, upload in enumerate(uploads, start=1):
            data = upload.file.read(desk.max_upload + 1)
            content_type = scan_type(data)
            if content_type is None or len(data) > desk.max_upload:
                # In the clerk's language: it was in English on the Thai page (session 43).
                what = content_type or sniffed(data)
                if person.lang == "en":
                    text = f"{upload.filename}: {what}, {len(data)} bytes; {SCAN_TYPES_TEXT} only"
                else:
                    text = (f"{upload.filename}: ไฟล์นี้เป็น {what} ขนาด {len(data):,} ไบต์ "
                            f"รับเฉพาะไฟล์สแกน {SCAN_TYPES_TEXT_TH}")
                if len(data) > desk.max_upload:
                    text += (f" (at most {desk.max_upload // 2**20} MB)" if person.lang == "en"
                             else f" ขนาดไม่เกิน {desk.max_upload // 2**20} MB")
                return emergency_form(desk, request, person, None, text, values=values, status=400)
            name = _unused_name(_scan_name(upload, n, content_type), n, names)
            (Path(tmp) / name).write_bytes(data)
            names.append(name)
        sheet = Path(tmp) / "emergency.csv"
        with open(sheet, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([*EMERGENCY_FIELDS, "scan"])
            writer.writerow([values[key] for key in EMERGENCY_FIELDS] + [";".join(names)])
        try:
            if form.get("do") != "import":
                # All the import would refuse, the ลับที่สุด read from the letter as built
                # included, by the pipeline's PDF reader as below; nothing written.
                check_emergency(desk.pipeline_services(), sheet, unit)
                return emergency_form(desk, request, person, None, values=values,
                                      results=[{"checked": True}])
            with acting_as(person.who):
                # Its scans are read for a ลับ stamp as a mailed letter's are: by the
                # pipeline's PDF reader (a child with a deadline), not in the daemon itself.
                results = import_emergency(desk.pipeline_services(), sheet, unit,
                                           str(form.get("reason") or "") or None)
        except TopSecretOnPaper:
            # The tool's sentence names the sheet's line ("บรรทัด 2"), which the form has not.
            return emergency_form(desk, request, person, None, word("emergency_top_secret", person.lang),
                                  values=values, status=400)
        except ToolError as exc:
            # In the person's language where the tool has the sentence in Thai.
            text = exc.for_person(person.lang).replace(str(sheet), "").lstrip(": ").replace(tmp + "/", "")
            # The form is one row of a sheet the clerk never sees: not "line 2".
            text = re.sub(r"(?m)^(\s*)(?:line|แถวที่) 2: ", r"\1", text)
            return emergency_form(desk, request, person, None, text, values=values, status=400)
    # The secret book has its own 1/2569: a number without its book sent the clerk to
    # the general register's letter of that number.
    for r in results:
        r["unit"], r["secret"] = unit, r.get("book") == desk.secret_book
    return emergency_form(desk, request, person, None, results=results, values={"unit": unit})


# --- operations ---------------------------------------------------------------------------

def operations(desk: Desk, request: Request, person: Person, form: FormData | None,
               retried: tuple[list[int], list[str]] | None = None) -> Response:
    from gateway.delivery.error_texts import error_for_person
    from gateway.secrecy.keys import KeyStore, problem_in_thai
    from gateway.service.status import collect_status
    from storage.outbox import items_in_state

    status = collect_status(desk.settings)
    keystore = KeyStore.for_data_dir(desk.settings.data_dir)
    keys, warnings = keystore.listing(), keystore.warning_pairs()
    for k in keys:
        k["problem_th"] = problem_in_thai(k["problem"]) if k["problem"] else None
    with desk.services.db.read_session() as session:
        dead = [{"id": i.id, "kind": i.kind, "unit": i.unit, "queue_id": i.queue_id, "attempts": i.attempts,
                 "last_error": error_for_person(i.last_error), "created_at": i.created_at} for i in items_in_state(session, "dead", limit=500)]
        waiting = [{"id": i.id, "kind": i.kind, "unit": i.unit, "attempts": i.attempts,
                    "last_error": error_for_person(i.last_error), "next_attempt_at": i.next_attempt_at}
                   for i in items_in_state(session, "pending", limit=2000) if i.last_error][:50]
    return desk.render(request, person, "operations.html", status_=status, keys=keys, warnings=warnings,
                       dead=dead, waiting=waiting, retried=retried)


def retry(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    from storage.outbox import retry_items

    ids = form_ids(form.getlist("id"), 500)
    every = form.get("all") == "dead"
    if not ids and not every:
        return operations(desk, request, person, None, ([], [word("none_ticked", person.lang)]))
    with acting_as(person.who), desk.services.db.session() as session:
        retried, refused = retry_items(session, ids, every)
        from gateway.tools.actions import record_outbox_act
        from storage.outbox import items_by_id

        record_outbox_act(session, "outbox_retried", items_by_id(session, retried))
    return operations(desk, request, person, None, (retried, refused))


def routes(desk: Desk) -> list[Route]:
    desk.pages.update({"export", "emergency", "operations"})
    export_roles = ("clerk", "registrar", "auditor", "admin")
    return [
        Route("/export", page(desk, export_form, roles=export_roles), methods=["GET"]),
        Route("/export", page(desk, export_file, roles=export_roles), methods=["POST"]),
        Route("/emergency", page(desk, emergency_form, act=True), methods=["GET"]),
        Route("/emergency", page(desk, emergency_submit, act=True), methods=["POST"]),
        Route("/operations", page(desk, operations, roles=("admin",)), methods=["GET"]),
        Route("/operations/retry", page(desk, retry, roles=("admin",)), methods=["POST"]),
    ]


__all__ = ["routes"]
