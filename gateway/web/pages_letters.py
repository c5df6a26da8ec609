"""The register (ทะเบียนหนังสือรับ) page and one letter's page with its files and the
actions on it: cancel (the number stays taken), assign to a department (การปฏิบัติ),
add a note. Every action goes through the tools' functions or storage/desk.py and is
recorded in `operator_actions` under the person's name (`web:<user>`)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
import structlog

from rules.names import saved_name
from rules.thai_text import clean_field, clean_lines, expand_year, thai_to_arabic
from rules.thai_time import BANGKOK
from gateway.secrecy.sealed_text import Opener, is_sealed, seal_text, shown as shown_text
from gateway.tools.actions import acting_as, clean_reason, record_action
from gateway.tools.common import ToolError, not_on_this_gateway
from gateway.web.desk import BadRequest, Desk, Forbidden, NotFound, form_ids, page
from gateway.web.auth import Person
from gateway.web.i18n import be_date, word
from storage import desk as store
from storage.vault import VaultObjectDamaged

PER_PAGE = 50
VERDICT_KEY = {"TOTAL_PASSED": "v_passed", "TOTAL_FAILED": "v_failed", "INDETERMINATE": "v_indeterminate",
               "REVIEW": "review"}
# REVIEW: a signature that verifies but that the check flagged for a person (changes
# after signing it allows, a document timestamp and no signer): until session 52 its
# badge said ผ่าน (passed) in the register and on the letter's page, beside a letter
# flagged ควรตรวจสอบ, and a forged letter that only a public timestamp authority had
# stamped read "passed" in the list.
RANK = {"TOTAL_FAILED": 0, "INDETERMINATE": 1, "REVIEW": 2, "TOTAL_PASSED": 3}

log = structlog.get_logger("gateway.web.pages_letters")


def worst_verdict(signatures: list[dict] | None) -> str | None:
    """TOTAL_FAILED over INDETERMINATE over REVIEW (passed, flagged for a person) over
    TOTAL_PASSED; None for an unsigned file."""
    indications = ["REVIEW" if s.get("indication") == "TOTAL_PASSED" and s.get("review") else s.get("indication")
                   for s in signatures or [] if s.get("indication") in RANK]
    return min(indications, key=RANK.__getitem__) if indications else None


def letter_verdict(attachments) -> str | None:
    verdicts = [worst_verdict(a.signatures) for a in attachments]
    verdicts = [v for v in verdicts if v]
    return min(verdicts, key=RANK.__getitem__) if verdicts else None


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text or default)
    except ValueError:
        return default
    return value if low <= value <= high else default


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


# A day as a clerk types it: 30/11/2569, ๓๐/๑๑/๒๕๖๙, 30.11.69 (day first, the year in
# Buddhist era, two digits being 25xx), or the date field's own 2026-11-30, or that
# with a Buddhist-era year (2569-11-30).
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def typed_day(text: str) -> dt.date | None:
    """The day of a filter as typed, or None when it is not one."""
    text = thai_to_arabic(text.strip())
    if (found := _YMD.fullmatch(text)) is not None:
        year, month, day = (int(g) for g in found.groups())
        year = expand_year(year, 4)
    elif (found := _DMY.fullmatch(text)) is not None:
        day, month, year = (int(g) for g in found.groups())
        year = expand_year(year, len(found.group(3)))
    else:
        return None
    try:
        return dt.date(year, month, day) if year is not None else None
    except ValueError:  # 31/02/2569
        return None


# The days a filter may name: a register's letters are from these years (the
# emergency register's too), and a day past them would overflow date arithmetic.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2299, 12, 31)


def filter_day(text: str | None, field: str) -> dt.date | None:
    """A from/to day of a filter: empty is no filter; a day typed the Thai way is taken
    (typed_day); anything else is the desk's 400 page saying how to write it (it used to
    be silently no filter: a clerk who typed 1/12/2569 got every letter and believed
    them filtered), as is a date outside FIRST_DAY..LAST_DAY."""
    if not text or not text.strip():
        return None
    # typed_day reads 2569-11-30 too; the date field's own form past its years
    # (9999-12-31) is still a day, and out of range below.
    day = typed_day(text) or _day(text.strip())
    # The field by its label on the form, in the person's language (it was "from: ...").
    label = {"from": "received_from", "to": "received_to"}.get(field)
    if day is None:
        raise BadRequest("bad_day", text.strip()[:40], field=label)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest("bad_date", day.isoformat(), field=label)
    return day


def days_refusal(days: tuple, year: int, lang: str) -> str | None:
    """Why these days select nothing from that year's book, or None. In January the
    export form's and the register's year is already the new one: a clerk printing
    December's letters with it, or with the two days typed the wrong way round, got an
    empty book or list without a word (until session 53). Each year's book has its own
    numbers, so the year is said, not guessed."""
    first, last = days
    if first is not None and last is not None and first > last:
        return word("days_reversed", lang)
    # An open end reaches into every year: "from 1/1/2568" alone takes all of 2569.
    if last is not None and last.year + 543 < year:
        return word("days_outside_year", lang).format(days_year=last.year + 543, year=year)
    if first is not None and first.year + 543 > year:
        return word("days_outside_year", lang).format(days_year=first.year + 543, year=year)
    return None


def _bangkok_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=BANGKOK)


# What the secret register can be searched by: a classified entry keeps its sender's
# address and nothing else the search reads (subject, name, reference are NULL).
SECRET_SEARCH = re.compile(r"[A-Za-z0-9._%+@\-]*")


def register_view(desk: Desk, request: Request, person: Person, form: FormData | None,
                  book: str | None = None) -> Response:
    book = book or desk.general_book
    units = desk.units_of(person, book)
    q = request.query_params
    if not units:
        raise NotFound()
    default = next((u for u in person.units if u in units), units[0])
    unit = q.get("unit") or default
    if unit not in units:
        raise NotFound()
    year = _int(q.get("year"), desk.this_year(), 2400, 2700)
    search, back = (q.get("q") or "")[:100], None
    typed = store.typed_receive_no(search)
    if typed is not None and typed[1] is not None and 2400 <= typed[1] <= 2700 and (
            book != desk.secret_book or SECRET_SEARCH.fullmatch(search)):
        # A receive number names its year's book (each year numbers from 1): 5/2568 typed
        # while the form's year is this one is last year's entry 5.
        year = typed[1]
    received_from, received_to = filter_day(q.get("from"), "from"), filter_day(q.get("to"), "to")
    refusal = days_refusal((received_from, received_to), year, person.lang)
    if book == desk.secret_book and not SECRET_SEARCH.fullmatch(search):
        # The form refuses it before it is sent (its pattern); sent all the same (typed in
        # the address bar, an old bookmark), it is not drawn back into the page: neither
        # the field nor the language switch's way back.
        refusal, search = word("search_secret_only", person.lang), ""
        back = request.url.path + ("?" + urlencode([(k, v) for k, v in q.multi_items() if k != "q"])
                                   if any(k != "q" for k in q.keys()) else "")
    query = store.RegisterQuery(
        unit=unit, book=book, year=year, search=search,
        review_only=q.get("review") == "1",
        verdict=q.get("verdict") if q.get("verdict") in store.VERDICTS else "",
        received_from=_bangkok_midnight(received_from) if received_from else None,
        received_to=_bangkok_midnight(received_to + dt.timedelta(days=1)) if received_to else None,
        page=_int(q.get("page"), 1, 1, 100000), per_page=PER_PAGE)
    from gateway.tools.register_rows import rows_for

    with desk.services.db.read_session() as session:
        letters, total = store.register_page(session, query)
        last = max(1, -(-total // PER_PAGE))
        if query.page > last:  # an old link or a typed number past the end: the last page, not an empty one
            query = dataclasses.replace(query, page=last)
            letters, total = store.register_page(session, query)
        rows = rows_for(session, letters, unit, desk.services.directory, person.thai_digits)
        assigned = store.current_assignments(session, [x.id for x in letters])
        years = store.register_years(session, unit, book)
    verdicts = {x.id: letter_verdict(x.attachments) for x in letters}
    # A letter flagged for review whose signatures all passed (an unsigned cover letter
    # beside a signed enclosure, a file sent again): ผ่าน alone in the list said more than
    # the check did.
    verdicts |= {x.id: "REVIEW" for x in letters if x.review and verdicts[x.id] == "TOTAL_PASSED"}
    if year not in years:
        years = sorted(set(years) | {year}, reverse=True)
    pages = max(1, -(-total // PER_PAGE))
    template = "register.html"
    return desk.render(request, person, template, units=units, unit=unit, year=year, years=years,
                       book=book, query=query, rows=rows, total=total, pages=pages, assigned=assigned,
                       verdicts=verdicts, verdict_key=VERDICT_KEY, message=refusal, back=back,
                       q_from=received_from.isoformat() if received_from else "",
                       q_to=received_to.isoformat() if received_to else "")


def load_letter(desk: Desk, person: Person, letter_id: int):
    """The letter and its details for this person, or NotFound (also for another unit's)."""
    from gateway.tools.register_show import entry_details

    with desk.services.db.read_session() as session:
        letter = store.letter_by_id(session, letter_id)
        if letter is None or not person.sees_book(letter.unit, letter.book, desk.secret_book):
            raise NotFound()
        data = entry_details(session, letter)
        data["id"] = letter.id
        # A classified letter's notes are sealed (gateway/secrecy/sealed_text.py): shown
        # as such until the letter is opened (reveal).
        data["notes"] = [{"id": n.id, "at": n.at, "who": n.who, "text": shown_text(n.text), "sealed": is_sealed(n.text)}
                         for n in store.notes_of(session, letter.id)]
        data["assignments"] = [{"id": a.id, "at": a.at, "who": a.who, "department": a.department}
                               for a in store.assignments_of(session, letter.id)]
        for item in data["outbox"]:
            item["done_dt"] = dt.datetime.fromisoformat(item["done_at"]) if item["done_at"] else None
        for action in data["actions"]:
            action["at_dt"] = dt.datetime.fromisoformat(action["at"])
        data["classified"] = letter.secrecy not in ("none", None)
        data["sealed"] = bool((letter.facts or {}).get("sealed"))
        data["stamped"] = None if data["sealed"] else (letter.facts or {}).get("stamped")
        session.expunge(letter)
    return letter, data


def letter_view(desk: Desk, request: Request, person: Person, form: FormData | None,
                message: str | None = None, status: int = 200, revealed: dict | None = None,
                typed: dict | None = None) -> Response:
    letter, data = load_letter(desk, person, request.path_params["letter_id"])
    done = request.query_params.get("done")
    return desk.render(request, person, "letter.html", status=status, letter=letter, data=data, typed=typed or {},
                       message=message, done=done if done in ("cancelled", "assigned", "noted") else None,
                       verdict_key=VERDICT_KEY, worst_verdict=worst_verdict, revealed=revealed,
                       unit_th=desk.unit_name(letter.unit), letter_day=_letter_day(letter, revealed))


def _letter_day(letter, revealed: dict | None) -> dt.date | None:
    """ลงวันที่ as a date (shown in Buddhist era); a revealed classified letter's from its
    decrypted facts."""
    if revealed and revealed.get("letter_date"):
        return _day(str(revealed["letter_date"]))
    return letter.letter_date


def letter_file(desk: Desk, request: Request, person: Person, form: FormData | None) -> Response:
    letter, data = load_letter(desk, person, request.path_params["letter_id"])
    position = request.path_params["position"]
    if data["sealed"]:  # decrypted only on request, with the audit entry first (secret register)
        raise NotFound()
    files = data["attachments"]
    if not 0 <= position < len(files):
        raise NotFound()
    item = files[position]
    if not desk.services.vault.has(item["sha256"]):  # received by another gateway on this database
        return desk.error(request, person, 409, word("file_elsewhere", person.lang),
                          not_on_this_gateway(letter.receive_no).for_person(person.lang))
    data = _stored(desk, request, person, item["sha256"])
    if isinstance(data, Response):
        return data
    return file_response(data, item.get("filename"), item.get("content_type") or "")


def _stored(desk: Desk, request: Request, person: Person, sha256: str) -> bytes | Response:
    """A file's bytes from the vault, or the page that says its stored copy is damaged."""
    try:
        return desk.services.vault.get(sha256)
    except VaultObjectDamaged:
        log.error("web_vault_object_damaged", sha256=sha256, username=person.username)
        return desk.error(request, person, 500, word("file_damaged", person.lang), word("file_damaged_text", person.lang))


def letter_stamped(desk: Desk, request: Request, person: Person, form: FormData | None) -> Response:
    """The copy with the receive stamp (ตรารับ) as the unit's folder got it."""
    letter, data = load_letter(desk, person, request.path_params["letter_id"])
    stamped = data.get("stamped")
    if data["sealed"] or not stamped or not desk.services.vault.has(stamped["sha256"]):
        raise NotFound()
    data = _stored(desk, request, person, stamped["sha256"])
    if isinstance(data, Response):
        return data
    return file_response(data, stamped.get("filename"), "application/pdf")


def content_disposition(kind: str, name: str) -> str:
    """`kind; filename=...; filename*=...` (RFC 6266): an ASCII stand-in for a browser
    that reads no more, the real name in RFC 8187 UTF-8 with every character but
    letters, digits and `-._~` percent-encoded (a bare `/` is not allowed there)."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(data: bytes, filename: str | None, content_type: str) -> Response:
    """A PDF opens in the browser's own viewer; anything else is only downloaded, as
    bytes, never rendered (a sender's HTML or SVG must not run on our origin)."""
    is_pdf = content_type == "application/pdf" and data.startswith(b"%PDF")
    return Response(data, media_type="application/pdf" if is_pdf else "application/octet-stream", headers={
        # never drawn reversed in a file manager, no folder in it (saved_name)
        "content-disposition": content_disposition("inline" if is_pdf else "attachment", saved_name(filename or "file")),
        "content-security-policy": "sandbox" if not is_pdf else "default-src 'none'; object-src 'self'",
    })


def _text(form: FormData, name: str, limit: int, lines: bool = False) -> str:
    """A field typed at the desk as the register keeps it: without control or format
    characters (an ESC or a bidi override, kept as typed until session 38, drew another
    clerk's register column reversed), one line unless `lines`, cut at `limit`."""
    text = str(form.get(name) or "")
    kept = clean_lines(text) if lines else (clean_field(text) or "")
    return kept.strip()[:limit]


def _opener(desk: Desk) -> Opener:
    from gateway.secrecy.keys import KeyStore

    return Opener(KeyStore.for_data_dir(desk.settings.data_dir))


def _seen(form: FormData) -> int:
    """The last note or assignment the page showed when it was drawn (its form's
    `seen`); 0 when the form does not say, so that every one there counts as new."""
    ids = form_ids([form.get("seen") or ""], 1)
    return ids[0] if ids else 0


def _cancelled(session, letter_id: int, lang: str) -> str | None:
    """Why the entry takes no assignment, when it is cancelled; read under its lock."""
    from storage.actions import actions_for

    current = store.letter_by_id(session, letter_id)
    if current is None or current.status != "cancelled":
        return None
    done = [a for a in actions_for(session, letter_id=letter_id) if a.action == "register_cancelled"]
    who, at = (done[-1].who, be_date(done[-1].at, lang, True)) if done else ("?", "?")
    return word("assign_cancelled", lang).format(receive_no=current.receive_no, who=who, at=at)


def letter_action(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    letter, data = load_letter(desk, person, request.path_params["letter_id"])
    what = request.path_params["action"]
    if what not in ("cancel", "assign", "note"):
        raise NotFound()
    lang = person.lang

    if what == "cancel":
        reason = clean_reason(str(form.get("reason") or "")) or ""  # as the record keeps it
        if not reason:
            return letter_view(desk, request, person, None, word("reason_required", lang), 400)
        from gateway.tools.register_show import cancel

        try:
            with acting_as(person.who):
                cancel(desk.services, letter.unit, letter.receive_no, reason, letter.book)
        except ToolError as exc:
            return letter_view(desk, request, person, None, exc.for_person(lang), 409)
        done = "cancelled"
    elif what == "assign":
        department = _text(form, "department", 300)
        if not department:
            return letter_view(desk, request, person, None, word("department_required", lang), 400)
        seen, stale = _seen(form), None
        with acting_as(person.who), desk.services.db.session() as session:
            store.lock_letter(session, letter.id)
            since = [a for a in store.assignments_of(session, letter.id) if a.id > seen]
            if (cancelled := _cancelled(session, letter.id, lang)) is not None:
                # A cancelled number is void: its letter is dealt with under another
                # number, or not at all. Until session 54 a page drawn before another
                # clerk cancelled it (or the entry's own page) passed it to a department
                # all the same, "saved", and the register showed the void entry assigned.
                stale = cancelled
            elif not since:
                store.assign(session, letter.id, person.who, department)
                record_action(session, "letter_assigned", queue_id=letter.queue_id, unit=letter.unit,
                              letter_id=letter.id, details={"receive_no": letter.receive_no,
                                                            "department": department})
            elif since[-1].department != department:
                # Passed to another department after this page was drawn: saving would
                # replace that clerk's decision unseen. The page is drawn again with it,
                # and with what this clerk typed, to be saved on purpose.
                last = since[-1]
                stale = word("assigned_meanwhile", lang).format(department=last.department, who=last.who,
                                                                  at=be_date(last.at, lang, True))
            # else the same assignment again (a double click, the back button and the
            # button once more): recorded once, not once per request
        if stale is not None:
            return letter_view(desk, request, person, None, stale, 409, typed={"department": department})
        done = "assigned"
    else:
        note = _text(form, "note", 4000, lines=True)
        if not note:
            return letter_view(desk, request, person, None, word("note_required", lang), 400)
        seen = _seen(form)
        # A note on a ลับ letter may quote it ("ส่งต่อ: แผนรักษาความปลอดภัย..."), and the
        # letter is kept only sealed: so is the note, to the same gateway key. Until the
        # red team of 7 Dec 2026 it was plain text in letter_notes.
        sealed = data["classified"] or data["sealed"]
        opener = _opener(desk) if sealed else None
        stored = seal_text(note, desk.settings.data_dir) if sealed else note
        with acting_as(person.who), desk.services.db.session() as session:
            store.lock_letter(session, letter.id)
            if not any(n.id > seen and n.who == person.who
                       and (opener.open(n.text) if opener is not None and is_sealed(n.text) else n.text) == note
                       for n in store.notes_of(session, letter.id)):
                # (not when the same person's same note came since the page was drawn: a
                # double click or a form sent again is kept once)
                row = store.add_note(session, letter.id, person.who, stored)
                # The note's text stays in the database: it may quote a classified letter.
                record_action(session, "letter_note_added", queue_id=letter.queue_id, unit=letter.unit,
                              letter_id=letter.id, details={"receive_no": letter.receive_no, "note_id": row.id})
        done = "noted"
    return RedirectResponse(f"/letters/{letter.id}?done={done}", status_code=303)


def routes(desk: Desk) -> list[Route]:
    return [
        Route("/register", page(desk, register_view), methods=["GET"]),
        Route("/letters/{letter_id:id}", page(desk, letter_view), methods=["GET"]),
        Route("/letters/{letter_id:id}/files/{position:id}", page(desk, letter_file), methods=["GET"]),
        Route("/letters/{letter_id:id}/stamped", page(desk, letter_stamped), methods=["GET"]),
        Route("/letters/{letter_id:id}/{action:str}", page(desk, letter_action, act=True), methods=["POST"]),
    ]


__all__ = ["routes", "Forbidden"]
