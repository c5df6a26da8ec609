"""A spool entry checked: parsed once, classified, every rule run, signatures verified,
and stored — in the plain vault, or sealed (encrypted) when it is classified.

What is decided per recipient unit from this is gateway/pipeline/dispose.py."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from gateway.pipeline import classified as secret
from gateway.pipeline.classified import Sealed
from gateway.pipeline.parse import MAX_MESSAGES, MimeTooMany, PartHeadersTooLarge, TooManyLines, parse_mail
from gateway.pipeline.pdf_inspect import PdfInfo
from gateway.pipeline.pdf_readings import LetterReading, Readings
from gateway.pipeline.reading_time import ReadingClock
from gateway.pipeline.parse_limits import MAX_PART_HEADERS, MEAN_LINE_FLOOR, MIN_LINE_LIMIT
from gateway.secrecy.markings import header_block_size
from gateway.sender.policy import finding_for as sender_finding
from gateway.sender.results import SenderAuth
from gateway.service.log import failure
from gateway.service.services import Services
from gateway.spool import SpoolEntry
from rules.extract import extract_facts
from rules.model import NOT_READ_IN_TIME, Finding, LetterFacts, ParsedMail, ReadingOverdue
from rules.registry import run_rules

if TYPE_CHECKING:
    from gateway.sender.settings import SenderSection

log = structlog.get_logger("gateway.pipeline.check")


@dataclass
class Checked:
    """The parsed message and what the rules made of it, shared by every recipient."""

    mail: ParsedMail | None
    facts: LetterFacts
    findings: list[Finding]
    raw_sha256: str
    parse_error: str | None = None
    classified: Sealed | None = None  # ลับ/ลับมาก/ลับที่สุด: sealed, never in the plain vault
    signatures: dict[int, list[dict]] = field(default_factory=dict)  # attachment index -> verdicts
    sender_auth: SenderAuth | None = None  # who really sent it (gateway/sender/)
    pdfs_read_at_data: int = 0  # PDFs not read again: the DATA check's reading was kept
    parsed_at_data: bool = False  # not parsed again: the DATA check's parse was kept


def with_sender_verdict(checked: Checked, auth: SenderAuth, settings: SenderSection) -> Checked:
    """The sender's verdict joins the letter: kept for the register and the notices, and
    a `sender_authenticity` finding (gateway/sender/policy.py) for the disposition chain."""
    checked.sender_auth = auth
    finding = sender_finding(auth, settings)
    if finding is not None:
        checked.findings = checked.findings + [finding]
    return checked


def parse_failure(exc: BaseException) -> Finding:
    if isinstance(exc, ReadingOverdue):
        return reading_overdue(exc)
    if isinstance(exc, PartHeadersTooLarge):
        return Finding(
            rule="header_size",
            verdict="fail",
            message_th=f"ส่วนหัวของส่วนย่อยในอีเมล (MIME part) และของข้อความที่แนบมา รวมกันยาวเกิน {MAX_PART_HEADERS}"
                       " ไบต์ ระบบจึงไม่อ่านหนังสือฉบับนี้ กรุณาส่งใหม่จากโปรแกรมอีเมลมาตรฐาน",
            message_en=f"the header lines of the message's MIME parts and attached messages take more than"
                       f" {MAX_PART_HEADERS} bytes together, more than the gateway reads; the letter was not read;"
                       " please resend it from a standard mail client",
        )
    if isinstance(exc, TooManyLines):
        return Finding(
            rule="mime_parse",
            verdict="fail",
            message_th=f"อีเมลมีจำนวนบรรทัดมากเกินไป (เกิน {MIN_LINE_LIMIT} บรรทัด และมากกว่าหนึ่งบรรทัดต่อ {MEAN_LINE_FLOOR}"
                       " ไบต์) ระบบจึงไม่อ่านหนังสือฉบับนี้ กรุณาส่งหนังสือนำและสิ่งที่ส่งมาด้วยเป็นไฟล์แนบในอีเมลฉบับใหม่",
            message_en=f"the message has too many lines (more than {MIN_LINE_LIMIT} lines and more than one line per"
                       f" {MEAN_LINE_FLOOR} bytes), so the gateway did not read it; please send the cover letter and"
                       " its enclosures as attachments of a new message",
        )
    if isinstance(exc, MimeTooMany):
        # Not a letter a mail client wrote: its sender should know what to change.
        return Finding(
            rule="mime_parse",
            verdict="fail",
            message_th=f"อีเมลมีส่วนย่อย (MIME part) มากกว่า {MAX_MESSAGES} ส่วน ระบบจึงไม่อ่านหนังสือฉบับนี้"
                       " กรุณาส่งหนังสือนำและสิ่งที่ส่งมาด้วยเป็นไฟล์แนบในอีเมลฉบับใหม่",
            message_en=f"the message has more than {MAX_MESSAGES} MIME parts, so the gateway did not read it;"
                       " please send the cover letter and its enclosures as attachments of a new message",
        )
    return Finding(
        rule="mime_parse",
        verdict="fail",
        message_th="อ่านโครงสร้างอีเมลไม่ได้ กรุณาส่งใหม่จากโปรแกรมอีเมลมาตรฐาน",
        # The parser's own words (logged as parse_failed, kept as the letter's parse_error)
        # are for the staff, not for the person who reads this.
        message_en="the message could not be parsed; please resend it from a standard mail client",
    )


def reading_overdue(exc: ReadingOverdue) -> Finding:
    """A letter whose reading ran past `[pipeline] read_budget`: what was read is not
    judged (a marking may be in the rest), and its sender hears what to change."""
    seconds = f"{exc.seconds:g}"
    return Finding(
        rule="reading_time",
        verdict="fail",
        message_th=f"ระบบอ่านเนื้อหาอีเมลไม่จบภายในเวลาที่กำหนด ({seconds} วินาที) จึงไม่ได้ลงรับหนังสือฉบับนี้"
                   " กรุณาส่งหนังสือนำและสิ่งที่ส่งมาด้วยเป็นไฟล์ PDF แนบในอีเมลฉบับใหม่ โดยไม่มีเนื้อหา HTML ขนาดใหญ่",
        message_en=f"the gateway could not finish reading the message within its time ({seconds} s), so the letter"
                   " was not registered; please send the cover letter and its enclosures as PDF attachments of a"
                   " new message, without a large HTML body",
    )


def header_too_large(limit: int) -> Finding:
    return Finding(
        rule="header_size",
        verdict="fail",
        message_th=f"ส่วนหัวของอีเมล (header) ยาวเกิน {limit} ไบต์ ระบบจึงไม่อ่านหนังสือฉบับนี้"
                   " กรุณาส่งใหม่จากโปรแกรมอีเมลมาตรฐาน",
        message_en=f"the message's header lines take more than {limit} bytes, more than the gateway reads;"
                   " the letter was not read; please resend it from a standard mail client",
    )


class PdfBudget:
    """One letter's time for PDF work (`[pipeline] pdf_budget`): text layers and
    signatures together. When it is spent, the rest of the letter's PDFs are noted as
    not read in time and the letter goes on; the letters behind it do not wait."""

    def __init__(self, services: Services, readings: Readings | None = None):
        self.services = services
        self.deadline = time.monotonic() + services.settings.pipeline.pdf_budget
        # The rest of the letter's reading (`[pipeline] read_budget`), in this thread's CPU
        # seconds; PDF work not counted.
        self.clock = ReadingClock(services.settings.pipeline.read_budget, time.thread_time)
        self.readings = readings or Readings()
        self.read_at_data = 0  # files whose reading came from the DATA check
        self.parsed_at_data = False  # the letter itself as the DATA check parsed it
        _forget_verdicts(services)  # nothing of the previous letter's PDFs carries over

    def read(self, data: bytes) -> PdfInfo:
        known = self.readings.of(data)  # read at DATA: no second reading, no time spent
        if known is not None:
            self.read_at_data += 1
            return known
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return PdfInfo(None, None, False, NOT_READ_IN_TIME)
        with self.clock.paused():
            return self.services.pdf_reader(data, remaining)


def _forget_verdicts(services: Services) -> None:
    """Signature verdicts come back with a PDF's text (one trip per PDF) and wait for
    the signature step; a classified letter never reaches it, so they are dropped."""
    if services.signatures is not None:
        services.signatures.forget()


def read_entry(services: Services, entry: SpoolEntry, budget: PdfBudget | None = None,
               reading: LetterReading | None = None
               ) -> tuple[secret.Arrival, ParsedMail | None, BaseException | None]:
    """The arrival (S/MIME opened) and its parse; nothing stored. Shared by the pipeline
    and the dry run of `rules check`. `reading`: the DATA check's (pdf_readings.py),
    taken instead of a second parse when it is the reading of exactly this message."""
    arrival = secret.open_arrival(services, entry)
    if arrival.error is not None:
        return arrival, None, None
    budget = budget or PdfBudget(services)
    if reading is not None and arrival.raw is entry.raw:
        known = reading.mail_of(entry.sha256, entry.mail_from)
        if known is not None:
            budget.read_at_data = len(reading.readings.by_sha256)
            budget.parsed_at_data = True
            return arrival, known, None
    try:
        with budget.clock.running():
            return arrival, parse_mail(arrival.raw, entry.mail_from, budget.read), None
    except ReadingOverdue as exc:
        _overdue(exc)
        return arrival, None, exc
    except Exception as exc:  # the parser's failure is this message's verdict
        log.warning("parse_failed", error=failure(exc))  # where, not what: it may quote the letter
        return arrival, None, exc


def judge(services: Services, entry: SpoolEntry, arrival: secret.Arrival, mail: ParsedMail,
          clock: ReadingClock | None = None) -> tuple[LetterFacts, list[Finding]]:
    """The letter's facts and findings. Raises ReadingOverdue when `clock` runs out:
    the markings read the HTML body again here (rules/markings.py `html_texts`)."""
    with clock.running() if clock is not None else contextlib.nullcontext():
        facts = secret.classify(mail, extract_facts(mail), arrival)
        return facts, run_rules(mail, facts, services.rule_settings, on_error=_rule_failed)


def _overdue(exc: ReadingOverdue) -> None:
    log.warning("reading_overdue", error=str(exc))


def _rule_failed(rule: str, exc: Exception) -> None:
    log.warning("rule_failed", rule=rule, error=failure(exc))  # where, not what: it may quote the letter


def check_entry(services: Services, entry: SpoolEntry) -> Checked:
    """Parse the message, read its facts, run every rule, and store it."""
    limit = services.settings.smtp.max_header_size
    if header_block_size(entry.raw) > limit:
        # Not parsed, and not even its headers read for a marking (each costs the Thai
        # normalisation): such a letter came by IMAP intake (SMTP refuses it at DATA)
        # and held a runner for minutes. At least ลับ, since nothing of it was read.
        finding = header_too_large(limit)
        facts = LetterFacts(secrecy="confidential")
        sealed = secret.seal_letter(services, entry, secret.Arrival(entry.raw), None, facts, [finding])
        log.warning("header_too_large", size=header_block_size(entry.raw), limit=limit)
        return Checked(None, facts, [finding], sealed.raw_ref, parse_error="header block too large",
                       classified=sealed)
    reading = LetterReading.decode(entry.reading)
    budget = PdfBudget(services, reading.readings)
    arrival, mail, error = read_entry(services, entry, budget, reading)
    if arrival.error is not None:  # S/MIME no gateway key opens: sealed as it came
        facts, findings, sealed = secret.seal_undecryptable(services, entry, arrival)
        return Checked(None, facts, findings, sealed.raw_ref, classified=sealed)
    if mail is None:
        return _sealed_unread(services, entry, arrival, error)
    try:
        facts, findings = judge(services, entry, arrival, mail, budget.clock)
    except ReadingOverdue as exc:
        _overdue(exc)
        return _sealed_unread(services, entry, arrival, exc)
    if secret.is_classified(facts):
        _forget_verdicts(services)  # its signer names stay with the sealed letter only
        sealed = secret.seal_letter(services, entry, arrival, mail, facts, findings)
        return Checked(mail, facts, findings, sealed.raw_ref, classified=sealed)
    raw_sha256 = services.vault.put(entry.raw, entry.sha256)
    for attachment in mail.attachments:
        services.vault.put(attachment.data, attachment.sha256)
    # Signatures are checked for ordinary letters only: a classified letter's signer
    # names would otherwise reach the plaintext register; its registrar verifies it.
    findings, signatures = verify_signatures(services, entry, mail, findings, budget)
    return Checked(mail, facts, findings, raw_sha256, signatures=signatures,
                   pdfs_read_at_data=budget.read_at_data, parsed_at_data=budget.parsed_at_data)


def _sealed_unread(services: Services, entry: SpoolEntry, arrival: secret.Arrival,
                   error: BaseException | None) -> Checked:
    finding = parse_failure(error)
    # Fail closed: what could not be read is sealed as at least ลับ, never kept plain
    # (seal_letter makes the gateway key if there is none yet).
    facts = LetterFacts(secrecy=secret.unreadable_secrecy(entry.raw))
    sealed = secret.seal_letter(services, entry, arrival, None, facts, [finding])
    return Checked(None, facts, [finding], sealed.raw_ref, parse_error=failure(error), classified=sealed)


def verify_signatures(services: Services, entry: SpoolEntry, mail: ParsedMail, findings: list[Finding],
                      budget: PdfBudget | None = None) -> tuple[list[Finding], dict[int, list[dict]]]:
    if services.signatures is None:  # gateway/signatures/check.py
        return findings, {}
    report = services.signatures.check(entry.raw, mail, deadline=budget.deadline if budget else None)
    return findings + report.findings, report.by_attachment
