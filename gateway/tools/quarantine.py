"""`saraban-gateway quarantine list|show|release|reject`: the letters the gateway would
not register (กักกัน, held), for a person at the central unit to decide.

Release is an operator override: the letter is entered in the register anyway, with
the next receive number and the findings that held it, flagged for review, and filed
into the unit's folder like any other. Reject closes the entry. Both record who and why.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import json
import sys
from typing import Any

import structlog

from gateway.sender.results import SenderAuth, sender_detail
from gateway.service.services import Services
from gateway.tools.actions import action_as_dict, checked_reason, reason_refusal, record_action
from gateway.service.numbering import HELD_FOR_TOOLS, HELD_FOR_TOOLS_EN, HELD_FOR_TOOLS_TH, held_after_restore
from gateway.tools.common import ToolError, friendly, listed_unit, not_on_this_gateway, open_services
from gateway.spool import SpoolEntry
from gateway.units.directory import POSTMASTER
from gateway.tools.replay import entry_from_vault, entry_of
from rules.names import shortened, shown_name
from rules.extract import subject_text
from rules.thai_time import thai_datetime, to_bangkok
from storage import quarantine
from storage.actions import actions_for
from storage.db import DatabaseError
from storage.messages import get_message, set_outcome
from storage.models import Letter, QuarantineEntry
from storage.register import find_registration

log = structlog.get_logger("gateway.tools.quarantine")


def list_entries(services: Services, state: str | None = "held", unit: str | None = None) -> list[dict[str, Any]]:
    with services.db.read_session() as session:
        entries = [entry_as_dict(e) for e in quarantine.list_entries(session, state, unit)]
    for data in entries:
        data["sealed"] = is_sealed(services, data)
    return entries


def page_of_entries(services: Services, state: str, units: set[str] | None, page: int,
                    per_page: int) -> tuple[list[dict[str, Any]], int]:
    """The desk's list: one page of entries (newest first) of these units, and how many
    there are; the files of that page's entries alone are looked for on disk."""
    with services.db.read_session() as session:
        rows, total = quarantine.page_of_entries(session, state, units, page, per_page)
        entries = [entry_as_dict(e) for e in rows]
    for data in entries:
        data["sealed"] = is_sealed(services, data)
    return entries, total


def entry_as_dict(entry: QuarantineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "queue_id": entry.queue_id,
        "unit": entry.unit,
        "state": entry.state,
        "held_at": to_bangkok(entry.created_at).isoformat(timespec="seconds"),
        "sender": entry.sender,
        # As the register keeps a subject (subject_text): the held one is the Subject header
        # as sent, and a right-to-left override or a zero-width character in it drew the
        # desk's list and `quarantine show` in another order than it is, marks piled on
        # one letter over the rows around it.
        "subject": subject_text(entry.subject),
        "reasons": entry.reasons or [],
        "raw_sha256": entry.raw_sha256,
    }


def is_sealed(services: Services, data: dict[str, Any]) -> bool:
    """A classified letter's entry: its copy is the sealed blob (gateway/pipeline/
    classified.py), never in the plain vault; only the unit's secret registrar may
    decide on it at the desk (gateway/web/pages_quarantine.py)."""
    from gateway.secrecy.errors import SecrecyError
    from gateway.secrecy.sealed_store import SealedStore

    raw = data.get("raw_sha256")
    if raw and services.vault.has(raw):
        return False
    try:
        return SealedStore(services.settings.data_dir).has(data["queue_id"], "raw")
    except SecrecyError:  # not a queue id the sealed store names: nothing of it is sealed
        return False


def show_entry(services: Services, quarantine_id: int, contents: bool = True) -> dict[str, Any]:
    """The entry as `quarantine show` and the desk show it; without `contents` (its files
    and text, read from the held message) for a decision or one file's download."""
    with services.db.read_session() as session:
        entry = _get(session, quarantine_id)
        data = entry_as_dict(entry)
        message = get_message(session, entry.queue_id)
        if message is not None:
            data["received_at"] = to_bangkok(message.received_at).isoformat(timespec="seconds")
            data["mail_from"] = message.mail_from
            data["recipients"] = message.recipients
            data["size"] = message.size
            data["sender_auth"] = message.sender_auth
            data["sender_verified"] = sender_detail(message.sender_auth)
        letter = find_registration(session, entry.queue_id, entry.unit) if entry.unit else None
        data["receive_no"] = letter.receive_no if letter else None
        data["book"] = letter.book if letter else None  # a sealed entry's letter is in the secret book
        data["actions"] = [action_as_dict(a) for a in actions_for(session, quarantine_id=entry.id)]
    if contents:
        data["files"], data["text"], data["text_cut"], data["text_unread"] = _contents(services, entry.raw_sha256)
    data["sealed"] = is_sealed(services, data)
    # Neither in the vault nor sealed here: another gateway on the same database holds
    # it. Its files and text are unknown here, not "none".
    data["elsewhere"] = bool(entry.raw_sha256) and not data["sealed"] and not services.vault.has(entry.raw_sha256)
    return data


