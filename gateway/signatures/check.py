"""The pipeline's signature step: every PDF attachment and S/MIME signature of a letter.

The pipeline runner is synchronous, so PDFs go to a `VerifyPool` worker through its
blocking call (a hostile file costs a killed worker and an INDETERMINATE verdict, never
the runner). One trip per PDF: a file that cannot carry a signature (`needs_verifier`)
never reaches pyHanko; one that may is read by `SignatureChecker.read_pdf` while the
letter is parsed, text layer and signatures in the same worker call, and `check` uses
the verdict kept from that trip. What comes out:

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

import dataclasses
import email
import email.policy
import hashlib
import re
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Callable, TYPE_CHECKING

import structlog

from gateway.pipeline.file_texts import Budget, archived_pdfs
from gateway.pipeline.pdf_inspect import PdfInfo
from gateway.secrecy.markings import header_block
from gateway.secrecy.smime_label import octet_stream_signed
from gateway.signatures.settings import RULE, trust_from_settings
from gateway.signatures.trust import TrustSettings
from gateway.signatures.verdict import (
    INDETERMINATE,
    MOD_ANNOTATIONS,
    MOD_FORM_FIELDS,
    MOD_OTHER,
    NO_SIGNATURE_FOUND,
    TOTAL_FAILED,
    TOTAL_PASSED,
    PdfVerdict,
    document_problem,
    sub_indication_text,
)
from gateway.signatures.verify import PROBLEMS
from gateway.signatures.worker import VerifyPool, WorkerLimits
from rules.checks import FILE, finding
from rules.files import signed_file_name
from rules.model import Attachment, Finding, ParsedMail

if TYPE_CHECKING:
    from gateway.config.settings import Settings

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


# A #xx escape in a name: /Byte#52ange is /ByteRange to the parser, and to nothing that
# looks for the bytes. The names that matter here are a few letters, so written with
# escapes they are at most 3 bytes a letter, of letters, digits and escapes: each escape
# is looked at in a short window around it, never by scanning every "/" of the file.
_HEX_ESCAPE = re.compile(rb"#[0-9A-Fa-f]{2}")
_NAME = re.compile(rb"/[A-Za-z0-9#]*")
_WINDOW = 64  # bytes either side of an escape: more than the longest name below, escaped
# Past this many escapes the file is sent to the verifier rather than decoded here: a
# file made of "/#41" must not cost the runner its own CPU.
MAX_ESCAPES = 2000
_SIGNATURE_NAMES = (b"ByteRange",)
# Objects inside a compressed object stream are invisible to a byte search. pyHanko
# reaches one only through a cross-reference stream (`/Type /XRef`, or a trailer's
# /XRefStm) and checks that the stream is `/Type /ObjStm` (pyhanko/pdf_utils/xref.py,
# reader.py; it never rebuilds a broken cross-reference by scanning), so a file without
# those names has every dictionary in plain sight.
_HIDING_NAMES = (b"ObjStm", b"XRef")


def _names_any(data: bytes, words: tuple[bytes, ...]) -> bool:
    """Whether one of `words` is (part of) a name in the file, written plainly or escaped."""
    if any(b"/" + word in data for word in words):
        return True
    if data.count(b"#") > len(data) // 64 + MAX_ESCAPES:
        return True  # a file thick with "#" (random data has one byte in 256): not worth decoding here
    for n, escape in enumerate(_HEX_ESCAPE.finditer(data)):
        if n >= MAX_ESCAPES:
            return True  # fail toward the verifier
        at = escape.start()
        slash = data.rfind(b"/", max(0, at - _WINDOW), at)
        if slash < 0:
            continue
        name = _NAME.match(data, slash, at + _WINDOW)
        if name is None or name.end() <= at:
            continue  # the "/" belongs to another token
        decoded = _HEX_ESCAPE.sub(lambda h: bytes((int(h.group()[1:], 16),)), name.group())
        if any(word in decoded for word in words):
            return True
    return False


def may_be_signed(data: bytes) -> bool:
    """Whether a PDF names a signature dictionary's /ByteRange in plain sight (plainly or
    #-escaped). Used for an unreadable PDF: without the name it is unsigned and its
    unreadability is the PDF rules' business."""
    return _names_any(data, _SIGNATURE_NAMES)


