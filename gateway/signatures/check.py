"""The pipeline's signature step: every PDF attachment and S/MIME signature of a letter.

The pipeline runner is synchronous, so PDFs go to a `VerifyPool` worker through its
blocking call (a hostile file costs a killed worker and an INDETERMINATE verdict, never
the runner). What comes out:

* per attachment, the list stored in `LetterAttachment.signatures` (and shown by
  `register list --json`): one dict per signature or document timestamp, with
  `indication`, `sub_indication`, `signer`, `signed_at` and the rest of
  `SignatureVerdict.as_dict()`; [] for a file that carries no signature;
* one Finding per signed file, rule `signature`: `pass` when every signature is
  TOTAL_PASSED and nothing but signatures was added after signing, `fail` otherwise.
  The rules policy then decides: by default a `fail` becomes a warning and the letter
  is registered with `review` set; a unit configured to reject quarantines it.
"""
from __future__ import annotations

import email
import email.policy
import time
from dataclasses import dataclass, field

import structlog

from gateway.config.settings import Settings
from gateway.signatures.settings import RULE, trust_from_settings
from gateway.signatures.trust import TrustSettings
from gateway.signatures.verdict import (
    INDETERMINATE,
    NO_SIGNATURE_FOUND,
    TOTAL_FAILED,
    TOTAL_PASSED,
    PdfVerdict,
    document_problem,
    sub_indication_text,
)
from gateway.signatures.worker import VerifyPool, WorkerLimits
from rules.model import Finding, ParsedMail

log = structlog.get_logger(__name__)

_SMIME_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature",
                "application/pkcs7-mime", "application/x-pkcs7-mime")


@dataclass
class SignatureReport:
    by_attachment: dict[int, list[dict]] = field(default_factory=dict)  # Attachment.index ->
    findings: list[Finding] = field(default_factory=list)


def needs_review(findings: list[Finding]) -> bool:
    """After the policy: a signature finding that survived as warn/fail flags the letter."""
    return any(f.rule == RULE and f.verdict in ("warn", "fail") for f in findings)


def may_be_signed(data: bytes) -> bool:
    """Whether an unreadable PDF might carry a signature. A signature dictionary cannot
    sit in a compressed object stream (its /ByteRange names file offsets), so a file
    without the word is unsigned and its unreadability is the PDF rules' business."""
    return b"/ByteRange" in data


def document_entry(verdict: PdfVerdict) -> dict:
    """A register entry for a PDF whose signatures could not be examined at all."""
    return {
        "kind": "document",
        "field": None,
        "indication": verdict.indication,
        "sub_indication": verdict.sub_indication,
        "signer": None,
        "organisation": None,
        "issuer": None,
        "signed_at": None,
        "signed_at_source": None,
        "covers_whole_file": False,
        "modifications": "unknown",
        "changed_fields": [],
        "certification": None,
        "review": True,
        "message": verdict.message,
        "document": verdict.document,
    }


def entries_for(verdict: PdfVerdict, data: bytes) -> list[dict]:
    if verdict.document != "ok":
        return [document_entry(verdict)] if may_be_signed(data) else []
    return [s.as_dict() for s in verdict.signatures]


def _signers(entries: list[dict]) -> str:
    names = [e.get("signer") for e in entries if e.get("signer")]
    return ", ".join(dict.fromkeys(names)) or "?"