# Files `quarantine show` lists: a letter of 3,000 files listed 3,000 lines (session 44).
FILES_LISTED = 200
TEXT_SHOWN = 20_000  # characters of the mail's text shown; a letter's body is far shorter
# Seconds of its thread's CPU the e-mail's text may take to read for one view. Its HTML is
# read as a browser shows it (~0.8 s a MB of tables and styles) at every view of the
# entry, on the desk in the daemon's own process: a 30 MB body, under the pipeline's
# `read_budget`, took ~25 s a view, the SMTP intake slowed meanwhile (session 56).
TEXT_READ_SECONDS = 3.0


def _contents(services: Services, raw_sha256: str | None) -> tuple[list[dict[str, Any]], str, bool, bool]:
    """The held message as a person deciding on it must see it: its files, and its text
    (a letter typed into the mail itself is held as "no letter found", and the clerk
    decides on what it says), whether that text was cut at TEXT_SHOWN, and whether it
    was left unread (longer to read than TEXT_READ_SECONDS)."""
    from gateway.pipeline.parse import filename_of  # the MIME parser's modules: not for `list`

    if not raw_sha256 or not services.vault.has(raw_sha256):
        return [], "", False, False
    try:
        msg = held_message(services.vault.get(raw_sha256))
        files = [
            {"filename": filename_of(part), "content_type": part.get_content_type(),
             "size": len(part.get_payload(decode=True) or b"")}
            for part in held_files(msg)
        ]
    except Exception:  # a message that held because it cannot be parsed
        return [], "", False, False
    text = _mail_text(msg)
    if text is None:
        return files, "", False, True
    return files, text[:TEXT_SHOWN], len(text) > TEXT_SHOWN, False


class _HeldPart(email.message.EmailMessage):
    """A part of a held message read with the compat32 policy: its headers stay strings.
    The default policy parses every header it is asked for into an object, and a letter
    of 450 files each named with 2,000 Thai letters took 17.7 s of CPU to list (session
    43) on each view of its entry and each download of one of its files."""

    def is_attachment(self) -> bool:  # the default policy's, on a string header
        return self.get_content_disposition() == "attachment"


def held_message(raw: bytes) -> email.message.EmailMessage:
    """The held message, parsed cheaply, with `iter_attachments` and `get_body` as the
    default policy's message has them (the same files, in the same order)."""
    return email.message_from_bytes(raw, _class=_HeldPart, policy=email.policy.compat32)


def held_files(msg: email.message.EmailMessage) -> list[email.message.Message]:
    """The files of a held message, as the entry page numbers them for their download."""
    return list(msg.iter_attachments())


def _body_content(body) -> str:  # noqa: ANN001 - a _HeldPart
    """A text part's content as the default policy's get_content reads it (compat32 has
    no content manager): its bytes in its charset, what does not decode replaced."""
    data = body.get_payload(decode=True) or b""
    try:
        return data.decode(body.get_content_charset() or "ascii", "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", "replace")


def _mail_text(msg) -> str | None:  # noqa: ANN001 - an email.message.EmailMessage
    """What a mail client shows of the message's body: its plain text, or else what a
    browser shows of its HTML (rules.markings.html_to_text, hidden text left out), as
    `quarantine show` may print it to a terminal (rules.thai_text.clean_lines); "" when
    it has none or it cannot be read; None when reading it took past TEXT_READ_SECONDS."""
    import time

    from gateway.pipeline.reading_time import ReadingClock
    from rules.markings import html_to_text
    from rules.model import ReadingOverdue
    from rules.thai_text import clean_lines

    try:
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        content = _body_content(body)
        if body.get_content_type() == "text/html":
            with ReadingClock(TEXT_READ_SECONDS, time.thread_time).running():
                content = html_to_text(content, shown=True)
    except ReadingOverdue:
        return None
    except Exception:  # noqa: BLE001 - a body that cannot be read shows as none
        return ""
    return clean_lines(content)


