"""Held letters (กักกัน): the list with reasons in words, one entry with its files,
and release or reject of one or many at once, through the quarantine tool's own
functions (gateway/tools/quarantine.py): the released letter gets the next receive
number and the sender the acknowledgement; a rejected one keeps its rejection."""
from __future__ import annotations

import datetime as dt
import itertools
import json

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.pipeline.parse import filename_of
from gateway.tools.actions import acting_as, clean_reason
from gateway.tools.common import ToolError
from gateway.tools.quarantine import (held_files, held_message, is_parked, page_of_entries, reject, release,
                                      show_entry)
from gateway.tools.reprocess import prepare
from gateway.web.desk import Desk, NotFound, database_busy, form_ids, log_busy, page
from gateway.web.auth import Person
from gateway.web.i18n import word
from gateway.web.pages_letters import PER_PAGE, file_response
from rules.names import shortened
from storage.quarantine import REASONS_LEFT_OUT, reasons_left_out

STATES = ("held", "released", "rejected")
log = structlog.get_logger("gateway.web")
MAX_AT_ONCE = 200


def quarantine_view(desk: Desk, request: Request, person: Person, form: FormData | None,
                    results: list[dict] | None = None, message: str | None = None, status: int = 200,
                    typed: dict | None = None) -> Response:
    state = request.query_params.get("state", "held")
    state = state if state in STATES else "held"
    # A page at a time, filtered by unit in the database: until session 35 every entry of
    # the state, every unit's, was read and looked for on disk at each request (20,000
    # rejected entries: 0.84 s for a district's clerk who saw none of them, a 7.5 MB
    # page for the administrator), and the released and rejected tabs only grow.
    units = None if person.all_units else set(person.visible)
    number = _page_number(request.query_params.get("page"))
    entries, total = page_of_entries(desk.services, state, units, number, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    if number > pages:  # an old link past the end: the last page, not an empty one
        number = pages
        entries, total = page_of_entries(desk.services, state, units, number, PER_PAGE)
    for entry in entries:
        entry["held_dt"] = dt.datetime.fromisoformat(entry["held_at"])
        entry["parked"] = is_parked(entry["reasons"])
        entry["may_decide"] = may_decide(desk, person, entry)
        bounded(entry, LIST_REASONS_SHOWN)
    return desk.render(request, person, "quarantine.html", status=status, entries=entries, state=state,
                       states=STATES, results=results, message=message, total=total, page_no=number, pages=pages,
                       typed=typed or {"reason": "", "ids": set()})


def _page_number(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1_000_000)
    except ValueError:
        return 1


# What one page shows of a held letter: a letter of 450 files each named with 2,000 Thai
# letters had 450 reasons and 450 names shown whole, a 3.5 MB entry page (session 43).
REASONS_SHOWN = 50  # on the entry's page; the rest are counted ("and 400 more")
LIST_REASONS_SHOWN = 10  # for each of the list's 50 entries a page
FILES_SHOWN = 50
TEXT_MOST = 2_000  # characters of one reason shown


def bounded(entry: dict, reasons: int, files: int = FILES_SHOWN) -> None:
    """The entry's reasons and files cut to what one page shows, each shortened, and how
    many are left out (`reasons_more`, `files_more`), those the quarantine did not store
    (storage/quarantine.py) counted too. Its `parked` is read before."""
    stored = [r for r in entry.get("reasons") or [] if isinstance(r, dict)]
    all_reasons = [r for r in stored if r.get("rule") != REASONS_LEFT_OUT]
    entry["reasons_more"] = max(0, len(all_reasons) - reasons) + reasons_left_out(stored)
    entry["reasons"] = [{**r, "message_th": shortened(r.get("message_th"), TEXT_MOST),
                         "message_en": shortened(r.get("message_en"), TEXT_MOST)}
                        for r in all_reasons[:reasons]]
    all_files = entry.get("files") or []
    entry["files_more"] = max(0, len(all_files) - files)
    # The first ones, at their place: a file's link is its position in the message.
    entry["files"] = [{**f, "filename": shortened(f.get("filename"), TEXT_MOST) or None} for f in all_files[:files]]


def _entry(desk: Desk, person: Person, quarantine_id: int, contents: bool = False) -> dict:
    try:
        data = show_entry(desk.services, quarantine_id, contents=contents)
    except ToolError:
        raise NotFound() from None
    if not person.sees_unit(data["unit"]):
        raise NotFound()
    data["held_dt"] = dt.datetime.fromisoformat(data["held_at"])
    data["received_dt"] = dt.datetime.fromisoformat(data["received_at"]) if data.get("received_at") else None
    data["parked"] = is_parked(data["reasons"])
    data["may_decide"] = may_decide(desk, person, data)
    for action in data["actions"]:
        action["at_dt"] = dt.datetime.fromisoformat(action["at"])
    return data


def may_decide(desk: Desk, person: Person, entry: dict) -> bool:
    """Whether this person may release, reject or reprocess the entry. A classified
    letter's (sealed) only the secret registrar of its unit: until session 19 any clerk
    of the unit (or an administrator) could reject a ลับ letter none of them may read,
    telling its sender it was not registered, and the registrar who may read it was told
    to ask the secret registrar."""
    if not person.may_act:
        return False
    return not entry.get("sealed") or person.sees_book(entry["unit"], desk.secret_book, desk.secret_book)


def _in_book(desk: Desk, book: str | None, lang: str) -> str:
    """", ทะเบียนหนังสือรับลับ" after the number of a letter released into the secret book,
    which has its own 1/2569: without it (until session 52) the clerk looked the number
    up in the general register and found another letter there."""
    return f" ({word('book_secret', lang)})" if book == desk.secret_book else ""


def entry_view(desk: Desk, request: Request, person: Person, form: FormData | None) -> Response:
    return _entry_page(desk, request, person, _entry(desk, person, request.path_params["entry_id"], contents=True))


# What each check is, in words that quote nothing of a letter: a classified letter's
# held reasons keep only "did not pass the check 'naming'" in plain (classified.bare),
# and its registrar decided blind (until the red team of 7 Dec 2026).
CHECK_WORDS = {
    "allowed_types": ("มีไฟล์ประเภทที่หน่วยงานไม่รับ (หนังสือนำต้องเป็น PDF สิ่งที่ส่งมาด้วยเป็น PDF รูปภาพ หรือเอกสารสำนักงาน)",
                      "a file of a type the unit does not take (the cover letter is a PDF; enclosures PDF, "
                      "images or office documents)"),
    "duplicate_file": ("แนบไฟล์เดียวกันซ้ำ", "the same file is attached twice"),
    "empty_file": ("มีไฟล์แนบที่ว่างเปล่า", "an attachment is empty"),
    "encrypted_pdf": ("มี PDF ที่ใส่รหัสผ่าน", "a PDF carries a password"),
    "executable": ("มีโปรแกรม สคริปต์ หรือเอกสารสำนักงานที่มีมาโคร", "a program, a script or a macro-enabled office file"),
    "naming": ("ชื่อไฟล์ไม่เป็นไปตามรูปแบบ ปี_รหัสหน่วยงาน_เลขสำนักงาน_เลขที่ หรือไม่ตรงกับเลขที่หนังสือ",
               "file names do not follow BEyear_AGENCY_office_number, or do not agree with the reference"),
    "real_type": ("เนื้อไฟล์ไม่ตรงกับนามสกุลของชื่อไฟล์", "a file's content does not match its name's extension"),
    "splitting": ("หนังสือนำและสิ่งที่ส่งมาด้วยไม่ได้แยกเป็นไฟล์ละฉบับ (ส่งเป็นไฟล์บีบอัด)",
                  "the cover letter and enclosures are not separate files (sent as an archive)"),
    "unreadable_pdf": ("มี PDF ที่เปิดไม่ได้", "a PDF cannot be opened"),
    "unsafe_name": ("ชื่อไฟล์ไม่ปลอดภัย (มีเส้นทาง .. อักขระควบคุม หรือยาวเกิน)",
                    "an unsafe file name (a path, .., control characters or too long)"),
    "sender_authenticity": ("ยืนยันผู้ส่งไม่ผ่าน", "the sender could not be verified"),
}
DETAIL_FILES = 50  # files a decision's details list (a letter past the part cap has 499)


def entry_details(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    """What the unit's secret registrar decides a held classified letter on, without its
    content: each file's type, size, whether it carries a password or a digital
    signature, and which checks held it, on which file (by number: a name may be the
    letter's words). Read from the sealed copy after the audit entry `view_held`, as
    เปิดดูเนื้อหา is; nothing of it is written anywhere."""
    from gateway.secrecy.errors import SecrecyError
    from gateway.secrecy.sealed_store import SealedStore
    from gateway.signatures.check import may_be_signed

    quarantine_id = request.path_params["entry_id"]
    data = _entry(desk, person, quarantine_id, contents=True)
    if not data["sealed"] or not data["may_decide"]:
        raise NotFound()
    if form.get("confirm") != "yes":
        return _entry_page(desk, request, person, data, message=word("details_confirm", person.lang), status=400)
    store = SealedStore(desk.settings.data_dir)
    try:
        # One audit entry for the press: the meta and the files (whether a PDF is signed
        # is read from its bytes; a classified letter's signatures are not verified).
        names = ["meta"] + list(itertools.takewhile(lambda name: store.has(data["queue_id"], name),
                                                    (f"att-{n}" for n in range(DETAIL_FILES))))
        blobs = store.open(data["queue_id"], names, who=person.who, action="view_held",
                           letter_id=f"quarantine {quarantine_id}")
        meta = json.loads(blobs.pop("meta"))
        described = [a for a in meta.get("attachments") or [] if isinstance(a, dict)][:DETAIL_FILES]
        reasons = _decision_reasons(desk, store, quarantine_id)
    except (SecrecyError, ValueError) as exc:
        # The key store's own sentence (which key, which file, what is wrong with it), as
        # web_reveal_failed has it: "SecrecyError" alone told the administrator nothing.
        # Never a ValueError's text: it may quote the decrypted meta.
        log.error("web_held_details_failed", username=person.username, quarantine_id=quarantine_id,
                  error=f"{type(exc).__name__}: {exc}"[:500] if isinstance(exc, SecrecyError) else type(exc).__name__)
        return _entry_page(desk, request, person, data, message=word("cannot_decrypt", person.lang), status=409)
    number_of = {a.get("filename"): n for n, a in enumerate(described, 1) if a.get("filename")}
    files = [{"n": n, "type": a.get("content_type") or "", "declared": a.get("declared_type") or "",
              "size": a.get("size"), "password": bool(a.get("pdf_encrypted")),
              "signed": may_be_signed(blobs[a["blob"]])
              if a.get("blob") in blobs and a.get("content_type") == "application/pdf" else None}
             for n, a in enumerate(described, 1)]
    held_for = []
    for finding in meta.get("findings") or []:
        if not isinstance(finding, dict) or finding.get("verdict") == "pass":
            continue
        rule = str(finding.get("rule") or "")
        th, en = CHECK_WORDS.get(rule, (None, None))
        held_for.append({"rule": rule, "verdict": finding.get("verdict"), "th": th, "en": en,
                         "file": number_of.get(finding.get("attachment"))})
    details = {"reasons": reasons, "files": files, "files_more": max(0, len(meta.get("attachments") or []) - DETAIL_FILES),
               "held_for": held_for, "smime": bool(meta.get("smime_arrival")), "opaque": bool(meta.get("opaque"))}
    return _entry_page(desk, request, person, data, details=details)


def _decision_reasons(desk: Desk, store, quarantine_id: int) -> dict[int, str]:  # noqa: ANN001 - a SealedStore
    """The sealed reasons people gave on this entry (a release, a rejection: they may
    quote the letter, gateway/secrecy/sealed_text.py), opened, by action id: without
    this the registrar who rejected a ลับ letter could not read why, anywhere."""
    from gateway.secrecy.sealed_text import Opener, is_sealed
    from storage.actions import actions_for

    opener = Opener(store.keystore)
    with desk.services.db.read_session() as session:
        return {a.id: opener.open(a.reason) for a in actions_for(session, quarantine_id=quarantine_id)
                if is_sealed(a.reason)}


def _entry_page(desk: Desk, request: Request, person: Person, data: dict, details: dict | None = None,
                message: str | None = None, status: int = 200) -> Response:
    bounded(data, REASONS_SHOWN)
    data["in_book"] = _in_book(desk, data.get("book"), person.lang) if data.get("receive_no") else ""
    return desk.render(request, person, "quarantine_entry.html", status=status, entry=data, details=details,
                       message=message)


def entry_file(desk: Desk, request: Request, person: Person, form: FormData | None) -> Response:
    data = _entry(desk, person, request.path_params["entry_id"])
    position = request.path_params["position"]
    sha = data.get("raw_sha256")
    if not sha or not desk.services.vault.has(sha):
        raise NotFound()
    try:
        # As the entry's page lists them (held_files), cheaply: the default policy parsed
        # every part's headers again for each download.
        parts = held_files(held_message(desk.services.vault.get(sha)))
    except Exception:  # a held message that does not parse has no files to show
        raise NotFound() from None
    if not 0 <= position < len(parts):
        raise NotFound()
    part = parts[position]
    payload = part.get_payload(decode=True) or b""
    sniffed = "application/pdf" if payload.startswith(b"%PDF") else part.get_content_type()
    return file_response(payload, filename_of(part), sniffed)


def decide(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    """Release or reject the ticked entries; each one's outcome is shown."""
    action = str(form.get("action") or "")
    # As the record keeps it (gateway/tools/actions.py `clean_reason`): control characters
    # only, or spaces only, is no reason (until session 37 "\x01" was one).
    reason = clean_reason(str(form.get("reason") or "")) or ""
    ids = form_ids(form.getlist("id"), MAX_AT_ONCE)
    # A refused form comes back with its reason and its ticks: until session 53 a clerk who
    # typed the reason and forgot to tick (or ticked thirty entries and gave a reason of
    # spaces) found the list drawn again with neither.
    typed = {"reason": str(form.get("reason") or "")[:500], "ids": set(ids)}
    if action not in ("release", "reject", "reprocess") or not ids:
        return quarantine_view(desk, request, person, None, message=word("none_ticked", person.lang), status=400,
                               typed=typed)
    if not reason:
        return quarantine_view(desk, request, person, None, message=word("reason_required", person.lang),
                               status=400, typed=typed)
    results = []
    sent_again: set[str] = set()  # a parked letter has one entry per unit; one retry for all
    for quarantine_id in ids:
        try:
            data = _entry(desk, person, quarantine_id)
        except NotFound:
            results.append({"id": quarantine_id, "ok": False, "text": word("not_found_text", person.lang)})
            continue
        if not data["may_decide"]:
            log.warning("web_quarantine_sealed_refused", username=person.username, quarantine_id=quarantine_id,
                        action=action)
            results.append({"id": quarantine_id, "ok": False, "text": word("sealed_registrar_only", person.lang)})
            continue
        try:
            with acting_as(person.who):
                if action == "reprocess" and not data["parked"]:
                    # A letter held for what it is is decided by release or reject at the
                    # desk; running it through the rules again is the operator's (`reprocess`).
                    results.append({"id": quarantine_id, "ok": False, "text": word("not_parked", person.lang)})
                elif action == "reprocess":
                    if data["queue_id"] not in sent_again:
                        prepare(desk.services, data["queue_id"], reason,  # the running daemon takes it
                                may_decide=person.sees_unit, entry_id=quarantine_id)
                        sent_again.add(data["queue_id"])
                    results.append({"id": quarantine_id, "ok": True, "text": word("reprocessing", person.lang)})
                elif action == "release":
                    # may_decide: a sealed entry's decider is its unit's secret registrar
                    letter = release(desk.pipeline_services(), quarantine_id, reason,
                                     open_sealed_as=person.who if data.get("sealed") else None)
                    results.append({"id": quarantine_id, "ok": True, "letter_id": letter.id,
                                    "text": f"{word('released_as', person.lang)} {letter.receive_no}"
                                            + _in_book(desk, letter.book, person.lang)})
                else:
                    reject(desk.services, quarantine_id, reason)
                    results.append({"id": quarantine_id, "ok": True, "text": word("rejected", person.lang)})
        except ToolError as exc:  # already decided, unreadable, resent: the tool's sentence
            results.append({"id": quarantine_id, "ok": False, "text": exc.for_person(person.lang)})
        except Exception as exc:  # noqa: BLE001 - the entries decided before stay listed
            if database_busy(exc):  # locked, away, its file moved: the person may try again
                log_busy(request, person, exc)
                results.append({"id": quarantine_id, "ok": False, "text": word("register_busy_text", person.lang)})
                continue
            log.exception("web_quarantine_decision_failed", quarantine_id=quarantine_id, action=action)
            results.append({"id": quarantine_id, "ok": False, "text": word("error_text", person.lang)})
    return quarantine_view(desk, request, person, None, results=results)


def routes(desk: Desk) -> list[Route]:
    return [
        Route("/quarantine", page(desk, quarantine_view), methods=["GET"]),
        Route("/quarantine", page(desk, decide, act=True), methods=["POST"]),
        Route("/quarantine/{entry_id:id}", page(desk, entry_view), methods=["GET"]),
        Route("/quarantine/{entry_id:id}/files/{position:id}", page(desk, entry_file), methods=["GET"]),
        Route("/quarantine/{entry_id:id}/details", page(desk, entry_details, act=True), methods=["POST"]),
    ]
