"""The secret register (ทะเบียนหนังสือรับลับ): only the unit's secret registrar
(นายทะเบียนลับ) and the auditors see it. It lists numbers and dates; a letter's subject,
sender's text and files are decrypted only when the person asks, after confirming, and
the hash-chained audit trail gets its entry (fsync'ed) before the decryption, exactly
as `saraban-gateway letter view` does (gateway/secrecy/sealed_store.py)."""
from __future__ import annotations

import datetime as dt
import itertools

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rules.extract import subject_text
from rules.thai_text import clean_field
from gateway.secrecy.audit import ReadBack, audit_path, events_backwards
from gateway.secrecy.errors import SecrecyError, TamperedError
from gateway.secrecy.sealed_store import SealedStore
from gateway.secrecy.sealed_text import Opener, is_sealed
from gateway.tools.common import not_on_this_gateway
from gateway.web.desk import Desk, NotFound, page
from gateway.web.auth import Person
from gateway.web.i18n import word
from gateway.web.pages_letters import file_response, letter_view, load_letter, register_view

SECRET_ROLES = ("registrar", "auditor")
log = structlog.get_logger("gateway.web")


def secret_register(desk: Desk, request: Request, person: Person, form: FormData | None) -> Response:
    return register_view(desk, request, person, form, book=desk.secret_book)


def _audit(letter, person: Person) -> dict:
    return {"who": person.who, "letter_id": f"{letter.queue_id}:{letter.unit}",
            "receive_no": letter.receive_no, "book": letter.book}


def _not_opened(desk: Desk, request: Request, person: Person, letter, exc: SecrecyError) -> Response:
    """The letter could not be decrypted (a key file others can read, a damaged key, a
    changed blob): a fixed sentence for the person; the exception, which names server
    paths or the cryptography library's text, goes to the log for the administrator."""
    key = "tampered" if isinstance(exc, TamperedError) else "cannot_decrypt"
    log.error("web_reveal_failed", username=person.username, letter_id=letter.id, why=key,
              error=f"{type(exc).__name__}: {exc}")
    return letter_view(desk, request, person, None, word(key, person.lang), 409)


def reveal(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    letter, data = load_letter(desk, person, request.path_params["letter_id"])
    if not data["sealed"]:
        raise NotFound()
    if form.get("confirm") != "yes":
        return letter_view(desk, request, person, None, word("reveal_confirm", person.lang), 400)
    store = SealedStore(desk.settings.data_dir)
    if not store.has(letter.queue_id, "meta"):  # sealed by another gateway on this database
        return letter_view(desk, request, person, None,
                           not_on_this_gateway(letter.receive_no).for_person(person.lang), 409)
    try:
        meta = store.open_json(letter.queue_id, "meta", action="view", **_audit(letter, person))
    except SecrecyError as exc:
        return _not_opened(desk, request, person, letter, exc)
    try:
        # Under the same audit entry: the notes and reasons people typed on it are the
        # letter's words as much as its subject is (gateway/secrecy/sealed_text.py).
        notes, reasons = _typed_texts(desk, store, letter.id)
    except SecrecyError as exc:
        return _not_opened(desk, request, person, letter, exc)
    facts = meta.get("facts") or {}
    # The sealed copy keeps the Subject header and the sender's name as they came: shown
    # as the register shows an ordinary letter's (subject_text, clean_field), not with a right-to-left
    # override or zero-width characters that draw them in another order (until session 19).
    revealed = {"subject": subject_text(meta.get("subject")), "sender_name": clean_field(meta.get("sender_name")),
                "reference": clean_field(facts.get("reference")), "letter_date": facts.get("letter_date"),
                "findings": [f for f in meta.get("findings") or [] if f.get("verdict") != "pass"],
                "attachments": meta.get("attachments") or [], "notes": notes, "reasons": reasons}
    return letter_view(desk, request, person, None, revealed=revealed)


def _typed_texts(desk: Desk, store: SealedStore, letter_id: int) -> tuple[dict[int, str], dict[int, str]]:
    """The letter's sealed notes (by note id) and sealed action reasons (by action id),
    opened; the caller has written the audit entry."""
    from storage.actions import actions_for
    from storage.desk import notes_of

    opener = Opener(store.keystore)
    with desk.services.db.read_session() as session:
        notes = {n.id: opener.open(n.text) for n in notes_of(session, letter_id) if is_sealed(n.text)}
        reasons = {a.id: opener.open(a.reason) for a in actions_for(session, letter_id=letter_id)
                   if is_sealed(a.reason)}
    return notes, reasons


def reveal_file(desk: Desk, request: Request, person: Person, form: FormData) -> Response:
    letter, data = load_letter(desk, person, request.path_params["letter_id"])
    position = request.path_params["position"]
    if not data["sealed"] or form.get("confirm") != "yes":
        raise NotFound()
    store = SealedStore(desk.settings.data_dir)
    name = f"att-{position}"
    if not 0 <= position < 1000 or not store.has(letter.queue_id, name):
        raise NotFound()
    try:
        blob = store.open(letter.queue_id, [name], action="view_file", **_audit(letter, person))[name]
    except SecrecyError as exc:
        return _not_opened(desk, request, person, letter, exc)
    # The file's own name may be classified text: it goes neither into the URL nor the
    # download name. Its extension is the bytes' (until session 35 always .pdf, and a
    # Word enclosure opened in the PDF reader as a "damaged file").
    return file_response(blob, f"{letter.number}-{letter.year}-{position + 1}{extension_of(blob)}", "application/pdf")


# The types a download may be named as; anything else is .bin, so that no name makes a
# file manager open the bytes with a program they were not (HTML in a browser, a script).
EXTENSIONS = {
    "application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
    "image/tiff": ".tif", "image/bmp": ".bmp", "image/webp": ".webp", "text/plain": ".txt", "text/csv": ".csv",
    "application/msword": ".doc", "application/vnd.ms-excel": ".xls", "application/vnd.ms-powerpoint": ".ppt",
    "application/rtf": ".rtf", "text/rtf": ".rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.oasis.opendocument.text": ".odt", "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/vnd.oasis.opendocument.presentation": ".odp", "application/zip": ".zip",
}
# libmagic calls an Office file "application/zip" unless [Content_Types].xml comes
# first in the archive, which not every program that writes one puts there.
_OFFICE_PARTS = (("word/document.xml", ".docx"), ("xl/workbook.xml", ".xlsx"),
                 ("ppt/presentation.xml", ".pptx"))


def extension_of(data: bytes) -> str:
    """The extension of the file these bytes are, from their content only."""
    import io
    import zipfile

    from gateway.pipeline.parse import sniff

    if data.startswith(b"%PDF"):
        return ".pdf"
    kind = sniff(data)
    extension = EXTENSIONS.get(kind, ".bin")
    if extension == ".zip":
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())  # the directory only, nothing unpacked
        except (zipfile.BadZipFile, ValueError, OSError):
            return ".zip"
        return next((ext for part, ext in _OFFICE_PARTS if part in names), ".zip")
    return extension