def release(services: Services, quarantine_id: int, reason: str | None, *,
            open_sealed_as: str | None = None) -> Letter:
    """Register a held letter anyway (an operator override); return its register entry.

    The letter goes through the pipeline's own chain (gateway/pipeline/dispose.py) with
    the operator's override in place of the unit's policy: a classified letter is
    registered in the secret book and sealed to its registrar like any other, the
    rejection notice still waiting is withdrawn and the acknowledgement queued, all in
    one transaction (so exactly once, also after a crash).

    A held classified letter is kept sealed (no plaintext in the vault): `open_sealed_as`
    names the unit's secret registrar who releases it at the desk (the only person who
    may: gateway/web/pages_quarantine.py `may_decide`); its bytes are decrypted in memory
    for the check, with an entry in the secrecy audit log. Until session 20 such a letter
    could only be rejected, its sender told to send it again."""
    # The pipeline's check and disposition, loaded by a release only: `quarantine list`
    # and `show` are most of what is run, and they cost ~0.25 s of CPU more each.
    from gateway.pipeline.check import check_entry, with_sender_verdict
    from gateway.pipeline.dispose import recipient_for

    reason = checked_reason(reason, required=False)
    with services.db.session() as session:
        entry = _get(session, quarantine_id)
        _must_be_held(session, entry)
        if entry.unit == POSTMASTER:
            raise ToolError(f"quarantine entry {quarantine_id} is mail to postmaster, not a letter: it has no "
                            "unit to be registered for. Read it, then close it with "
                            f"`saraban-gateway quarantine reject {quarantine_id} --reason ...`",
                            # The desk's own button, ปฏิเสธ / Reject: until session 56 the
                            # Thai sentence named a button "ไม่รับ" that no page has, and the
                            # English page the command above.
                            th="รายการนี้เป็นอีเมลถึง postmaster ไม่ใช่หนังสือราชการ รับเข้าทะเบียนไม่ได้ "
                               "อ่านแล้วกรุณากด \"ปฏิเสธ\" เพื่อปิดรายการ",
                            en="This is mail to postmaster, not an official letter: it cannot be registered. "
                               "Once read, press \"Reject\" to close it.")
        if is_parked(entry.reasons):
            # Nothing was checked: registering it unread would skip the marking and
            # signature checks. It goes through the pipeline again instead.
            raise ToolError(f"quarantine entry {quarantine_id} is a letter the gateway could not process "
                            f"(parked); run it again with `saraban-gateway reprocess {entry.queue_id}`",
                            th="รายการนี้เป็นหนังสือที่ระบบตรวจไม่สำเร็จ (พักไว้) รับเข้าทะเบียนโดยไม่ตรวจไม่ได้ "
                               "กรุณากด \"ตรวจซ้ำ\"",
                            en="This is a letter the gateway could not process (parked): it cannot be registered "
                               "unchecked. Press \"Reprocess\" to have it checked again.")
        message = get_message(session, entry.queue_id)
        if message is None:
            raise ToolError(f"quarantine entry {quarantine_id}: its message {entry.queue_id} is not recorded")
        raw_sha = _plain_raw(services, message, entry, sealed_ok=open_sealed_as is not None)
        spool_entry = (entry_from_vault(services, message, raw_sha) if raw_sha is not None
                       else _sealed_entry(services, message, quarantine_id, open_sealed_as or ""))
        found_auth = SenderAuth.from_dict(message.sender_auth)  # ยืนยันผู้ส่ง as it was found
        if services.directory.lookup(entry.unit or "") is None:
            raise ToolError(f"unit \"{entry.unit}\" is not in the unit directory; add it "
                            "(units import) before releasing letters to it",
                            th=f"หน่วยงาน {entry.unit} ไม่อยู่ในทำเนียบหน่วยงาน กรุณาแจ้งผู้ดูแลระบบให้เพิ่มก่อน",
                            en=f"The unit {entry.unit} is not in the unit directory: ask the administrator to add "
                               "it first.")
    checked = check_entry(services, spool_entry)  # outside the transaction: parsing takes time
    if found_auth is not None:  # a released forgery stays "ไม่ผ่าน" and gets no notice
        with_sender_verdict(checked, found_auth, services.settings.sender)
    recipient = recipient_for(services, spool_entry, checked, entry.unit or "", released_by_operator=True)
    try:
        return _register_released(services, quarantine_id, reason, recipient, checked, sealed=raw_sha is None)
    except DatabaseError:
        # A release that ran alongside (without the row lock, e.g. an older desk) took
        # the entry first: uq_letter_per_unit refused the second letter. Its answer is
        # the outcome, not the database's error.
        with services.db.session() as session:
            _must_be_held(session, _get(session, quarantine_id))
        raise