def finding_for(name: str, entries: list[dict]) -> Finding | None:
    """The verdict on one file's signatures as a rule finding (None when unsigned)."""
    if not entries:
        return None
    ranked = {TOTAL_FAILED: 0, INDETERMINATE: 1, TOTAL_PASSED: 2}
    worst = min(entries, key=lambda e: ranked.get(e["indication"], 0))
    sub = worst.get("sub_indication") or ""
    detail = worst.get("message") or ""
    # The documented Thai text of the sub-indication (docs/signatures.md), for the clerk.
    thai = f": {sub_indication_text(sub)[0]}" if sub else ""
    if worst["indication"] == TOTAL_FAILED:
        return Finding(RULE, "fail",
                       f"ลายมือชื่ออิเล็กทรอนิกส์ใน {name} ไม่ถูกต้อง ({sub}{thai}) ต้องตรวจสอบก่อนดำเนินการ",
                       f"the electronic signature in {name} is invalid ({sub}): {detail}", name)
    if worst["indication"] != TOTAL_PASSED:
        return Finding(RULE, "fail",
                       f"ยืนยันลายมือชื่ออิเล็กทรอนิกส์ใน {name} ไม่ได้ ({sub}{thai}) ต้องตรวจสอบ",
                       f"the electronic signature in {name} could not be confirmed ({sub}): {detail}", name)
    changed = [e for e in entries if e.get("review")]
    if changed:
        detail = "; ".join(e.get("message") or e.get("modifications", "") for e in changed)
        return Finding(RULE, "fail",
                       f"{name} ถูกแก้ไขหลังลงลายมือชื่ออิเล็กทรอนิกส์ ต้องตรวจสอบ",
                       f"{name} was changed after it was signed: {detail}", name)
    return Finding(RULE, "pass",
                   f"ลายมือชื่ออิเล็กทรอนิกส์ใน {name} ถูกต้อง ({_signers(entries)})",
                   f"the electronic signature in {name} is valid (signed by {_signers(entries)})", name)


def _smime_kind(raw: bytes) -> bool:
    """Cheap test before pyHanko: does the message carry a CMS signature at all?"""
    if b"pkcs7" not in raw.lower():
        return False
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return any(part.get_content_type() in _SMIME_TYPES for part in msg.walk())
    except Exception:
        return False


class SignatureChecker:
    """Verifies one letter's signatures; one per pipeline runner process."""

    def __init__(self, trust: TrustSettings, pool: VerifyPool, timeout: float):
        self.trust = trust
        self.pool = pool
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SignatureChecker | None:
        sig = settings.signatures
        if not sig.verify:
            return None
        limits = WorkerLimits(max_bytes=sig.max_bytes, max_pages=sig.max_pages, memory_mb=sig.memory_mb,
                              log_setup=(settings.logging.level, settings.logging.format))
        return cls(trust_from_settings(settings), VerifyPool(workers=1, limits=limits), sig.timeout)

    def verify_pdf(self, data: bytes) -> PdfVerdict:
        return self.pool.verify_blocking(data, self.trust, self.timeout)

    def check(self, raw: bytes, mail: ParsedMail, deadline: float | None = None) -> SignatureReport:
        """`deadline` (time.monotonic()): the end of the letter's time for PDF work; a
        PDF reached after it is reported as not checked in time."""
        report = SignatureReport()
        for attachment in mail.attachments:
            if attachment.sniffed_type != "application/pdf":
                continue
            timeout = self.timeout if deadline is None else min(self.timeout, deadline - time.monotonic())
            if timeout <= 0:
                verdict = document_problem("timeout", "the letter's time for checking signatures was used up",
                                           sha256=attachment.sha256)
            else:
                verdict = self.pool.verify_blocking(attachment.data, self.trust, timeout)
            entries = entries_for(verdict, attachment.data)
            report.by_attachment[attachment.index] = entries
            finding = finding_for(attachment.filename or f"file {attachment.index + 1}", entries)
            if finding is not None:
                report.findings.append(finding)
            if verdict.indication != NO_SIGNATURE_FOUND or entries:
                log.info("pdf_signatures", file=attachment.filename, sha256=attachment.sha256,
                         indication=verdict.indication, sub_indication=verdict.sub_indication,
                         signatures=len(verdict.signatures), review=verdict.review)
        if _smime_kind(raw):
            self._check_smime(raw, mail, report)
        return report

    def _check_smime(self, raw: bytes, mail: ParsedMail, report: SignatureReport) -> None:
        from gateway.signatures.smime import verify_smime

        entries = verify_smime(raw, self.trust)
        if not entries:
            return
        # The verdict belongs to the signature file (smime.p7s / smime.p7m) in the register.
        holder = next((a for a in mail.attachments if a.declared_type in _SMIME_TYPES), None)
        name = (holder.filename if holder else None) or "smime.p7s"
        if holder is not None:
            report.by_attachment[holder.index] = entries
        finding = finding_for(f"S/MIME ({name})", entries)
        if finding is not None:
            report.findings.append(finding)
        log.info("smime_signatures", indications=[e["indication"] for e in entries])

    def close(self) -> None:
        self.pool.close()
