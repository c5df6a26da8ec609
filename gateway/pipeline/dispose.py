"""What happens to a checked letter for one recipient unit: one ordered chain.

The chain is data, in the spirit of GNU Mailman 3's chains/builtin.py: each link names
a rule, says what it tests, and returns the disposition when its test holds; the first
link that answers decides. The pipeline, `quarantine release`, `reprocess` and — in a
dry run that writes nothing — `rules check` all run this same chain, so `rules check`
shows exactly what the daemon would do.

Classification does not make a second chain. It changes *how* a disposition is
stored and shown (`hold_letter`, `register_letter_for`): a classified letter is held
with its reasons redacted and no subject, and registered in the secret book with a
content-free row and a copy owed to the unit's secret registrar (นายทะเบียนลับ).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

import structlog

from gateway.notices.create import queue_acknowledgement, queue_rejection
from gateway.pipeline import classified as secret
from gateway.pipeline.check import Checked
from gateway.pipeline.parse import sender_display_name
from gateway.sender.policy import ADDRESSED_ELSEWHERE, addressed_elsewhere
from gateway.service import metrics
from gateway.service.numbering import earlier_number
from gateway.service.services import Services
from gateway.signatures.check import needs_review
from gateway.spool import SpoolEntry
from gateway.units.directory import POSTMASTER, Unit
from rules.extract import mail_subject
from rules.files import cover_letter
from rules.model import Finding
from rules.thai_text import clean_field
from rules.thai_time import be_year
from storage import quarantine
from storage.models import Letter
from storage.outbox import add_alert, queue_once, withdraw
from storage.actions import add_action
from storage.register import (GAP_REASON, NewLetter, find_paper_twin, find_registration, find_same_files,
                              find_same_message_id,
                              find_same_sealed_files, lock_units, register_letter)

log = structlog.get_logger("gateway.pipeline.dispose")

UNIT_GONE = Finding("unit_directory", "fail",
                    "หน่วยงานผู้รับถูกลบออกจากสมุดรายชื่อหลังรับอีเมล",
                    "the receiving unit was removed from the directory after the message was accepted")
POSTMASTER_MAIL = Finding("postmaster", "fail",
                          "อีเมลถึง postmaster (ผู้ดูแลระบบอีเมล) ไม่ใช่หนังสือราชการ เก็บไว้ให้ผู้ดูแลระบบอ่าน",
                          "mail to postmaster (the mail system's operator) is not a letter: kept for the operator to read")
TOP_SECRET = Finding("top_secret", "fail",
                     "หนังสือชั้นลับที่สุดต้องจัดส่งเป็นเอกสารกระดาษเท่านั้น",
                     "letters classified ลับที่สุด (top secret) must be sent on paper only")
MESSAGE_ID_REUSED = "message_id_reused"
SAME_FILES = "same_files"
# The clerk's own warnings: each flags the entry for review, none is told to the sender.
# A finding of the emergency import's own name (gateway/tools/emergency_import.py),
# the same duplicate seen from the e-mailed side.
SAME_LETTER = "same_letter"
CLERKS_OWN = (MESSAGE_ID_REUSED, SAME_FILES, SAME_LETTER, ADDRESSED_ELSEWHERE)
# How far from the paper row's time its letter's e-mail is looked for: an outage of
# days, the sender's server retrying for up to five (emergency_import.TWIN_WITHIN).
PAPER_TWIN_WITHIN = dt.timedelta(days=30)
# How far back a letter with the very same files is looked for: a sender who saw no
# acknowledgement sends again within days, not months.
SAME_FILES_WITHIN = dt.timedelta(days=30)


def message_id_reused(receive_no: str, book: str | None = None, secret_hidden: bool = False) -> Finding:
    """For the clerk: this letter carries the sender's Message-ID of another letter this
    unit registered, with other content. It is registered all the same (a letter whose
    Message-ID a forged decoy took first must not vanish); which one is genuine is for
    a person to judge. It quotes nothing of either letter, and is not told to the
    sender (it would give anyone who guesses a Message-ID another letter's number).
    The other letter is named with its book (each book numbers from 1: "1/2569" alone
    sent the clerk to this very letter's neighbour); when it is a classified letter and
    this one is not, its number is the secret registrar's to know, and is not said
    (`secret_hidden`: session 43's red team)."""
    if secret_hidden:
        return Finding(MESSAGE_ID_REUSED, "warn",
                       "มีหนังสือชั้นลับอีกฉบับที่ใช้ Message-ID เดียวกันจากผู้ส่งเดียวกันลงทะเบียนไว้ในทะเบียนลับแล้ว "
                       "แต่เนื้อหาไม่ตรงกัน จึงลงทะเบียนฉบับนี้แยกไว้ โปรดสอบถามนายทะเบียนลับของหน่วยงาน",
                       "a classified letter with this Message-ID from the same sender is in the secret "
                       "register, with other content; this one is registered on its own: ask the unit's "
                       "secret registrar")
    where_th, where_en = (f" ในทะเบียน {book}", f" in the book {book}") if book else ("", "")
    return Finding(MESSAGE_ID_REUSED, "warn",
                   f"มีหนังสืออีกฉบับที่ใช้ Message-ID เดียวกันจากผู้ส่งเดียวกันลงทะเบียนรับแล้วเป็นเลขรับ {receive_no}"
                   f"{where_th} แต่เนื้อหาไม่ตรงกัน จึงลงทะเบียนฉบับนี้แยกไว้ โปรดตรวจสอบว่าฉบับใดส่งมาจากผู้ส่งจริง",
                   f"another letter with this Message-ID from the same sender was registered as {receive_no}"
                   f"{where_en}, with other content; this one is registered on its own: check which of them "
                   "the sender really sent")


def on_paper_already(receive_no: str) -> Finding:
    """For the clerk: this letter looks like one the unit registered on paper while the
    gateway was down (a row of its emergency register, imported since: the same ที่ and
    ลงวันที่, or its scans are this letter's files), registered as `receive_no`. The
    e-mail came after (its sender's server retried, the mailbox was read again).
    Registered all the same; a person checks and cancels one. Not told to the sender."""
    return Finding(SAME_LETTER, "warn",
                   f"อาจเป็นหนังสือฉบับเดียวกับเลขรับ {receive_no} ที่ลงทะเบียนไว้ในทะเบียนรับฉุกเฉิน (กระดาษ) แล้ว "
                   "(ที่และลงวันที่ หรือไฟล์ตรงกัน) โปรดตรวจสอบ หากซ้ำให้ยกเลิกเลขรับฉบับใดฉบับหนึ่ง",
                   f"possibly the letter registered on paper (the emergency register) as {receive_no} (the same "
                   "ที่ and date, or the same file): check, and cancel one entry if so")


def same_files(receive_no: str) -> Finding:
    """For the clerk: every file of this letter is a file of one the same sender sent
    lately, registered as `receive_no`, in another e-mail (its own Message-ID, so not a
    resend). Registered all the same (it may be a second letter with the same
    enclosures, or the same letter sent again because no acknowledgement came); a person
    decides, and cancels one if it is the same. Quotes nothing of either letter; not
    told to the sender."""
    return Finding(SAME_FILES, "warn",
                   f"ไฟล์แนบทุกไฟล์ตรงกับหนังสือจากผู้ส่งเดียวกันที่ลงทะเบียนรับแล้วเป็นเลขรับ {receive_no} "
                   "อาจเป็นหนังสือฉบับเดียวกันที่ส่งซ้ำ โปรดตรวจสอบ หากซ้ำให้ยกเลิกเลขรับฉบับใดฉบับหนึ่ง",
                   f"every file is one of the letter the same sender sent lately, registered as {receive_no}: "
                   "possibly the same letter sent twice; check, and cancel one entry if so")


OPERATOR_RELEASE = Finding("operator_release", "warn",
                           "ปล่อยจากการกักกันโดยเจ้าหน้าที่", "released from quarantine by an operator")


@dataclass
class Recipient:
    """One recipient unit of a checked message, as the chain sees it."""

    entry: SpoolEntry
    checked: Checked
    unit: Unit | None
    unit_name: str
    sender: str
    released_by_operator: bool = False  # `quarantine release`: register despite the policy
    # The pipeline's first try at this message: no registration or quarantine entry of
    # it can exist yet, so they are not looked up (the unique keys still stand guard).
    first_attempt: bool = False

    @property
    def message_id(self) -> str | None:
        return self.checked.mail.message_id if self.checked.mail else None

    @property
    def classified(self) -> bool:
        return self.checked.classified is not None


@dataclass
class Known:
    """What the register already holds of this letter; all empty in a dry run."""

    registered: str | None = None  # its receive number for this unit
    held: bool = False  # a quarantine entry for this unit exists
    resend_of: str | None = None  # the same letter (same sender, Message-ID and content) registered
    message_id_of: str | None = None  # another letter with the same sender and Message-ID registered
    message_id_book: str | None = None  # the book that letter is in
    message_id_classified: bool = False  # that letter is classified
    same_files_as: str | None = None  # a letter of the same sender with exactly these files, lately
    paper_twin: str | None = None  # a row of the unit's paper emergency register that is this letter


@dataclass
class Disposition:
    action: str  # "registered" / "held" (already so), "duplicate", "hold", "register"
    rule: str  # the link that decided
    findings: list[Finding] = field(default_factory=list)
    notify_sender: bool = False
    alert_registrar: str | None = None
    review: bool = False
    receive_no: str | None = None


@dataclass(frozen=True)
class Link:
    name: str
    description: str
    test: Callable[[Services, Recipient, Known], Disposition | None]


def _already_registered(_services, _r, known):
    if known.registered:
        return Disposition("registered", "already_registered", receive_no=known.registered)


def _registered_before_restore(services, r, _known):
    # Its copy in the unit's folder carries the number it was given before the register
    # was put back from a backup (gateway/service/numbering.py): entered again under it.
    earlier = earlier_number(services.settings, r.entry.queue_id, r.unit_name)
    if earlier is None:
        return None
    book, year, number = earlier
    books = services.settings.register_
    # Only into the register it was given in: otherwise it is numbered anew (a gap there).
    if (book, year) == (books.secret_book if r.classified else books.general_book, be_year(r.entry.received_at)):
        return Disposition("register", "registered_before_restore", list(r.checked.findings),
                           receive_no=f"{number}/{year}")


def _already_held(_services, r, known):
    if known.held and not r.released_by_operator:
        return Disposition("held", "already_held")


def _postmaster(_services, r, _known):
    # Bounces, abuse reports, another server's operator: for the operator, in the
    # quarantine (sealed like any letter if it is classified); its sender is not answered.
    if r.unit is None and r.unit_name == POSTMASTER:
        return Disposition("hold", "postmaster", [POSTMASTER_MAIL])


def _unit_gone(_services, r, _known):
    if r.unit is None:
        return Disposition("hold", "unit_directory", [UNIT_GONE])


def _resend(_services, _r, known):
    if known.resend_of:
        return Disposition("duplicate", "resend", receive_no=known.resend_of)


def _unreadable(_services, r, _known):
    if r.checked.mail is None:
        return Disposition("hold", "unreadable", list(r.checked.findings), notify_sender=True)


def _top_secret(_services, r, _known):
    # Never by policy, never by an operator: ลับที่สุด may not travel electronically.
    if r.checked.facts.secrecy == "top_secret":
        reasons = [f for f in r.checked.findings if f.rule == "top_secret" and f.verdict == "fail"]
        return Disposition("hold", "top_secret", reasons or [TOP_SECRET], notify_sender=True,
                           alert_registrar="top_secret")


def _policy(services, r, known):
    findings = list(r.checked.findings)
    elsewhere = _addressed_elsewhere(services, r)
    if elsewhere is not None:
        findings.append(elsewhere)
    if known.message_id_of:
        findings.append(message_id_reused(known.message_id_of, known.message_id_book,
                                          secret_hidden=known.message_id_classified and not r.classified))
    if known.same_files_as:  # looked for only when the Message-ID found nothing (what_is_known)
        findings.append(same_files(known.same_files_as))
    if known.paper_twin:
        findings.append(on_paper_already(known.paper_twin))
    if r.released_by_operator:
        kept = [f for f in findings if f.verdict != "pass"] + [OPERATOR_RELEASE]
        return Disposition("register", "operator_release", kept, review=True)
    decision = services.policy.decide(findings, r.unit_name)
    if decision.action == "reject":
        return Disposition("hold", "policy", decision.findings, notify_sender=True)
    return Disposition("register", "policy", decision.findings,
                       review=any(f.rule in CLERKS_OWN for f in decision.findings))


def _addressed_elsewhere(services, r):
    """sender.policy.addressed_elsewhere for this recipient unit: a verified letter
    whose To and Cc name other units of this gateway, not this one."""
    auth = r.checked.sender_auth
    if auth is None or not auth.verified:  # the common case costs nothing more
        return None
    directory = services.directory
    domain = directory.domain.lower()

    def unit_of(address: str) -> str | None:
        local, at, found = address.rpartition("@")
        if not at or found.lower().rstrip(".") != domain:
            return None
        unit = directory.lookup(local)
        return unit.full_address(domain) if unit else None

    return addressed_elsewhere(auth, r.entry.raw, f"{r.unit_name}@{domain}", unit_of)


CHAIN: tuple[Link, ...] = (
    Link("already_registered", "this unit already registered the letter (a crash after registration)", _already_registered),
    Link("registered_before_restore", "registered before the database was restored from a backup: its copy "
         "in the folder carries its number; entered again under it, not filed or acknowledged again",
         _registered_before_restore),
    Link("already_held", "this unit already holds the letter in quarantine", _already_held),
    Link("postmaster", "mail to postmaster (RFC 5321 4.5.1): not a letter, held for the operator", _postmaster),
    Link("unit_directory", "the unit left the directory after the message was accepted: hold", _unit_gone),
    Link("resend", "the same letter (sender, Message-ID and content) sent again: not a new letter", _resend),
    Link("unreadable", "the message could not be read as e-mail: hold and tell the sender", _unreadable),
    Link("top_secret", "ลับที่สุด: hold, tell the sender and alert the secret registrar", _top_secret),
    Link("policy", "the unit's policy over the findings: hold (reject) or register", _policy),
)


def decide(services: Services, recipient: Recipient, known: Known, skip: tuple[str, ...] = ()) -> Disposition:
    for link in CHAIN:
        if link.name in skip:
            continue
        disposition = link.test(services, recipient, known)
        if disposition is not None:
            return disposition
    raise AssertionError("the chain's last link always decides")  # _policy returns in every case


def recipient_for(services: Services, entry: SpoolEntry, checked: Checked, rcpt: str,
                  released_by_operator: bool = False, first_attempt: bool = False) -> Recipient:
    unit = services.directory.lookup(rcpt)
    mail = checked.mail
    sender = (mail.from_address if mail and mail.from_address else entry.mail_from).lower()
    return Recipient(entry=entry, checked=checked, unit=unit,
                     unit_name=unit.address if unit else rcpt.split("@", 1)[0].lower(),
                     sender=sender, released_by_operator=released_by_operator, first_attempt=first_attempt)


def what_is_known(session, recipient: Recipient, secret_book: str, general_book: str | None = None) -> Known:
    queue_id, unit = recipient.entry.queue_id, recipient.unit_name
    lock_units(session, [unit])  # a resend sent to the other gateway at once: decided after it
    same = _same_message_id(session, recipient)
    if not recipient.first_attempt:
        registration = find_registration(session, queue_id, unit)
        if registration is not None:
            return Known(registered=registration.receive_no)
    known = Known(resend_of=same.resend_of, message_id_of=same.other, message_id_book=same.other_book,
                  message_id_classified=same.other_classified,
                  held=not recipient.first_attempt and quarantine.find_entry(session, queue_id, unit) is not None)
    if not known.resend_of and not known.message_id_of:
        known.same_files_as = _same_files(session, recipient, secret_book)
    if not known.resend_of and general_book is not None:
        known.paper_twin = _paper_twin(session, recipient, general_book)
    return known


def _paper_twin(session, r: Recipient, book: str) -> str | None:
    """One look along the index of queue ids at the paper register's rows (none but after
    an outage); a ลับ letter's paper row is sealed, with no ที่ or files to compare."""
    mail = r.checked.mail
    if r.classified or mail is None:
        return None
    facts = r.checked.facts
    return find_paper_twin(session, r.unit_name, book, facts.reference, facts.letter_date,
                           frozenset(a.sha256 for a in mail.attachments), r.entry.received_at, PAPER_TWIN_WITHIN)


def _same_files(session, r: Recipient, secret_book: str) -> str | None:
    mail = r.checked.mail
    if r.classified:  # by the keyed hash of its files: nothing of them is kept in plain
        return find_same_sealed_files(session, r.unit_name, secret_book, r.sender,
                                      r.checked.classified.files_mac, r.entry.received_at, SAME_FILES_WITHIN)
    if mail is None or not mail.attachments:
        return None
    return find_same_files(session, r.unit_name, r.sender, frozenset(a.sha256 for a in mail.attachments),
                           r.entry.received_at - SAME_FILES_WITHIN)


def _same_message_id(session, r: Recipient):
    """A letter is a resend only if it is the same letter as one registered (raw message
    or, re-encoded, its files and Subject), not because its From and Message-ID, which
    anyone can write, are those of a registered one. Without a Message-ID, only the same
    raw message from the same envelope sender is."""
    mail = r.checked.mail
    files = None
    if mail is not None and not r.classified:
        files = frozenset(a.sha256 for a in mail.attachments)
    return find_same_message_id(session, r.unit_name, r.sender, r.message_id, r.entry.sha256,
                                files, mail.subject if mail else None, mail_from=r.entry.mail_from)


def dispose(services: Services, session, recipient: Recipient) -> tuple[Disposition, Letter | None]:
    """Run the chain for one recipient and carry out its disposition in the caller's
    transaction; returns the disposition and the register entry it made, if any."""
    disposition = decide(services, recipient,
                         what_is_known(session, recipient, services.settings.register_.secret_book,
                                       services.settings.register_.general_book))
    if disposition.action == "hold" and (held := _held_before(session, recipient)) is not None:
        # Its server's retry of a letter already held: that entry is the letter's, and its
        # sender was told once. Looked up only for a letter about to be held.
        log.info("resend_of_held", entry=held, rule=disposition.rule, message_id=recipient.message_id)
        return Disposition("held", "resend_of_held", receive_no=f"#{held}"), None
    if disposition.action == "hold":
        hold_letter(services, session, recipient, disposition)
    elif disposition.action == "register":
        return disposition, register_letter_for(services, session, recipient, disposition)
    elif disposition.action == "duplicate":
        log.info("resend_recognised", receive_no=disposition.receive_no, message_id=recipient.message_id)
    return disposition, None


def _held_before(session, r: Recipient) -> int | None:
    return quarantine.find_same_held(session, r.unit_name, r.sender, r.entry.sha256, r.entry.mail_from,
                                     r.entry.queue_id)


def outcome_text(disposition: Disposition, letter: Letter | None) -> str:
    if letter is not None:
        return f"registered {letter.receive_no}"
    if disposition.rule == "resend_of_held":
        return f"quarantined (the same message as held {disposition.receive_no})"
    if disposition.action == "registered":
        return f"registered {disposition.receive_no}"
    if disposition.action == "duplicate":
        return f"duplicate of {disposition.receive_no}"
    return "quarantined"


def hold_letter(services: Services, session, r: Recipient, d: Disposition) -> None:
    """Quarantine the letter for this unit; a classified one's entry says nothing of
    its content (rule names only, no subject, the sealed blob's reference)."""
    fails = [f for f in d.findings if f.verdict == "fail"] or list(d.findings)
    checked, entry = r.checked, r.entry
    if r.classified:
        # Why it is classified when a file could not be read, beside why it is held: the
        # registrar opening the quarantine must know which file to judge (the gateway's
        # own words, files by number: secret.bare keeps them).
        sealed = checked.classified
        reasons, subject, raw_ref = secret.bare(fails + sealed.unread), None, sealed.raw_ref
    else:
        reasons = [f.as_dict() for f in fails]
        subject, raw_ref = (checked.mail.subject if checked.mail else None), checked.raw_sha256
    held = quarantine.hold(session, queue_id=entry.queue_id, unit=r.unit_name, sender=r.sender,
                           subject=subject, reasons=reasons, raw_sha256=raw_ref)
    if d.notify_sender:  # the rejection notice, in the same transaction
        queue_rejection(session, services, entry, checked, r.unit_name, d.findings)
    if d.alert_registrar:
        add_alert(session, entry.queue_id, r.unit_name, d.alert_registrar, "registrar", sender=r.sender)
    # Each rule that held it once, and how many reasons there were: a letter of 3,000
    # refused files logged one line of 3,000 rule names, then of 200 "executable".
    rules = list(dict.fromkeys(reason["rule"] for reason in reasons))
    log.info("quarantined", rule=d.rule, classified=r.classified, reasons=rules, reason_count=len(reasons))
    # One letter refused: counted once under each of its reasons, not once for each file
    # (a letter of 3,000 programs counted 3,000 under "executable").
    for rule in rules:
        metrics.rejected("rules", rule)


def register_letter_for(services: Services, session, r: Recipient, d: Disposition) -> Letter:
    """Give the letter its receive number for this unit, owe its copy (folder or secret
    registrar) and acknowledge it to the sender, all in the caller's transaction."""
    earlier = int(d.receive_no.split("/")[0]) if d.rule == "registered_before_restore" else None
    if r.classified:
        letter, ack_findings = _register_classified(services, session, r, d, number=earlier), []
    else:
        new = letter_from_checked(services, r.entry, r.checked, r.unit_name, r.sender, d.findings, review=d.review)
        # The sender is told the rules' warnings, not that another letter took its Message-ID.
        letter = register_and_file(services, session, new, number=earlier)
        ack_findings = [f for f in d.findings if f.rule not in CLERKS_OWN]
    if earlier is not None:
        # Filed and acknowledged under this number before the restore: said once, in the
        # register's actions, and nothing is sent or filed a second time.
        add_action(session, who="gateway", action="registered_before_restore", reason=GAP_REASON,
                   queue_id=r.entry.queue_id, unit=r.unit_name, letter_id=letter.id,
                   details={"receive_no": letter.receive_no, "book": letter.book})
        log.warning("registered_before_restore", receive_no=letter.receive_no, book=letter.book)
        metrics.registered(r.unit_name, letter.book, r.entry.received_at)
        return letter
    if r.released_by_operator:
        # The sender may have been told "not registered, please resend": take that back
        # if it has not gone out; the acknowledgement below says what really happened.
        withdraw(session, "notice", f"reject:{r.entry.queue_id}:{r.unit_name}",
                 f"released from quarantine as {letter.receive_no}")
    with structlog.contextvars.bound_contextvars(unit=r.unit_name, receive_no=letter.receive_no):
        queue_acknowledgement(session, services, r.entry, r.checked, r.unit, letter, ack_findings)
        log.info("registered", book=letter.book, number=letter.number, year=letter.year,
                 secrecy=letter.secrecy, rule=d.rule,
                 warnings=len([f for f in d.findings if f.verdict == "warn"]))
    metrics.registered(r.unit_name, letter.book, r.entry.received_at)
    return letter


def _register_classified(services: Services, session, r: Recipient, d: Disposition,
                         number: int | None = None) -> Letter:
    sealed = r.checked.classified
    kept = [f for f in d.findings if f.verdict != "pass"]
    if sealed.opaque:
        kept.append(secret.opaque_finding())
    return register_sealed(services, session, NewLetter(
        queue_id=r.entry.queue_id, unit=r.unit_name, book="", received_at=r.entry.received_at,
        sender=r.sender, raw_sha256=sealed.raw_ref, message_id=r.message_id,
        facts={"secrecy": r.checked.facts.secrecy, "urgency": r.checked.facts.urgency},
        findings=[_bare(f) for f in kept + sealed.unread], review=sealed.opaque or d.review), sealed, number)


def register_sealed(services: Services, session, new: NewLetter, sealed: secret.Sealed,
                    number: int | None = None) -> Letter:
    """A sealed letter's entry in the unit's secret book (`new` holds nothing of what it
    says: no subject, names or file names) and its copy owed to the unit's secret
    registrar, in the caller's transaction: the pipeline's, and the paper emergency
    register's import of a classified paper letter."""
    settings = services.settings
    book = settings.register_.secret_book
    # files_mac: its files, for a letter sent again to be found (find_same_sealed_files).
    new = dataclasses.replace(new, book=book, attachments=sealed.attachments,
                              facts=new.facts | {"sealed": sealed.locations(secret.store_for(services))}
                              | ({"files_mac": sealed.files_mac} if sealed.files_mac else {}))
    letter = register_letter(session, new, start=settings.start_number(new.unit, book, be_year(new.received_at)),
                             number=number)
    if number is not None:
        return letter  # its sealed copy was filed for the registrar before the restore
    queue_once(session, "registrar", f"{new.queue_id}:{new.unit}", queue_id=new.queue_id,
               letter_id=letter.id, unit=new.unit, payload={"backend": settings.delivery.backend,
                                                            **_unit_recorded(services, new.unit)})
    return letter


def _bare(finding: Finding) -> dict:
    """A classified letter's finding in its plaintext row: the rule and verdict, and the
    text only of the gateway's own finding that quotes nothing of the letter."""
    if finding.rule in (MESSAGE_ID_REUSED, SAME_FILES, "classified_unread"):  # the gateway's words, files by number
        return finding.as_dict()
    return {"rule": finding.rule, "verdict": finding.verdict}


def letter_from_checked(services: Services, entry: SpoolEntry, checked: Checked, unit_name: str,
                        sender: str, findings: list[Finding], review: bool = False) -> NewLetter:
    """The register entry an ordinary checked message makes for one unit."""
    assert checked.mail is not None
    return NewLetter(
        queue_id=entry.queue_id,
        unit=unit_name,
        book=services.settings.register_.general_book,
        received_at=entry.received_at,
        sender=sender,
        raw_sha256=checked.raw_sha256,
        # The sender's own words, shown beside the address in the book: one clean line.
        sender_name=clean_field(sender_display_name(checked.mail)),
        # เรื่อง as the letter states it (cover PDF, then the subject after "เรื่อง"); the
        # whole Subject header only when the letter names no เรื่อง at all.
        subject=checked.facts.subject or mail_subject(checked.mail) or None,
        mail_subject=checked.mail.subject or None,
        message_id=checked.mail.message_id,
        # cover_file: which file is the หนังสือนำ (cover letter) the facts were read from,
        # so that the receive stamp goes on it and not on an enclosure sent before it.
        facts=checked.facts.as_dict() | {"cover_file": cover.index if (cover := cover_letter(checked.mail)) else None},
        findings=[f.as_dict() for f in findings if f.verdict != "pass"],
        attachments=[
            {
                "filename": a.filename,
                "sha256": a.sha256,
                "size": a.size,
                "content_type": a.sniffed_type,
                "declared_type": a.declared_type,
                "signatures": checked.signatures.get(a.index),
            }
            for a in checked.mail.attachments
        ],
        # A PDF not read in time (the letter's PDF budget) is for a person to open.
        review=review or needs_review(findings) or any(
            f.rule == "unreadable_pdf" and f.verdict == "warn" for f in findings),
        sender_auth=checked.sender_auth.as_dict() if checked.sender_auth else None,
    )


def _unit_recorded(services: Services, address: str) -> dict:
    """The unit's folder and names with its copy's item: filed as registered even if the
    unit is renamed or removed before the copy is (gateway/delivery/copy_unit.py)."""
    from gateway.delivery.copy_unit import PAYLOAD_KEY, recorded

    unit = services.directory.lookup(address)
    return {PAYLOAD_KEY: recorded(unit)} if unit is not None else {}


def register_and_file(services: Services, session, new: NewLetter, number: int | None = None) -> Letter:
    """Give the letter its receive number and owe its filing into the unit's folder, in
    the caller's transaction. Every ordinary letter gets its number here: the pipeline,
    a release from quarantine, the import of the paper emergency register."""
    settings = services.settings
    letter = register_letter(session, new, start=settings.start_number(new.unit, new.book, be_year(new.received_at)),
                             number=number)
    if number is not None:
        return letter  # `number` was given before a restore and its copy is in the folder
    queue_once(session, "folder", f"{new.queue_id}:{new.unit}", queue_id=new.queue_id, letter_id=letter.id,
               unit=new.unit, payload={"raw_sha256": new.raw_sha256, "backend": settings.delivery.backend,
                                       **_unit_recorded(services, new.unit)})
    return letter