def _register_released(services: Services, quarantine_id: int, reason: str | None, recipient, checked,
                       sealed: bool = False) -> Letter:
    from gateway.pipeline.dispose import decide, register_letter_for, what_is_known

    if held_after_restore(services.settings):  # no number given blind (gateway/service/numbering.py)
        raise ToolError(HELD_FOR_TOOLS, th=HELD_FOR_TOOLS_TH, en=HELD_FOR_TOOLS_EN)
    with services.db.session() as session:
        # Locked until the commit: a reject or another release of this entry waits,
        # then finds it released (_must_be_held) instead of deciding it a second time.
        entry = _get(session, quarantine_id, lock=True)
        _must_be_held(session, entry)
        disposition = decide(services, recipient,
                             what_is_known(session, recipient, services.settings.register_.secret_book,
                                           services.settings.register_.general_book))
        if disposition.action != "register":
            raise _refusal(quarantine_id, disposition, checked)
        letter = register_letter_for(services, session, recipient, disposition)
        entry.state = "released"
        set_outcome(get_message(session, entry.queue_id), recipient.unit_name,
                    f"registered {letter.receive_no} (released)")
        record_action(session, "quarantine_released", reason=reason, queue_id=entry.queue_id,
                      unit=recipient.unit_name, letter_id=letter.id, quarantine_id=entry.id,
                      details={"receive_no": letter.receive_no, "book": letter.book,
                               "held_for": [r.get("rule") for r in entry.reasons or []]},
                      sealed_in=services.settings.data_dir if sealed or letter.secrecy not in ("none", None) else None)
        return letter


def is_parked(reasons: list[dict[str, Any]] | None) -> bool:
    """Held because the pipeline kept failing on it (gateway/pipeline/runner.py), not
    because of what it is."""
    return any(r.get("rule") == "parked" for r in reasons or [])


def _plain_raw(services: Services, message, entry: QuarantineEntry, sealed_ok: bool = False) -> str | None:
    """The raw copy to check again: a classified letter's entry names its sealed blob,
    whose plaintext never went to the vault; the spool's bytes are kept under the
    message's own hash only for ordinary letters. None: sealed, and `sealed_ok`."""
    if entry.raw_sha256 and services.vault.has(entry.raw_sha256):
        return entry.raw_sha256
    if services.vault.has(message.sha256):
        return message.sha256
    if not is_sealed(services, {"raw_sha256": None, "queue_id": message.queue_id}):
        raise not_on_this_gateway(f"quarantine entry {entry.id}")
    if sealed_ok:
        return None
    raise kept_sealed(f"quarantine entry {entry.id}", "released")


def kept_sealed(what: str, done: str) -> ToolError:
    """What the command line says of a held classified letter: only its unit's secret
    registrar decides on it, at the desk. Not "restore a backup": its copy is there,
    sealed (`reprocess` said so until session 43's red team)."""
    return ToolError(f"{what} is a classified letter kept sealed; it cannot be {done} from the command "
                     "line. Ask the unit's secret registrar (letter view --who)",
                     th="รายการนี้เป็นหนังสือลับที่ปิดผนึกไว้ กรุณาให้นายทะเบียนลับของหน่วยงานเป็นผู้ดำเนินการ")