def needs_verifier(data: bytes) -> bool:
    """The in-process screen: False only when pyHanko could find no signature in the
    file, so that an unsigned letter costs no verification at all. A signature
    dictionary needs /ByteRange; the word is either in plain sight (plainly or
    #-escaped) or the file has object streams that could hide it, and then the verifier
    decides. Byte searches only: the file is not parsed in the runner's process."""
    return _names_any(data, _SIGNATURE_NAMES + _HIDING_NAMES)


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
    names = [e.get("signer") for e in entries if e.get("signer") and e.get("kind") != "document_timestamp"]
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
    # A file or signature that could not be examined is said in the gateway's own words
    # (verify.PROBLEMS), in Thai too; the reader's exception is in the log only.
    problem = _PROBLEM_BY_MESSAGE.get(detail)
    thai_detail = f": {problem[0]}" if problem else ""
    # What changed after signing, in Thai too: the English detail says it, and until
    # session 39 a Thai reader of a letter whose signer's chain was also incomplete (the
    # usual case) read only about the certificate, never that a form field's 1,000 baht
    # now read 9,000,000.
    kinds = [_CHANGED_THAI[k] for k in dict.fromkeys(e.get("modifications") for e in entries) if k in _CHANGED_THAI]
    if kinds:
        thai_detail += f" และไฟล์ถูกแก้ไขหลังลงลายมือชื่อ ({', '.join(kinds)})"
    if worst["indication"] == TOTAL_FAILED:
        return finding(RULE, "fail",
                       f"ลายมือชื่ออิเล็กทรอนิกส์ใน {FILE} ไม่ถูกต้อง ({sub}{thai}){thai_detail} ต้องตรวจสอบก่อนดำเนินการ",
                       f"the electronic signature in {FILE} is invalid ({sub}): {detail}", name)
    if worst["indication"] != TOTAL_PASSED:
        return finding(RULE, "fail",
                       f"ยืนยันลายมือชื่ออิเล็กทรอนิกส์ใน {FILE} ไม่ได้ ({sub}{thai}){thai_detail} ต้องตรวจสอบ",
                       f"the electronic signature in {FILE} could not be confirmed ({sub}): {detail}", name)
    if all(e.get("kind") == "document_timestamp" for e in entries):
        # A timestamp authority's token only (verify.py, "timestamp_only"): no signer.
        return finding(RULE, "fail",
                       f"{FILE} ไม่มีลายมือชื่ออิเล็กทรอนิกส์ของผู้ใด มีเพียงตราประทับเวลา (timestamp) "
                       f"ซึ่งไม่ได้ยืนยันผู้เขียนหรือผู้ลงนาม ต้องตรวจสอบ",
                       f"{FILE} is signed by no one: it carries only a document timestamp, which proves when "
                       f"the file existed, not who wrote or signed it", name)
    changed = [e for e in entries if e.get("review")]
    if changed:
        detail = "; ".join(e.get("message") or e.get("modifications", "") for e in changed)
        what = f" ({', '.join(kinds)})" if kinds else ""
        return finding(RULE, "fail",
                       f"{FILE} ถูกแก้ไขหลังลงลายมือชื่ออิเล็กทรอนิกส์{what} ต้องตรวจสอบ",
                       f"{FILE} was changed after it was signed: {detail}", name)
    return finding(RULE, "pass",
                   f"ลายมือชื่ออิเล็กทรอนิกส์ใน {FILE} ถูกต้อง ({_signers(entries)})",
                   f"the electronic signature in {FILE} is valid (signed by {_signers(entries)})", name)