AUDIT_SHOWN = 500  # entries a page of the trail shows; older ones on the next page


def audit_trail(desk: Desk, request: Request, person: Person, form: FormData | None) -> Response:
    """The decryptions of the letters this person may see (auditors: all), newest first,
    a page at a time (`?before=SEQ`: the entries older than that one). The person's are
    kept while the log is read from its end: until session 43 the newest 2,000 entries
    of the whole log were read and then the person's kept, and in a city-wide deployment
    other units' seal_for_registrar entries pushed a district's own openings off its trail."""
    before = _seq(request.query_params.get("before"))
    told = ReadBack()
    found = events_backwards(audit_path(desk.settings.data_dir), told=told)
    shown: list[dict] = []
    older = False
    while not older:
        read = list(itertools.islice(found, 1000))
        if not read:
            break
        batch = [e for e in read if before is None or (_seq(e.get("seq")) or 0) < before]
        held_units = _held_units(desk, batch)
        for event in batch:
            letter_id = str(event.get("letter_id") or "")
            # A held letter's decryption (release_held) names its quarantine entry, not
            # "queue id:unit": until session 35 its unit was read as none, and the registrar
            # who released it did not find it on their own trail.
            unit = held_units.get(letter_id) or letter_id.partition(":")[2]
            if person.role == "auditor" or (unit and person.sees_book(unit, desk.secret_book, desk.secret_book)):
                if len(shown) == AUDIT_SHOWN:
                    older = True  # one more of theirs: the next page has it
                    break
                shown.append(event)
    for event in shown:  # the time as every other page shows one (Buddhist era, Bangkok)
        try:
            event["when_dt"] = dt.datetime.fromisoformat(str(event.get("when") or ""))
        except ValueError:
            event["when_dt"] = None
    next_before = _seq(shown[-1].get("seq")) if older and shown else None
    return desk.render(request, person, "audit.html", events=shown, next_before=next_before,
                       not_searched=told.stopped_short and not older)


def _seq(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _held_units(desk: Desk, events: list[dict]) -> dict[str, str]:
    """"quarantine N" -> the unit of held entry N, for the events that name one."""
    from storage.quarantine import units_of_entries

    ids = set()
    for event in events:
        kind, _, number = str(event.get("letter_id") or "").partition(" ")
        if kind == "quarantine" and number.isdigit():
            ids.add(int(number))
    if not ids:
        return {}
    with desk.services.db.read_session() as session:
        units = units_of_entries(session, ids)
    return {f"quarantine {entry_id}": unit for entry_id, unit in units.items()}


def routes(desk: Desk) -> list[Route]:
    desk.pages.add("secret_register")
    return [
        Route("/secret", page(desk, secret_register, roles=SECRET_ROLES), methods=["GET"]),
        Route("/secret/audit", page(desk, audit_trail, roles=SECRET_ROLES), methods=["GET"]),
        Route("/letters/{letter_id:id}/reveal", page(desk, reveal, roles=SECRET_ROLES), methods=["POST"]),
        Route("/letters/{letter_id:id}/files/{position:id}/reveal", page(desk, reveal_file, roles=SECRET_ROLES),
              methods=["POST"]),
    ]