def _sealed_entry(services: Services, message, quarantine_id: int, who: str) -> SpoolEntry:
    """The held classified letter as it arrived, decrypted in memory for its registrar
    (`arrival`: the bytes as received when they differ from `raw`, an S/MIME letter
    encrypted to the gateway). Nothing of it is written in plain."""
    from gateway.pipeline.classified import store_for
    from gateway.secrecy.errors import SecrecyError

    store = store_for(services)
    try:
        name = "arrival" if store.has(message.queue_id, "arrival") else "raw"
        raw = store.open(message.queue_id, [name], who=who, action="release_held",
                         letter_id=f"quarantine {quarantine_id}")[name]
    except SecrecyError as exc:
        # The cause (a key file others can read, a damaged key, a changed blob) names the
        # server's paths and key fingerprints: the operator's command line and the log
        # have it, a person at the desk a sentence. Until session 56 the desk's English
        # page showed it whole (`.../keys/gateway/<fingerprint>/key.pem can be read by
        # other users ... run chmod 600`), and the Thai page's "tell the administrator"
        # left the administrator nothing in the log to go on.
        log.error("quarantine_sealed_copy_unreadable", quarantine_id=quarantine_id, who=who,
                  error=f"{type(exc).__name__}: {exc}"[:500])
        raise ToolError(f"quarantine entry {quarantine_id}: its sealed copy cannot be opened ({exc})",
                        th="เปิดสำเนาที่ปิดผนึกของหนังสือลับฉบับนี้ไม่ได้ในขณะนี้ ได้บันทึกเหตุไว้ให้ผู้ดูแลระบบแล้ว "
                           "กรุณาแจ้งผู้ดูแลระบบ",
                        en="The sealed copy of this classified letter cannot be opened now; the cause is in "
                           "the log for the administrator.") from None
    return entry_of(message, raw)


# The reading's own bounds (gateway/pipeline/check.py): its time, its header lines, its
# parts and lines (mime_parse says which, or that the parser gave up).
_READING_LIMITS = ("reading_time", "header_size", "mime_parse")


def _refusal(quarantine_id: int, disposition, checked) -> ToolError:
    if disposition.action == "duplicate":
        return ToolError(f"this letter is already registered as {disposition.receive_no} (the same letter, "
                         "sent again); reject this entry instead",
                         th=f"หนังสือฉบับนี้ลงทะเบียนแล้ว เลขรับ {disposition.receive_no} (ผู้ส่งส่งฉบับเดิมซ้ำ) "
                            "กรุณาปฏิเสธรายการนี้แทน")
    if disposition.action == "registered":
        return ToolError(f"quarantine entry {quarantine_id} is already registered as {disposition.receive_no}",
                         th=f"รายการนี้ลงทะเบียนแล้ว เลขรับ {disposition.receive_no}")
    # Read again, the letter still ran past what the gateway reads (its time, its header
    # lines, its parts): the finding's own words, not "damaged or encrypted".
    limit = next((f for f in getattr(checked, "findings", None) or ()
                  if f.verdict == "fail" and f.rule in _READING_LIMITS), None)
    if limit is not None:
        return ToolError(f"quarantine entry {quarantine_id} cannot be released: {limit.message_en}; "
                         "reject it and ask the sender to resend",
                         th=f"รายการนี้รับเข้าทะเบียนไม่ได้: {limit.message_th} กรุณาปฏิเสธและขอให้ผู้ส่งส่งใหม่")
    if disposition.rule == "unreadable":
        return ToolError(f"quarantine entry {quarantine_id}: the message cannot be read as e-mail "
                         f"({checked.parse_error or 'encrypted to a key the gateway does not hold'}); it cannot be "
                         "filed. Reject it and ask the sender to resend",
                         th="อ่านจดหมายฉบับนี้ไม่ได้ (รูปแบบเสียหายหรือเข้ารหัสด้วยกุญแจที่ระบบไม่มี) จึงลงทะเบียนไม่ได้ "
                            "กรุณาปฏิเสธและขอให้ผู้ส่งส่งใหม่",
                         # The desk's: the parser's words (an exception's name and place) are
                         # the operator's, in the command's sentence and the log.
                         en="the message cannot be read as e-mail (damaged, or encrypted to a key the gateway "
                            "does not hold), so it cannot be registered: reject it and ask the sender to resend")
    if disposition.rule == "top_secret":
        return ToolError(f"quarantine entry {quarantine_id} is marked ลับที่สุด (top secret): such letters may "
                         "only travel on paper and cannot be registered from e-mail; reject it",
                         th="หนังสือนี้มีชั้นความลับ ลับที่สุด ต้องส่งเป็นกระดาษเท่านั้น ลงทะเบียนจากอีเมลไม่ได้ "
                            "กรุณาปฏิเสธ")
    return ToolError(f"quarantine entry {quarantine_id} cannot be released ({disposition.rule})",
                     th="รายการนี้รับเข้าทะเบียนไม่ได้ตามเงื่อนไขของหน่วยงาน")