def _unsigned_cover(mail: ParsedMail, report: SignatureReport) -> Finding | None:
    """A warning when the cover letter (the PDF the register reads ที่ and เรื่อง from and
    the stamp goes on) carries no signature while another file of the letter carries a
    valid one. Until session 52 a forged, unsigned cover letter sent with a genuinely
    signed enclosure (agencies publish signed circulars) had no finding and no review,
    and the register showed the letter's signature as valid. An unsigned letter alone
    gets no finding: signing is not required, but an enclosure's signature must not
    read as the letter's."""
    from rules.files import cover_letter

    cover = cover_letter(mail)
    if cover is None or report.by_attachment.get(cover.index) != []:
        return None  # signed, not a PDF, or not checked
    before = next((a for a in mail.attachments if a.index == cover.index - 1), None)
    if before is not None and before.unpacked and before.signature_envelope:
        return None  # the file a signed file (letter.pdf.p7m) carries, right after it: signed by it
    name = cover.filename or f"file {cover.index + 1}"
    # A name is the sender's to choose: a second "letter.pdf" beside a signed
    # letter.pdf.p7m is not the one it signs.
    named_once = sum(a.filename == cover.filename for a in mail.attachments) == 1
    signed_elsewhere = False
    for index, entries in report.by_attachment.items():
        for entry in entries:
            if cover.filename and named_once and cover.filename in (entry.get("covers") or ()):
                return None  # a signed mail signs it
            if cover.filename and cover.filename in (entry.get("not_covered") or ()):
                return None  # said already: outside the signed mail (`not_covered_finding`)
            if (index != cover.index and entry.get("kind") in ("signature", "smime")
                    and entry.get("indication") == TOTAL_PASSED):
                signed_elsewhere = True
    if not signed_elsewhere:
        return None
    return finding(RULE, "warn",
                   f"หนังสือนำ {FILE} ไม่มีลายมือชื่ออิเล็กทรอนิกส์ ลายมือชื่อที่ถูกต้องอยู่ในไฟล์อื่นของหนังสือเท่านั้น "
                   f"และไม่ได้รับรองหนังสือนำ ต้องตรวจสอบ",
                   f"the cover letter {FILE} is not signed: the valid signatures are on other files of the "
                   f"letter and do not vouch for it", name)


_PROBLEM_BY_MESSAGE = {en: (th, en) for th, en in PROBLEMS.values()}
_CHANGED_THAI = {MOD_FORM_FIELDS: "มีการแก้ไขข้อความในช่องกรอกข้อมูล",
                 MOD_ANNOTATIONS: "มีการเพิ่มหรือแก้ไขหมายเหตุบนหน้าเอกสาร",
                 MOD_OTHER: "มีการแก้ไขเนื้อหาหรือหน้าของเอกสาร"}


def not_covered_finding(holder: str, outside: list[str], entries: list[dict]) -> Finding:
    """Files of a mail that sit beside its signed part (smime.p7m in a multipart/mixed):
    signed by no one, whatever the signed part's verdict. Said by name, so that no file
    reads as one the signer sent."""
    files = ", ".join([FILE, *outside[1:]])  # the first by its place in a notice
    covered = ", ".join(dict.fromkeys(n for e in entries for n in e.get("covers") or ())) or "-"
    return finding(RULE, "fail",
                   f"{files} อยู่นอกส่วนที่ลงลายมือชื่อ S/MIME ({holder}) จึงไม่ได้ลงนามโดย {_signers(entries)} "
                   f"(ลายมือชื่อครอบคลุมเฉพาะ {covered})",
                   f"{files} is outside the S/MIME signed part ({holder}) and not signed by {_signers(entries)} "
                   f"(the signature covers {covered} only)", outside[0])


MAX_MEMBER_FINDINGS = 10  # findings for the signed PDFs of one archive; the rest summed up in one
# Signed PDFs inside archives verified for one letter: 500 attached ZIPs of 100 tiny
# signed PDFs each are within the archive limits, and would be 50,000 register entries.
MAX_ARCHIVED = 300
NOT_CHECKED = ("ไม่ได้ตรวจลายมือชื่อ", "signatures not checked")


def _more_finding(archive: str, members: list[str]) -> Finding:
    """The failed members past MAX_MEMBER_FINDINGS, counted: each is in the register by
    name; a notice names the archive by its place and quotes no member's name (the
    sender's text)."""
    return finding(RULE, "fail",
                   f"ลายมือชื่ออิเล็กทรอนิกส์ของไฟล์ PDF อีก {len(members)} ไฟล์ใน {FILE} ไม่ผ่านหรือยืนยันไม่ได้ "
                   f"ดูรายชื่อไฟล์ในทะเบียน ต้องตรวจสอบ",
                   f"the electronic signatures of {len(members)} more PDF file(s) inside {FILE} failed or "
                   f"could not be confirmed: see the register for their names", archive)


def _smime_kind(raw: bytes) -> bool:
    """Cheap test before pyHanko: does the message carry a CMS signature at all?"""
    if b"pkcs7" not in raw.lower():
        # An opaque-signed letter relabelled octet-stream names its .p7m in the header block.
        if b".p7m" not in header_block(raw).lower():
            return False
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return any(part.get_content_type() in _SMIME_TYPES for part in msg.walk()) or octet_stream_signed(msg)
    except Exception:
        return False