def reject(services: Services, quarantine_id: int, reason: str | None) -> QuarantineEntry:
    """Close a held entry without a number. A reason is required: the record is what
    the central unit answers from when the sender's unit asks why (session 37)."""
    reason = checked_reason(reason, required=True)
    with services.db.session() as session:
        entry = _get(session, quarantine_id, lock=True)  # see _register_released
        _must_be_held(session, entry)
        entry.state = "rejected"
        sealed = is_sealed(services, entry_as_dict(entry))  # a classified letter's: its reason too
        record_action(session, "quarantine_rejected", reason=reason, queue_id=entry.queue_id,
                      unit=entry.unit, quarantine_id=entry.id,
                      details={"held_for": [r.get("rule") for r in entry.reasons or []]},
                      sealed_in=services.settings.data_dir if sealed else None)
        return entry


def _get(session, quarantine_id: int, lock: bool = False) -> QuarantineEntry:
    entry = quarantine.get_entry(session, quarantine_id, lock=lock)
    if entry is None:
        # At the desk this is a race (another clerk's ตรวจซ้ำ took the entry between the
        # page and the action): the English page said the command line's sentence.
        raise ToolError(f"no quarantine entry {quarantine_id} (see `saraban-gateway quarantine list --all`)",
                        th="ไม่มีรายการนี้", en="There is no such entry any more: another person may have just dealt with it.")
    return entry


def still_held(session, quarantine_id: int) -> QuarantineEntry:
    """The entry, its row locked until the commit, when it is still held; otherwise the
    refusal a release or a reject of it gets ("already rejected by ..."). The desk's
    ตรวจซ้ำ asks this in the transaction that reopens a parked letter: until session 52
    it reran a parked letter another clerk had just rejected, and told its clerk the
    letter would be registered."""
    entry = _get(session, quarantine_id, lock=True)
    _must_be_held(session, entry)
    return entry


def _must_be_held(session, entry: QuarantineEntry) -> None:
    if entry.state == "held":
        return
    done = [a for a in actions_for(session, quarantine_id=entry.id)]
    last = f" by {done[-1].who} at {to_bangkok(done[-1].at):%Y-%m-%d %H:%M}" if done else ""
    # A second clerk, or the back button after a release, meets this at the desk.
    last_th = f" โดย {done[-1].who} เมื่อ {thai_datetime(done[-1].at)}" if done else ""
    if entry.state == "released":
        letter = find_registration(session, entry.queue_id, entry.unit) if entry.unit else None
        number = f" as {letter.receive_no}" if letter else ""
        number_th = f" เลขรับ {letter.receive_no}" if letter else ""
        raise ToolError(f"quarantine entry {entry.id} was already released{number}{last}",
                        th=f"รายการนี้รับเข้าทะเบียนไปแล้ว{number_th}{last_th} ไม่ต้องทำซ้ำ")
    if entry.state == "rejected":
        raise ToolError(f"quarantine entry {entry.id} is {entry.state}{last}; nothing to do",
                        th=f"รายการนี้ปฏิเสธไปแล้ว{last_th} ไม่ต้องทำซ้ำ")
    raise ToolError(f"quarantine entry {entry.id} is {entry.state}{last}; nothing to do",
                    th=f"รายการนี้ไม่ได้กักไว้แล้ว{last_th} ไม่ต้องทำซ้ำ")


# --- command line ---------------------------------------------------------------

def _reason_lines(reasons: list[dict[str, Any]], indent: str = "  ") -> list[str]:
    lines = []
    for r in reasons:
        where = f" [{r['attachment']}]" if r.get("attachment") else ""
        lines.append(f"{indent}{r.get('rule')}{where}: {r.get('message_th', '')}")
        lines.append(f"{indent}{' ' * len(str(r.get('rule')))}  {r.get('message_en', '')}")
    return lines



REASONS_COLUMN = 90  # columns of `quarantine list`'s reasons


def _reasons_in_words(reasons: list[dict], most: int = REASONS_COLUMN) -> str:
    """The first reason as the sender is told it (Thai), the rest counted: a rule code
    such as "real_type" tells the clerk nothing. The first is shortened so that the
    count fits in `most` (it was clipped off after a long first reason)."""
    if not reasons:
        return ""
    first = reasons[0].get("message_th") or reasons[0].get("message_en") or reasons[0].get("rule", "?")
    more = quarantine.reason_count(reasons) - 1  # those the entry did not keep too
    counted = f" (และอีก {more:,} เหตุ)" if more > 0 else ""
    return shortened(first, most - len(counted)) + counted


@friendly
def cmd_list(args: argparse.Namespace) -> int:
    from gateway.cli.table import render

    with open_services(args, writes=False) as services:
        unit = listed_unit(services.directory, args.unit, lambda name: bool(list_entries(services, None, name)))
        entries = list_entries(services, None if args.all else args.state, unit)
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return 0
    rows = [[str(e["id"]), e["state"], thai_datetime(e["held_at"]), e["unit"] or "",
             e["sender"], e["subject"] or "", _reasons_in_words(e["reasons"])]
            for e in entries]
    print(render(["id", "state", "กักไว้เมื่อ (held)", "unit", "sender", "subject", "เหตุ (reasons)"], rows,
                 limits={4: 32, 5: 40, 6: REASONS_COLUMN}))
    print(f"\n{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


@friendly
def cmd_show(args: argparse.Namespace) -> int:
    with open_services(args, writes=False) as services:
        data = show_entry(services, args.id)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    out = [
        f"quarantine entry {data['id']}  ({data['state']}{', ' + data['receive_no'] if data['receive_no'] else ''})",
        f"  queue id   {data['queue_id']}",
        f"  unit       {data['unit']}",
        f"  received   {thai_datetime(data['received_at']) if data.get('received_at') else '?'}",
        f"  held       {thai_datetime(data['held_at'])}",
        f"  sender     {data['sender']}",
        f"  ยืนยันผู้ส่ง {data.get('sender_verified') or 'ไม่มีข้อมูล'}",
        f"  subject    {data['subject'] or ''}",
        "reasons (เหตุที่กักไว้):",
        *_reason_lines(data["reasons"]),
    ]
    if data.get("elsewhere"):
        out.append("files: not kept on this gateway (ไฟล์ของหนังสือฉบับนี้อยู่ที่เกตเวย์เครื่องที่รับไว้): "
                   "another gateway sharing the database received it; show it there")
    elif data["files"]:
        out.append("files:")
        out.extend(f"  {shown_name(f['filename']) if f['filename'] else '(no name)'}  {f['content_type']}  {f['size']} bytes"
                   for f in data["files"][:FILES_LISTED])
        if len(data["files"]) > FILES_LISTED:
            more = len(data["files"]) - FILES_LISTED
            out.append(f"  ... และอีก {more:,} ไฟล์ / and {more:,} more files (--json lists them all)")
    else:
        out.append("files: none (ไม่มีไฟล์แนบ)")
    if data["text"]:
        out.append("text of the e-mail (ข้อความในอีเมล):")
        out.extend(f"  {line}" for line in data["text"].split("\n"))
        if data["text_cut"]:
            out.append(f"  ... (cut: only its first {TEXT_SHOWN} characters are shown)")
    elif data.get("text_unread"):
        from gateway.web.i18n import WORDS  # the desk's words for it, in both languages

        out.append("text of the e-mail (ข้อความในอีเมล): " + " / ".join(WORDS["mail_text_unread"]))
    if data["actions"]:
        out.append("actions:")
        out.extend(f"  {thai_datetime(a['at'])}  {a['action']}  by {a['who']}"
                   + (f": {a['reason']}" if a["reason"] else "") for a in data["actions"])
    print("\n".join(out))
    return 0


@friendly
def cmd_release(args: argparse.Namespace) -> int:
    from gateway.service.instance_lock import running_pid

    if refusal := reason_refusal(args.reason, required=False):
        print(refusal, file=sys.stderr)
        return 2
    with open_services(args, "pipeline") as services:
        letter = release(services, args.id, args.reason)
        runs = running_pid(services.settings.data_dir) is not None
    print(f"released quarantine entry {args.id}: registered as {letter.receive_no} "
          f"({letter.unit}, book {letter.book}); " + (
              "it is filed into the unit's folder by the running daemon" if runs else
              "no daemon is running: it is filed into the unit's folder once the daemon starts"))
    return 0


@friendly
def cmd_reject(args: argparse.Namespace) -> int:
    if refusal := reason_refusal(args.reason, required=True):  # before the database is opened
        print(refusal, file=sys.stderr)
        return 2
    with open_services(args) as services:
        entry = reject(services, args.id, args.reason)
    print(f"rejected quarantine entry {entry.id} ({entry.unit}, from {entry.sender})")
    return 0