TextReader = Callable[[bytes, "float | None"], PdfInfo]  # (data, timeout): the PDF pool's inspect
KEPT_VERDICTS = 64  # more PDFs than this in one letter: the first ones are verified again


class SignatureChecker:
    """Verifies one letter's signatures; one per pipeline runner process.

    `read_pdf` is the pipeline's PDF reader (services.py): while the letter is parsed it
    reads a PDF that may be signed together with its signatures in one worker trip and
    keeps the verdict, by the file's sha256, for `check`. `check` forgets every kept
    verdict when it is done; a letter that never reaches it (a classified one: its
    signatures are not reported) leaves its verdicts to be dropped by the next letter's
    `check` or by `forget`, never stored."""

    def __init__(self, trust: TrustSettings, pool: VerifyPool, timeout: float,
                 text_reader: TextReader | None = None):
        self.trust = trust
        self.pool = pool
        self.timeout = timeout
        self.text_reader = text_reader
        self._kept: OrderedDict[str, PdfVerdict] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, text_reader: TextReader | None = None) -> SignatureChecker | None:
        sig = settings.signatures
        if not sig.verify:
            return None
        limits = WorkerLimits(max_bytes=sig.max_bytes, max_pages=sig.max_pages, memory_mb=sig.memory_mb,
                              log_setup=(settings.logging.level, settings.logging.format))
        return cls(trust_from_settings(settings), VerifyPool(workers=1, limits=limits), sig.timeout, text_reader)

    def verify_pdf(self, data: bytes) -> PdfVerdict:
        return self.pool.verify_blocking(data, self.trust, self.timeout)

    def read_pdf(self, data: bytes, timeout: float | None = None) -> PdfInfo:
        """The text layer of one PDF, as the PDF pool reads it, from the verification
        worker, which verifies a file that may be signed in the same trip. (The worker
        answers through its own pipe, one hop fewer than the pool's executor.)
        `timeout`: what is left of the letter's time for PDF work; it bounds both."""
        if self.text_reader is None:
            raise RuntimeError("read_pdf needs the PDF pool's reader (gateway/service/services.py)")
        if not self.pool.takes(data):
            return self.text_reader(data, timeout)
        text_limit = self.timeout if timeout is None else min(self.timeout, timeout)
        if not needs_verifier(data):
            return self.pool.read_blocking(data, text_limit)
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 in self._kept:  # the same file twice in a letter: verified once
            return self.pool.read_blocking(data, text_limit)
        deadline = None if timeout is None else time.monotonic() + timeout
        info, verdict = self.pool.read_and_verify_blocking(data, self.trust, text_limit, self.timeout, deadline)
        if verdict is not None:
            self._kept[sha256] = verdict
            while len(self._kept) > KEPT_VERDICTS:
                self._kept.popitem(last=False)
        return info

    def forget(self) -> None:
        """Drop the verdicts kept from reading (e.g. once a letter is found classified)."""
        self._kept.clear()

    def check(self, raw: bytes, mail: ParsedMail, deadline: float | None = None) -> SignatureReport:
        """`deadline` (time.monotonic()): the end of the letter's time for PDF work; a
        PDF reached after it is reported as not checked in time."""
        try:
            return self._check(raw, mail, deadline)
        finally:
            self.forget()

    def _check(self, raw: bytes, mail: ParsedMail, deadline: float | None) -> SignatureReport:
        report = SignatureReport()
        unpacked = Budget()  # the archives' limits, for the letter as when its texts were read
        archived = [0, 0]  # signed PDFs inside archives: verified, and past MAX_ARCHIVED
        for attachment in mail.attachments:
            if attachment.unpacked:  # winmail.dat, letter.pdf.p7m: their files follow them
                if attachment.signature_envelope:
                    self._check_signed_file(attachment, report)
                continue
            if attachment.sniffed_type != "application/pdf":
                self._check_archive(attachment, unpacked, report, deadline, archived)
                continue
            verdict = self._kept.get(attachment.sha256)  # verified in the trip that read its text
            if verdict is not None:
                _log_deferred(verdict)  # the letter is ordinary: what verifying it said may be logged
            else:
                if not needs_verifier(attachment.data):
                    report.by_attachment[attachment.index] = []  # cannot carry a signature
                    continue
                verdict = self._verify(attachment.data, attachment.sha256, deadline)
            entries = entries_for(verdict, attachment.data)
            report.by_attachment[attachment.index] = entries
            finding = finding_for(attachment.filename or f"file {attachment.index + 1}", entries)
            if finding is not None:
                report.findings.append(finding)
            if verdict.indication != NO_SIGNATURE_FOUND or entries:
                log.info("pdf_signatures", file=attachment.filename, sha256=attachment.sha256,
                         indication=verdict.indication, sub_indication=verdict.sub_indication,
                         signatures=len(verdict.signatures), review=verdict.review)
        if archived[1]:
            report.findings.append(Finding(
                RULE, "warn", f"{NOT_CHECKED[0]}ของไฟล์ PDF อีก {archived[1]} ไฟล์ในไฟล์บีบอัด ต้องเปิดตรวจเอง",
                f"{NOT_CHECKED[1]} of {archived[1]} more PDF file(s) inside archives: open and verify them"))
        if _smime_kind(raw):
            self._check_smime(raw, mail, report)
        unsigned = _unsigned_cover(mail, report)
        if unsigned is not None:
            report.findings.append(unsigned)
        return report

    def _check_archive(self, attachment: Attachment, unpacked: Budget, report: SignatureReport,
                       deadline: float | None, archived: list[int]) -> None:
        """The PDFs inside an archive or an attached .eml, each verified as an attached
        one is (its verdict kept from the trip that read its text, else the same worker
        within the letter's time), each named by the archive and the member in the
        register and findings. Until session 16 a ZIP's were said "not checked", and a
        tar's or an .eml's had no word at all. Signed files inside (`letter.pdf.p7m`) too,
        since session 18."""
        from gateway.pipeline.parse import is_message_file, message_pdfs

        signed: list[tuple[str, bytes]] = []
        if is_message_file(attachment):  # an .eml sent as a file: its PDFs, as an archive's
            pdfs = message_pdfs(attachment.data, unpacked, signed=signed)
        else:
            found = archived_pdfs(attachment.data, attachment.filename, attachment.sniffed_type, unpacked)
            pdfs, signed = found.pdfs, found.signed
        if not pdfs and not signed:
            return
        archive = attachment.filename or f"file {attachment.index + 1}"
        entries: list[dict] = []
        failed: list[str] = []
        skipped = 0
        # Two members of one name (a second "letter.pdf" a clerk's unzip may put over the
        # first): each verdict told apart by its place among them.
        # A signed file inside (`letter.pdf.p7m`, CAdES) is verified as one attached to the
        # letter is, its verdict on its own member; the file it carries follows it
        # ("letter.pdf.p7m/letter.pdf"). Until session 18 only the file inside was looked
        # at: a signed file changed after signing had no verdict at all.
        members = [(member, data, True) for member, data in signed] + [(member, data, False) for member, data in pdfs]
        counts = Counter(member for member, _, _ in members)
        seen: Counter = Counter()
        for member, data, is_signed in members:
            seen[member] += 1
            label = member if counts[member] == 1 else f"{member} ({seen[member]}/{counts[member]})"
            if not is_signed and not needs_verifier(data):
                continue  # cannot carry a signature
            if archived[0] >= MAX_ARCHIVED:
                archived[1] += 1  # said once for the letter (`_check`)
                skipped += 1
                continue
            archived[0] += 1
            if is_signed and deadline is not None and deadline <= time.monotonic():
                verdict = document_problem("timeout", "the letter's time for checking signatures was used up")
                mine = [dict(document_entry(verdict), member=label)]
            elif is_signed:
                mine = [dict(e, member=label) for e in self._signed_file_entries(data, member)]
            else:
                verdict = self._verdict_of(data, deadline)
                mine = [dict(e, member=label) for e in entries_for(verdict, data)]
            entries += mine
            finding = finding_for(f"{archive}/{label}", mine)
            if finding is None:
                continue
            if finding.verdict != "pass":
                failed.append(label)
                if len(failed) > MAX_MEMBER_FINDINGS:
                    continue  # said together below: one finding a member would bury the letter's own
            report.findings.append(finding)
        if len(failed) > MAX_MEMBER_FINDINGS:
            report.findings.append(_more_finding(archive, failed[MAX_MEMBER_FINDINGS:]))
        if skipped:  # the archive's row must not read as unsigned
            entries.append(dict(document_entry(PdfVerdict(
                document="not_checked", message=f"{NOT_CHECKED[1]}: more signed PDFs in the letter's archives "
                                                f"than the {MAX_ARCHIVED} verified")),
                sub_indication=None, member=f"{skipped} PDF file(s)"))
        report.by_attachment[attachment.index] = entries
        log.info("archive_signatures", file=attachment.filename, sha256=attachment.sha256, pdfs=len(pdfs),
                 signatures=len(entries))

    def _verdict_of(self, data: bytes, deadline: float | None) -> PdfVerdict:
        """A PDF's verdict: kept from the trip that read its text, or verified now (and
        kept, so that the same file twice in a letter is verified once)."""
        sha256 = hashlib.sha256(data).hexdigest()
        verdict = self._kept.get(sha256)
        if verdict is not None:
            _log_deferred(verdict)
            self._kept[sha256] = dataclasses.replace(verdict, events=())  # logged once
            return verdict
        verdict = self._verify(data, sha256, deadline)
        self._kept[sha256] = verdict
        return verdict

    def _verify(self, data: bytes, sha256: str, deadline: float | None) -> PdfVerdict:
        timeout = self.timeout if deadline is None else min(self.timeout, deadline - time.monotonic())
        if timeout <= 0:
            return document_problem("timeout", "the letter's time for checking signatures was used up", sha256=sha256)
        return self.pool.verify_blocking(data, self.trust, timeout)

    def _check_signed_file(self, attachment: Attachment, report: SignatureReport) -> None:
        """A signed file (`letter.pdf.p7m`, CAdES) whose PDF follows it as a file of the
        letter: its signature is the PDF's, in the verdicts PDFs and S/MIME have. Until
        session 17 one sent as application/octet-stream was not verified at all, and one
        sent as application/pkcs7-mime was judged as a signed mail (the letter's other
        files said to be outside it), the PDF inside neither registered nor verified."""
        name = attachment.filename or f"file {attachment.index + 1}"
        entries = self._signed_file_entries(attachment.data, attachment.filename)
        report.by_attachment[attachment.index] = entries
        finding = finding_for(name, entries)
        if finding is not None:
            report.findings.append(finding)
        log.info("signed_file_signatures", indications=[e["indication"] for e in entries])

    def _signed_file_entries(self, der: bytes, name: str | None) -> list[dict]:
        from gateway.signatures.smime import verify_signed_file

        return verify_signed_file(der, self.trust, signed_file_name(name.rsplit("/", 1)[-1] if name else None))

    def _check_smime(self, raw: bytes, mail: ParsedMail, report: SignatureReport) -> None:
        from gateway.signatures.smime import verify_smime

        entries = verify_smime(raw, self.trust)
        if not entries:
            return
        # The verdict belongs to the signature file (smime.p7s / smime.p7m) in the register.
        # Not a signed file's (letter.pdf.p7m: `_check_signed_file` keeps its own verdict there).
        holder = next((a for a in mail.attachments
                       if (a.declared_type in _SMIME_TYPES or a.signature_envelope) and not a.unpacked), None)
        name = (holder.filename if holder else None) or "smime.p7s"
        if holder is not None:
            report.by_attachment[holder.index] = entries
        finding = finding_for(f"S/MIME ({name})", entries)
        if finding is not None:
            report.findings.append(finding)
        outside = list(dict.fromkeys(n for e in entries for n in e.get("not_covered") or ()))
        if outside:
            report.findings.append(not_covered_finding(name, outside, entries))
        log.info("smime_signatures", indications=[e["indication"] for e in entries])

    def close(self) -> None:
        self.pool.close()


_verify_log = structlog.get_logger("gateway.signatures.verify")


def _log_deferred(verdict: PdfVerdict) -> None:
    """The events the worker kept with a verdict made on a read trip (PdfVerdict.events)."""
    for event in verdict.events:
        fields = dict(event)
        name, level = str(fields.pop("event", "pdf_verify")), str(fields.pop("log_level", "info"))
        getattr(_verify_log, level if level in ("debug", "info", "warning", "error") else "info")(name, **fields)
