"""Verify every signature and document timestamp of one PDF with pyHanko's async API.

CPU-bound and fed hostile input: run it through `gateway.signatures.worker.verify_in_worker`
from the daemon; `verify_pdf` (which owns its own event loop) is for worker processes and
the command line.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import logging
import re

import structlog

from gateway.signatures.actions import ACTIONS_ADDED, actions_added
from gateway.signatures.asn1_names import ensure_asn1_names, prepare_name_values_once
from gateway.signatures.diff_policy import diff_policy
from gateway.signatures.names import cert_names
from gateway.signatures.pdf_hex import read_hex_strings_at_once
from gateway.signatures.revisions import (
    _meaningful,
    field_changes,
    listed_twice,
    redrawn_fields,
    signatures_dropped,
    unexplained_bytes,
    unlisted_objects,
)
from gateway.signatures.trust import (
    TrustSettings,
    anchor_validity_problem,
    claimed_time_problem,
    signer_constraints,
    signer_usage_problem,
    validity_problem,
)
from gateway.signatures.verdict import (
    INDETERMINATE,
    MOD_ANNOTATIONS,
    MOD_FORM_FIELDS,
    MOD_NONE,
    MOD_OTHER,
    MOD_SIGNATURES_ADDED,
    MOD_UNKNOWN,
    TOTAL_FAILED,
    TOTAL_PASSED,
    SUB_INDICATIONS,
    PdfVerdict,
    SignatureVerdict,
    document_problem,
)

log = structlog.get_logger(__name__)

DEFAULT_MAX_PAGES = 500

# What a person reads when a file or a signature could not be examined: the gateway's
# own words (Thai, English) for each kind of failure, never the library's exception,
# which goes to the log only (a verdict's message reaches the sender's notice, the
# folder copy, the register, the desk and the command line). check.py gives the Thai.
PROBLEMS: dict[str, tuple[str, str]] = {
    "unreadable": ("อ่านโครงสร้างไฟล์ PDF ไม่ได้ จึงตรวจลายมือชื่อไม่ได้",
                   "the PDF could not be read, so its signatures could not be checked"),
    "not_pdf": ("ไฟล์นี้อ่านเป็น PDF ไม่ได้",
                "the file could not be read as a PDF"),
    "too_deep": ("โครงสร้างไฟล์ PDF วนซ้ำหรือซ้อนลึกเกินไป",
                 "the PDF's object structure is circular or too deep"),
    "too_large": ("ไฟล์ PDF ต้องใช้หน่วยความจำเกินกว่าที่กำหนดในการตรวจ",
                  "the PDF needs more memory than allowed to check"),
    "no_page_tree": ("ไม่พบรายการหน้าของไฟล์ PDF ที่อ่านได้",
                     "the PDF has no readable page tree"),
    "encrypted": ("ไฟล์ PDF เข้ารหัสไว้ จึงตรวจลายมือชื่อไม่ได้หากไม่มีรหัส",
                  "the PDF is encrypted; its signatures cannot be checked without the key"),
    "signature_unreadable": ("อ่านข้อมูลลายมือชื่ออิเล็กทรอนิกส์ในไฟล์ไม่ได้",
                             "the signature's data could not be read"),
    "changed_unreadable": ("ไฟล์ถูกแก้ไขหลังลงลายมือชื่อ และอ่านส่วนที่แก้ไขไม่ได้ (ส่วนที่เพิ่มภายหลังเสียหายหรือถูกดัดแปลง)",
                           "the file was changed after signing and the change could not be read"
                           " (a damaged or crafted later revision)"),
    "read_leniently": ("ไฟล์ไม่เป็นไปตามมาตรฐาน PDF อย่างเคร่งครัด ตรวจด้วยการอ่านแบบผ่อนปรน",
                       "read leniently: the file does not follow the PDF standard strictly"),
    "suspicious_change": ("ไฟล์ถูกแก้ไขหลังลงลายมือชื่อเกินกว่าการกรอกแบบฟอร์มและการลงนาม",
                          "changed after signing beyond form filling and signing"),
}


def problem(kind: str) -> str:
    """The verdict's message (English) for a kind of failure of PROBLEMS."""
    return PROBLEMS[kind][1]


def quiet_library_logs() -> None:
    """pyHanko logs every untrusted chain and odd revision as a warning with a traceback;
    our verdict already says it, and users must never see a traceback for bad input."""
    for name in ("pyhanko", "pyhanko_certvalidator", "fontTools"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def verify_pdf(data: bytes, trust: TrustSettings, *, max_pages: int = DEFAULT_MAX_PAGES) -> PdfVerdict:
    """Verdicts for one PDF. Never raises on bad input. Not for use inside a running loop."""
    return asyncio.run(async_verify_pdf(data, trust, max_pages=max_pages))


async def async_verify_pdf(data: bytes, trust: TrustSettings, *, max_pages: int = DEFAULT_MAX_PAGES) -> PdfVerdict:
    from pyhanko.pdf_utils.misc import PdfStrictReadError

    quiet_library_logs()
    ensure_asn1_names()
    prepare_name_values_once()
    read_hex_strings_at_once()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        try:
            return await _verify(data, trust, max_pages, sha256, strict=True)
        except PdfStrictReadError as exc:
            # Sloppy producers are common; signatures are judged on their bytes anyway.
            log.info("pdf_read_leniently", sha256=sha256, error=_short(exc))
            return await _verify(data, trust, max_pages, sha256, strict=False, note=problem("read_leniently"))
    except MemoryError:
        return document_problem("too_large", problem("too_large"), sha256=sha256)
    except RecursionError:
        return document_problem("unreadable", problem("too_deep"), sha256=sha256)
    except Exception as exc:  # hostile input must yield a verdict, never a traceback
        log.info("pdf_unreadable", sha256=sha256, error=_short(exc))
        return document_problem("unreadable", problem("unreadable"), sha256=sha256)


def _short(exc: BaseException) -> str:
    """The exception for the log (never for a verdict: a person reads those)."""
    text = f"{type(exc).__name__}: {str(exc).strip()}"
    return text if len(text) <= 300 else text[:297] + "..."


def _open(data: bytes, strict: bool):
    """(reader, warnings, "ok") or (None, why, document state)."""
    from pyhanko.pdf_utils.misc import PdfReadError, PdfStrictReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    warnings: list[str] = []
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=strict)
    except PdfStrictReadError:
        raise
    except PdfReadError as exc:
        log.info("pdf_unreadable", error=_short(exc))
        return None, problem("not_pdf"), "unreadable"
    if reader.encrypted:
        from pyhanko.pdf_utils.crypt import AuthStatus, StandardSecurityHandler

        handler = reader.security_handler
        # An empty user password only hides the file from nobody; anything else we cannot open.
        if isinstance(handler, StandardSecurityHandler) and reader.decrypt(b"").status != AuthStatus.FAILED:
            warnings.append("encrypted with an empty user password")
        else:
            return None, problem("encrypted"), "encrypted"
    return reader, warnings, "ok"


async def _verify(
    data: bytes, trust: TrustSettings, max_pages: int, sha256: str, *, strict: bool, note: str | None = None
) -> PdfVerdict:
    reader, notes, state = _open(data, strict)
    if reader is None:
        return document_problem(state, notes, sha256=sha256)
    if strict and reader.xrefs.hybrid_xrefs_present:
        # pyHanko refuses hybrid-reference files in strict mode (readers that ignore the
        # XRefStm entry may see other objects). Word 2007-2013 writes them, so check the
        # signatures as pyHanko's lenient reader sees them and say so.
        return await _verify(data, trust, max_pages, sha256, strict=False,
                             note="hybrid-reference file (cross-reference table and stream): checked with the lenient reader")
    warnings = ([note] if note else []) + notes
    try:
        pages = int(reader.root["/Pages"]["/Count"])
    except Exception:
        return document_problem("unreadable", problem("no_page_tree"), sha256=sha256)
    if pages > max_pages:
        return PdfVerdict(
            document="too_many_pages",
            message=f"{pages} pages; the gateway checks at most {max_pages}",
            pages=pages,
            sha256=sha256,
        )
    embedded = reader.embedded_signatures
    extras = _dss_material(reader)
    file = _FileFacts(tail=unexplained_bytes(reader, data) if embedded else 0,
                      last_revision=reader.xrefs.total_revisions - 1, data=data, reader=reader)
    if file.tail:
        warnings.append(f"{file.tail} bytes of the file belong to no revision of it")
    verdicts = []
    try:
        for emb in embedded:
            later = {e.field_name for e in embedded if e is not emb and e.signed_revision > emb.signed_revision
                     and not _visible_timestamp(e)}
            verdicts.append(await _verify_one(emb, trust, extras, later, file))
    finally:
        file.close()
    if data.count(b"/ByteRange") > len(embedded):
        # A signature dictionary the form no longer lists. The signer wrote it in plain
        # bytes (its /Contents must sit in the gap of its /ByteRange), and an update
        # cannot take those bytes back without breaking the signature: where every
        # /ByteRange of the file is one pyHanko checked, there is none, and a signed
        # letter pays nothing for the walk (a form of 1,200 fields costs seconds in it).
        verdicts += [_dropped_verdict(reader, carried) for carried in signatures_dropped(
            reader, [r for r in map(_byte_range, embedded) if r is not None], max_pages=max_pages)]
    if verdicts and all(v.kind == "document_timestamp" for v in verdicts):
        # A timestamp authority's token proves when the file existed, not who wrote it:
        # any file can be timestamped by anyone at a trusted (public) TSA. Until session
        # 52 such a file was "signed, valid" by the TSA in the register, the folder copy
        # and the desk.
        verdicts = [dataclasses.replace(v, review=True, message="; ".join(
            m for m in (v.message, _shown("timestamp_only")) if m)) for v in verdicts]
    return PdfVerdict(
        signatures=tuple(verdicts), pages=pages, sha256=sha256, warnings=tuple(warnings)
    )


def _visible_timestamp(emb) -> bool:
    """A document timestamp whose field has a widget of some size on a page. A timestamp
    authority vouches for no text, and anyone can have any file timestamped at a public
    one: what such a widget shows (its appearance is outside the token's digest) was put
    on the page by whoever timestamped the file. So for an earlier signature its field
    counts as a form field filled in after signing, not as a signature added (until
    session 52 "APPROVED 9,000,000 THB" so added below a signed letter's text left the
    signature TOTAL_PASSED without review). pyHanko's and Acrobat's timestamps have an
    empty /Rect."""
    try:
        if emb.sig_object_type != "/DocTimeStamp":
            return False
        field = emb.sig_field
        for widget in [field, *(kid.get_object() for kid in field.get("/Kids", ()))]:
            rect = widget.get("/Rect")
            if rect is not None:
                x0, y0, x1, y1 = (float(v) for v in rect)
                if x0 != x1 and y0 != y1:
                    return True
        return False
    except Exception:  # noqa: BLE001 - a field we cannot measure may show anything
        return True


def _byte_range(emb) -> tuple[int, ...] | None:
    try:
        return tuple(int(v) for v in emb.byte_range)
    except Exception:  # noqa: BLE001 - a /ByteRange of other than numbers: its reference still tells
        return None


def _dropped_verdict(reader, carried) -> SignatureVerdict:
    """The verdict on a signature the file carries that its form no longer lists
    (revisions.signatures_dropped): the letter was changed after signing in a way that
    hides the signature from every check. Not validated (what it signed is not what the
    file is now, whatever its crypto says); its signer is named as its certificate says."""
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    signer = org = issuer = None
    kind = "signature"
    try:
        emb = EmbeddedPdfSignature(reader, carried.field_dict, carried.field)
        kind = "document_timestamp" if emb.sig_object_type == "/DocTimeStamp" else "signature"
        signer, org, issuer = cert_names(emb.signer_cert)
    except Exception as exc:  # noqa: BLE001 - a signature we cannot read is still one the form dropped
        log.info("pdf_dropped_signature_unreadable", error=_short(exc))
    log.info("pdf_signature_dropped_from_form", field=carried.field, page=carried.page)
    where = dict(page_th=f" (กรอบลายมือชื่อยังอยู่ในหน้า {carried.page})" if carried.page else "",
                 page_en=f" (its box is still on page {carried.page})" if carried.page else "")
    return SignatureVerdict(
        kind=kind,
        indication=INDETERMINATE,
        sub_indication="SIG_CONSTRAINTS_FAILURE",
        signer=signer,
        organisation=org,
        issuer=issuer,
        signed_at=None,
        signed_at_source=None,
        covers_whole_file=False,
        modifications=MOD_OTHER,
        review=True,
        field=carried.field or None,
        message=_shown("dropped_from_form", **where),
    )


@dataclasses.dataclass
class _FileFacts:
    tail: int  # bytes outside every revision pyHanko parsed (blank space and comments aside)
    last_revision: int
    data: bytes = b""
    reader: object = None
    # What a viewer shows (PDFium): opened for the first signature with bytes after it,
    # then shared by every signature of the file (its pages are rendered once).
    _final: object = None
    _unlisted: dict = dataclasses.field(default_factory=dict)
    _hidden: dict = dataclasses.field(default_factory=dict)
    _twice: dict = dataclasses.field(default_factory=dict)
    _pages_differ: bool | None = None

    def final(self):
        from gateway.signatures.visual_diff import FinalFile

        if self._final is None:
            self._final = FinalFile(self.data)
        return self._final

    def unlisted(self, start: int) -> list:
        """Object definitions after byte `start` that no cross-reference section lists
        (revisions.unlisted_objects)."""
        if start not in self._unlisted:
            self._unlisted[start] = (unlisted_objects(self.reader, self.data, start=start)
                                     if self.reader is not None else [])
        return self._unlisted[start]

    def hidden_when_signed(self, end: int) -> int:
        """Object definitions before byte `end` (the signed bytes) that no cross-reference
        section lists, counted only when PDFium rejects the signed bytes' table (0.1 ms
        a file, whatever its size): then Chrome and Edge rebuild the table by scanning
        and show the last definition of each object, every other reader what the table
        lists. 0 when PDFium reads the table (then it shows what the table lists too)."""
        if end not in self._hidden:
            from gateway.signatures.visual_diff import xref_usable

            hidden = 0
            if self.reader is not None and xref_usable(self.data[:end]) is False:
                hidden = sum(1 for offset, _, _ in unlisted_objects(self.reader, self.data, start=0) if offset < end)
            self._hidden[end] = hidden
        return self._hidden[end]

    def twice_when_signed(self, end: int) -> list:
        """Object numbers a cross-reference table inside the signed bytes (before byte
        `end`) lists twice (revisions.listed_twice): readers differ in which entry they
        take (pyHanko and PDFium the last, poppler and pypdf the first)."""
        if end not in self._twice:
            self._twice[end] = listed_twice(self.data[:end] if end < len(self.data) else self.data)
        return self._twice[end]

    def pages_differ(self) -> bool:
        """Whether Chrome's and Evince's readings of the page tree find other pages
        (page_space.readers_pages_differ): a /Page that also has /Kids is a page to
        poppler and a node to PDFium."""
        if self._pages_differ is None:
            from gateway.signatures.page_space import readers_pages_differ

            try:
                self._pages_differ = readers_pages_differ(self.reader.root["/Pages"]) if self.reader is not None else False
            except Exception:  # noqa: BLE001 - no page tree to read: pyHanko's reading speaks for it
                self._pages_differ = False
        return self._pages_differ

    def close(self) -> None:
        if self._final is not None:
            self._final.close()
            self._final = None


def _dss_material(reader):
    """Certificates, CRLs and OCSP responses the file carries (PAdES-LT): usable offline."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError

    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return (), (), ()
    except Exception as exc:  # a broken DSS only costs us its revocation data
        log.info("pdf_dss_unreadable", error=_short(exc))
        return (), (), ()
    certs = list(dss.load_certs())
    crls = [asn1_crl.CertificateList.load(ref.get_object().data) for ref in dss.crls]
    ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps]
    return certs, crls, ocsps


async def _verify_one(emb, trust: TrustSettings, extras, later_fields: set[str], file: _FileFacts) -> SignatureVerdict:
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.pdf_embedded import (
        async_validate_pdf_signature,
        async_validate_pdf_timestamp,
    )

    kind = "document_timestamp" if emb.sig_object_type == "/DocTimeStamp" else "signature"
    certs, crls, ocsps = extras
    context = trust.validation_context(extra_certs=certs, extra_crls=crls, extra_ocsps=ocsps)
    try:
        if kind == "signature":
            status = await async_validate_pdf_signature(
                emb, signer_validation_context=context, diff_policy=diff_policy(),
                key_usage_settings=signer_constraints(),
            )
        else:
            status = await async_validate_pdf_timestamp(emb, validation_context=context, diff_policy=diff_policy())
    except SignatureValidationError as exc:
        sub = getattr(exc, "ades_subindication", None)
        indication = TOTAL_FAILED if sub is not None and type(sub).__name__ == "AdESFailure" else INDETERMINATE
        known = _known(sub.name) if sub is not None else "FORMAT_FAILURE"
        log.info("pdf_signature_invalid", sub_indication=known, error=_short(exc))
        message = trust_message(known) if known != "FORMAT_FAILURE" else problem("signature_unreadable")
        return _bare(emb, kind, indication, known, message)
    except Exception as exc:
        log.info("pdf_signature_unreadable", error=_short(exc))
        if _changed_after(emb, file):
            # The signature's own bytes were read; a revision saved after it was not
            # (a stream cut short, an object number that lies: the Shadow attacks' files).
            # "The signature's data could not be read" sent the clerk to the signer.
            return _bare(emb, kind, INDETERMINATE, "FORMAT_FAILURE", problem("changed_unreadable"), MOD_OTHER)
        return _bare(emb, kind, INDETERMINATE, "FORMAT_FAILURE", problem("signature_unreadable"))
    before_expiry = ""
    if kind == "signature":
        status, before_expiry = await _valid_when_timestamped(emb, status, trust, extras)
    verdict = _from_status(emb, kind, status, later_fields, file)
    if before_expiry:
        verdict = dataclasses.replace(verdict, message="; ".join(m for m in (before_expiry, verdict.message) if m))
    if trust.is_own_seal(emb.signer_cert):
        # A letter that already carries our stamp may be one already registered (a
        # folder copy sent back in): a person checks. A unit forwarding a letter it
        # received is legitimate, so review, never refusal.
        verdict = dataclasses.replace(verdict, review=True, message="; ".join(
            m for m in ("receive stamp (ตรารับ) sealed by this gateway", verdict.message,
                        already_stamped_sentence(_stamp_number(file))) if m))
    if verdict.sub_indication == "CERTIFICATE_CHAIN_GENERAL_FAILURE" and trust.revocation_mode != "soft-fail":
        if await _chain_ok_without_revocation(emb, trust, extras):
            # pyHanko files "no revocation data" under the general failure; DSS says
            # TRY_LATER, which is what the operator needs to hear (refresh the CRL cache).
            verdict = dataclasses.replace(
                verdict, sub_indication="TRY_LATER", message=TRUST_MESSAGES["TRY_LATER"]
            )
    return verdict


# What a certificate's end of validity makes of a signature validated now.
EXPIRY_SUB_INDICATIONS = frozenset({"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED"})


async def _valid_when_timestamped(emb, status, trust: TrustSettings, extras):
    """(status, sentence): a signature whose signer's certificate (or a CA's above it)
    has expired since, and whose own trusted timestamp (PAdES-T) proves it was made
    while the chain was valid, is validated as of that time (ETSI EN 319 102-1 5.6.2.4,
    past signature validation: the timestamp is the proof of existence). That is what
    a signature timestamp is for; pyHanko validates at the current time only, and until
    session 55 such a letter (an enclosure signed last year) read "there is no proof the
    signature existed earlier", INDETERMINATE, with the timestamp's time beside it.
    The chain is built again at the timestamp's time, with the revocation data we hold
    (issued since, so it speaks for that time too: a certificate revoked before it fails);
    anything else stays as validated now. The sentence says so (English, then Thai)."""
    ts = getattr(status, "timestamp_validity", None)
    if ts is None or not (ts.intact and ts.valid and ts.trusted) or not (status.intact and status.valid):
        return status, ""
    _, sub, _ = _indication(status, "signature", False, _embedded_certs(emb))
    if sub not in EXPIRY_SUB_INDICATIONS:
        return status, ""
    import datetime as dt

    from pyhanko_certvalidator import CertificateValidator

    at = ts.timestamp
    now = dt.datetime.now(dt.timezone.utc)
    if at is None or at > now:
        return status, ""  # a time yet to come proves nothing of the past
    certs, crls, ocsps = extras
    context = trust.validation_context(extra_certs=certs, extra_crls=crls, extra_ocsps=ocsps, moment=at)
    try:
        validator = CertificateValidator(emb.signer_cert, intermediate_certs=_embedded_certs(emb),
                                         validation_context=context)
        path = await validator.async_validate_path()
    except Exception as exc:  # noqa: BLE001 - not valid then either: the verdict of now stands
        log.info("pdf_signature_not_valid_at_timestamp", error=_short(exc))
        return status, ""
    status = dataclasses.replace(status, trust_problem_indic=None, validation_path=path, validation_time=at,
                                 revocation_details=None)
    expired = [c for c in path if c.not_valid_after < now]
    signer_expired = any(c is emb.signer_cert or c.dump() == emb.signer_cert.dump() for c in expired)
    until = min((c.not_valid_after for c in expired), default=None)
    if until is None:
        return status, ""
    whose_en, whose_th = (("the signer's certificate", "ใบรับรองของผู้ลงนาม") if signer_expired
                          else ("a CA certificate of the signer's chain", "ใบรับรองของผู้ออกใบรับรองในสาย"))
    when, then = until.date().isoformat(), at.date().isoformat()
    return status, (f"{whose_en} expired on {when}; a trusted timestamp shows the signature was made on {then}, "
                    f"while it was valid ({whose_th}หมดอายุเมื่อ {when} แต่ตราประทับเวลาที่เชื่อถือได้แสดงว่า"
                    f"ลงลายมือชื่อเมื่อ {then} ขณะใบรับรองยังมีผล)")


async def _chain_ok_without_revocation(emb, trust: TrustSettings, extras) -> bool:
    from pyhanko_certvalidator import CertificateValidator

    certs, crls, ocsps = extras
    lenient = dataclasses.replace(trust, revocation_mode="soft-fail")
    context = lenient.validation_context(extra_certs=certs, extra_crls=crls, extra_ocsps=ocsps)
    try:
        validator = CertificateValidator(
            emb.signer_cert, intermediate_certs=list(emb.other_embedded_certs), validation_context=context
        )
        await validator.async_validate_path()
        return True
    except Exception:
        return False


def _changed_after(emb, file: _FileFacts) -> bool:
    """Whether the file has a revision saved after the one `emb` signs."""
    try:
        return emb.signed_revision < file.last_revision
    except Exception:  # noqa: BLE001 - a signature whose revision is unknown says nothing here
        return False


def _bare(emb, kind, indication, sub, message, modifications: str = MOD_UNKNOWN) -> SignatureVerdict:
    """A verdict for a signature pyHanko could not evaluate: still name whoever we can."""
    try:
        signer, org, issuer = cert_names(emb.signer_cert)
    except Exception:
        signer = org = issuer = None
    try:
        field = emb.field_name
    except Exception:
        field = None
    return SignatureVerdict(
        kind=kind, indication=indication, sub_indication=sub, signer=signer, organisation=org,
        issuer=issuer, signed_at=None, signed_at_source=None, covers_whole_file=False,
        modifications=modifications, review=True, field=field, message=message,
    )


def _modifications(emb, status, later_fields: set[str], file: _FileFacts):
    """(modifications, changed fields, message, field changes) after the signed revision."""
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    coverage = status.coverage
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return MOD_NONE, (), "", ()
    if coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return MOD_OTHER, (), "the signature does not cover its own revision of the file", ()
    if file.tail:
        # pyHanko's diff ends at the last revision it parsed; what follows is invisible
        # to it and may be what a reader shows (incremental saving attack).
        return (MOD_OTHER, (), f"{file.tail} bytes were added to the file outside any revision "
                f"of it (readers may show them; an incremental saving attack)", ())
    if emb.signed_revision >= file.last_revision:
        return MOD_NONE, (), "", ()  # only blank padding after the signature
    found = _diff_modifications(emb, status, later_fields)
    added = actions_added(emb.reader, emb.signed_revision, file.last_revision)  # pyHanko does not look at them
    if found[0] == MOD_OTHER:
        # pyHanko's own words first; the actions said too when they were read (not when
        # the later revisions could not be looked through: its words say more then).
        if added and added.startswith(ACTIONS_ADDED):
            return found[0], found[1], f"{found[2]}; {added}", found[3]
        return found
    if added is not None:
        return MOD_OTHER, (), added, ()
    if found[0] in (MOD_SIGNATURES_ADDED, MOD_FORM_FIELDS):
        redrawn = redrawn_fields(emb.reader, emb.signed_revision, skip=found[1])
        if redrawn:
            return (MOD_FORM_FIELDS, tuple(sorted({*found[1], *(c.field for c in redrawn)})),
                    "; ".join(m for m in (found[2], *(c.describe() for c in redrawn)) if m), (*found[3], *redrawn))
    return found


def _diff_modifications(emb, status, later_fields: set[str]):
    """`_modifications` by pyHanko's difference analysis of the later revisions."""
    from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel

    diff = status.diff_result
    if diff is None:
        return MOD_UNKNOWN, (), "changes after signing were not analysed", ()
    if not isinstance(diff, DiffResult):  # pyHanko's SuspiciousModification
        log.info("pdf_signature_suspicious_change", detail=str(diff)[:300])
        return MOD_OTHER, (), problem("suspicious_change"), ()
    level = diff.modification_level
    if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        return MOD_SIGNATURES_ADDED, (), "", ()
    if level == ModificationLevel.FORM_FILLING:
        # pyHanko counts a later signature as form filling; only other fields matter.
        changed = tuple(sorted(set(diff.changed_form_fields) - later_fields))
        if changed:
            changes = field_changes(emb.reader, emb.signed_revision, changed)
            return MOD_FORM_FIELDS, changed, "; ".join(c.describe() for c in changes), changes
        return MOD_SIGNATURES_ADDED, (), "", ()
    if level == ModificationLevel.ANNOTATIONS:
        return MOD_ANNOTATIONS, tuple(sorted(diff.changed_form_fields)), "annotations added or changed after signing", ()
    return MOD_OTHER, (), "the content was changed after signing", ()


def _known(sub: str) -> str:
    """A sub-indication the documentation lists (pyHanko may grow new ones)."""
    return sub if sub in SUB_INDICATIONS else "GENERIC"


known_sub_indication = _known


def trust_message(sub: str) -> str:
    return TRUST_MESSAGES.get(sub) or SUB_INDICATIONS[_known(sub)][1]


def _indication(status, kind: str, certification: bool, others=()) -> tuple[str, str | None, str]:
    """ETSI indication of one pyHanko status: crypto first, then trust, then policy.
    `others`: the certificates the signature carries (its chain)."""
    from pyhanko.sign.ades.report import AdESFailure

    if not status.intact:
        return TOTAL_FAILED, "HASH_FAILURE", "the signed bytes were altered"
    if not status.valid:
        return TOTAL_FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify"
    indic = status.trust_problem_indic
    if indic is not None and indic.name == "CHAIN_CONSTRAINTS_FAILURE" and _self_signed(status.signing_cert):
        # pyHanko files an unknown self-signed signer under chain constraints; DSS (and
        # the reader) call it what it is: no chain to any root we trust.
        return INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", "self-signed certificate: no chain to a configured trust root"
    if indic is not None and indic.name == "CERTIFICATE_CHAIN_GENERAL_FAILURE" and (
            early := validity_problem(status.signing_cert, others)) is not None:
        return early
    if indic is not None:
        failed = isinstance(indic, AdESFailure)
        return (TOTAL_FAILED if failed else INDETERMINATE), _known(indic.name), trust_message(indic.name)
    if status.validation_path is None:
        return INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", TRUST_MESSAGES["NO_CERTIFICATE_CHAIN_FOUND"]
    # A document timestamp's certificate is a TSA's (time stamping): only signers' are
    # held to the signing policy (pyHanko holds a TSA's to time stamping).
    # As of the validation's time: now, or a trusted timestamp's (_valid_when_timestamped).
    constraint = anchor_validity_problem(status.validation_path, getattr(status, "validation_time", None)) or (
        signer_usage_problem(status.validation_path, status.signing_cert) if kind == "signature" else None)
    if constraint is not None:
        return INDETERMINATE, constraint[0], constraint[1]
    if kind == "signature":
        ts = status.timestamp_validity
        if ts is not None and not (ts.intact and ts.valid and ts.trusted):
            sub = _known(ts.trust_problem_indic.name) if ts.trust_problem_indic is not None else "SIG_CRYPTO_FAILURE"
            return INDETERMINATE, sub, "the signature's timestamp does not verify"
        if status.docmdp_ok is False:
            if certification:
                return INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", "the file was changed after it was certified in a way the certification does not allow"
            return INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", "the file was changed after signing beyond filling in forms and adding signatures"
        if not status.seed_value_ok:
            return INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", "the signature breaks its field's seed-value constraints"
    elif status.docmdp_ok is False:
        return INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", "the file was changed after the timestamp in a way no policy allows"
    return TOTAL_PASSED, None, ""


TRUST_MESSAGES = {
    "NO_CERTIFICATE_CHAIN_FOUND": "no chain to a configured trust root",
    "REVOKED": "the signer's certificate has been revoked",
    "REVOKED_NO_POE": "the signer's certificate has been revoked",
    "OUT_OF_BOUNDS_NO_POE": "the signer's certificate was not valid at the time of validation and there is no proof the signature existed earlier",
    "OUT_OF_BOUNDS_NOT_REVOKED": "the signer's certificate has expired",
    "EXPIRED": "the signer's certificate has expired",
    "NOT_YET_VALID": "the signer's certificate is not yet valid",
    "TRY_LATER": "revocation status is not available (offline); try again when it is",
    "REVOCATION_OUT_OF_BOUNDS_NO_POE": "revocation data is too old or too new for the signing time",
    "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain breaks a constraint (key usage, path length...)",
}


def _self_signed(cert) -> bool:
    try:
        return cert.self_signed in ("maybe", "yes") or cert.subject == cert.issuer
    except Exception:
        return False


def _from_status(emb, kind: str, status, later_fields: set[str], file: _FileFacts) -> SignatureVerdict:
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    docmdp = emb.docmdp_level if kind == "signature" else None
    certification = None
    if docmdp is not None and emb.sig_object.get("/Reference") is not None and _is_certification(emb):
        certification = docmdp.name.lower()
    indication, sub, message = _indication(status, kind, certification is not None, _embedded_certs(emb))
    mods, changed, mod_message, changes = _modifications(emb, status, later_fields, file)
    shown_changed, shown_review, shown_sentences = _as_shown(emb, status, file)
    if shown_sentences:
        mod_message = "; ".join(m for m in (mod_message, *shown_sentences) if m)
    if shown_changed and mods in (MOD_NONE, MOD_SIGNATURES_ADDED) and coverage_of(status) != "entire_file":
        mods = MOD_OTHER  # more than signatures were added: what was signed is not what is shown
    if indication == TOTAL_PASSED and (mods == MOD_OTHER or shown_changed or any(c.replaced for c in changes)):
        # Either the diff shows nothing wrong only because it never saw the change (bytes
        # past the last revision, objects no cross-reference section lists), or a field
        # the signed page showed now shows something else (Shadow "replace"), or signed
        # content is covered or changed on the page a viewer shows: the signer did not
        # sign what a reader sees.
        indication, sub = INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"
    signer, org, issuer = cert_names(status.signing_cert)
    if kind == "signature":
        ts = status.timestamp_validity
        if ts is not None and ts.trusted:
            signed_at, source = ts.timestamp, "timestamp"
        else:
            signed_at, source = status.signer_reported_dt, ("claimed" if status.signer_reported_dt else None)
            false_time = claimed_time_problem(status.signing_cert, signed_at) if indication == TOTAL_PASSED else None
            if false_time is not None:
                indication, sub = INDETERMINATE, false_time[0]
                message = "; ".join(m for m in (message, false_time[1]) if m)
    else:
        signed_at, source = status.timestamp, "timestamp"
    review = indication != TOTAL_PASSED or mods not in (MOD_NONE, MOD_SIGNATURES_ADDED) or shown_review
    return SignatureVerdict(
        kind=kind,
        indication=indication,
        sub_indication=sub,
        signer=signer,
        organisation=org,
        issuer=issuer,
        signed_at=signed_at,
        signed_at_source=source,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        modifications=mods,
        changed_fields=changed,
        certification=certification,
        review=review,
        field=emb.field_name,
        message="; ".join(m for m in (message, mod_message) if m),
    )


def coverage_of(status) -> str:
    """pyHanko's coverage level, by name ("entire_file", "entire_revision", ...)."""
    return str(getattr(status.coverage, "name", "")).lower()


def _embedded_certs(emb) -> list:
    try:
        return list(emb.other_embedded_certs)
    except Exception:
        return []


def _is_certification(emb) -> bool:
    refs = emb.sig_object.get("/Reference")
    try:
        return any(ref.get_object().get("/TransformMethod") == "/DocMDP" for ref in refs)
    except Exception:
        return False


# ------------------------------------------------------------------ what a viewer shows
#
# pyHanko judges a later revision by the objects its cross-reference sections list; a
# viewer may show something else (gateway/signatures/visual_diff.py, docs/signatures.md
# "Signed content covered after signing"). Only a signature with bytes after its signed
# revision is looked at: an unsigned file, or one whose signatures cover all of it,
# pays nothing.

# The clerk's sentences (Thai, English), as PROBLEMS; the message carries both.
SHOWN_TEXTS: dict[str, tuple[str, str]] = {
    "unlisted": ("หลังลงลายมือชื่อมีการเพิ่มออบเจกต์ {count} รายการที่ไม่อยู่ในตารางอ้างอิงของไฟล์ "
                 "โปรแกรมอ่านที่สร้างตารางใหม่เองจะแสดงสิ่งนั้นแทนสิ่งที่ลงนามไว้",
                 "{count} object(s) were added after signing that no cross-reference section lists; "
                 "a reader that rebuilds the table shows them instead of what was signed"),
    "listed_twice": ("หลังลงลายมือชื่อ ตารางอ้างอิงของไฟล์ระบุออบเจกต์เดียวกันซ้ำสองครั้ง {count} รายการ "
                     "โปรแกรมอ่านแต่ละโปรแกรมจึงอาจแสดงคนละฉบับ และอาจไม่ใช่ฉบับที่ลงนามไว้",
                     "after signing, a cross-reference section lists {count} object(s) twice; "
                     "readers differ in which copy they show, and it may not be the one signed"),
    "xref_rejected": ("ตารางอ้างอิงของไฟล์ที่แก้หลังลงลายมือชื่อใช้ไม่ได้ โปรแกรมอ่าน (เช่น Chrome, Edge) "
                      "จะสร้างตารางใหม่และอาจแสดงเนื้อหาต่างจากที่ตรวจ",
                      "the cross-reference table written after signing is not usable: viewers (Chrome, Edge) "
                      "rebuild it and may show other content than was checked"),
    "xref_rejected_signed": ("ตารางอ้างอิงของไฟล์ใช้ไม่ได้ โปรแกรมอ่านแต่ละโปรแกรมอาจแสดงเนื้อหาต่างกัน",
                             "the file's cross-reference table is not usable: readers may disagree on what it shows"),
    "hidden_signed": ("ตารางอ้างอิงของไฟล์ที่ลงลายมือชื่อไว้ใช้ไม่ได้ และมีออบเจกต์ {count} รายการที่ไม่อยู่ในตารางอ้างอิง "
                      "โปรแกรมอ่านที่สร้างตารางใหม่เอง (เช่น Chrome, Edge) จะแสดงออบเจกต์เหล่านั้น ส่วนโปรแกรมอื่นแสดงตามตาราง "
                      "จึงเห็นเนื้อหาที่ลงนามไว้ต่างกัน",
                      "the signed file's cross-reference table is not usable and it holds {count} object(s) that no "
                      "cross-reference section lists: viewers that rebuild the table (Chrome, Edge) show them, other "
                      "readers what the table lists, so readers differ on what was signed"),
    "listed_twice_signed": ("ตารางอ้างอิงของไฟล์ที่ลงลายมือชื่อไว้ระบุออบเจกต์เดียวกันซ้ำสองครั้ง {count} รายการ "
                            "โปรแกรมอ่านแต่ละโปรแกรมจึงแสดงคนละฉบับ (Chrome, Edge แสดงฉบับหลัง Evince, Okular แสดงฉบับแรก) "
                            "และเห็นเนื้อหาที่ลงนามไว้ต่างกัน",
                            "the signed file's cross-reference table lists {count} object(s) twice: readers differ "
                            "in which copy they show (Chrome and Edge the last, Evince and Okular the first), so "
                            "they differ on what was signed"),
    "pages_differ": ("โครงสร้างหน้าของไฟล์ที่ลงลายมือชื่อไว้ขัดกันเอง โปรแกรมอ่านแต่ละโปรแกรม (Chrome, Edge กับ Evince, Okular) "
                     "จึงแสดงหน้าต่างกัน และเห็นเนื้อหาที่ลงนามไว้ต่างกัน",
                     "the signed file's page tree contradicts itself: readers (Chrome and Edge, Evince and Okular) "
                     "show different pages, so they differ on what was signed"),
    "dropped_from_form": ("ไฟล์ยังมีลายมือชื่ออิเล็กทรอนิกส์ที่แบบฟอร์มของไฟล์ไม่ได้ระบุไว้แล้ว{page_th} "
                          "คือถูกนำออกหลังลงลายมือชื่อ จึงไม่ได้ตรวจ และเนื้อหาอาจไม่ใช่ที่ลงนามไว้",
                          "a signature the file carries is no longer listed in its form: it was removed after "
                          "signing{page_en}, so it was not checked and the content may not be what was signed"),
    "timestamp_only": ("ไฟล์ไม่มีลายมือชื่ออิเล็กทรอนิกส์ของผู้ใด มีเพียงตราประทับเวลาของผู้ให้บริการประทับเวลา "
                       "ซึ่งยืนยันได้เพียงว่าไฟล์มีอยู่ ณ เวลานั้น ไม่ได้ยืนยันว่าผู้ใดเขียนหรือลงนาม",
                       "no one signed this file: it carries only a document timestamp of a timestamp authority, "
                       "which proves the file existed at that time, not who wrote or signed it"),
    "already_stamped": ("ไฟล์นี้มีตรารับหนังสือที่ระบบนี้ประทับไว้แล้ว{number_th} ตรวจสอบว่าไม่ใช่หนังสือที่ลงรับไปแล้ว",
                        "the file already carries this gateway's receive stamp{number_en}: check that it is "
                        "not a letter already registered"),
}


def _shown(kind: str, **values) -> str:
    thai, english = SHOWN_TEXTS[kind]
    return f"{english.format(**values)} ({thai.format(**values)})"


def already_stamped_sentence(number: str | None) -> str:
    return _shown("already_stamped", number_th=f" (เลขรับ {number})" if number else "",
                  number_en=f" (receive number {number})" if number else "")


def _signed_end(emb) -> int | None:
    try:
        byte_range = [int(v) for v in emb.sig_object["/ByteRange"]]
        return byte_range[2] + byte_range[3]
    except Exception:
        return None


def _as_shown(emb, status, file: _FileFacts) -> tuple[bool, bool, list[str]]:
    """(changed, review, sentences): does a viewer still show what this signature
    signed? Looked at only for an intact signature of its whole revision with bytes
    after it."""
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    if not file.data or not (status.intact and status.valid):
        return False, False, []
    end = _signed_end(emb)
    if end is None or status.coverage not in (SignatureCoverageLevel.ENTIRE_REVISION,
                                              SignatureCoverageLevel.ENTIRE_FILE):
        return False, False, []
    changed, review, sentences = False, False, []
    hidden = file.hidden_when_signed(end)
    if hidden:
        # Inside the signed bytes themselves: the signer signed both copies of an object,
        # and which one a reader shows depends on the reader. Until session 55 a letter
        # prepared so (its table written with 19-byte entries, a second copy of page 1's
        # content after the first, then signed: the signature covers the whole file) was
        # TOTAL_PASSED, no review, while Chrome showed "9,000,000 THB" where pyHanko,
        # poppler and the register read "1,000 THB".
        changed = True
        sentences.append(_shown("hidden_signed", count=hidden))
    twice_signed = file.twice_when_signed(end)
    if twice_signed:
        # The same, by a table that lists page 1's content twice, a second copy first:
        # poppler (Evince, Okular, pdftotext) and pypdf showed "9,000,000 THB", pyHanko
        # and PDFium "1,000 THB", and the signature passed (session 55).
        changed = True
        sentences.append(_shown("listed_twice_signed", count=len(twice_signed)))
    if file.pages_differ():
        # A page tree readers walk differently: Chrome showed the /Page's kid ("9,000,000
        # THB"), Evince the /Page itself ("1,000 THB"), and the signature passed (session 55).
        changed = True
        sentences.append(_shown("pages_differ"))
    if end >= len(file.data) or not _meaningful(file.data[end:]):
        return changed, False, sentences
    added = file.unlisted(end)
    if added:
        changed = True
        sentences.append(_shown("unlisted", count=len(added)))
    twice = listed_twice(file.data, start=end)
    if twice:
        changed = True
        sentences.append(_shown("listed_twice", count=len(twice)))
    from gateway.signatures.visual_diff import compare, xref_usable

    final = file.final()
    if final.xref_ok is False:
        if xref_usable(file.data[:end]):
            changed = True
            sentences.append(_shown("xref_rejected"))
        elif not hidden:
            review = True
            sentences.append(_shown("xref_rejected_signed"))
    seen = compare(final, file.data[:end])
    if seen.changed:
        changed = True
    if seen.incomplete or seen.signed_unreadable:
        review = True
    sentences += seen.sentences()
    if changed or review:
        log.info("pdf_signature_not_as_shown", field=emb.field_name, changed=changed,
                 covered=list(seen.covered), unlisted=len(added), xref_ok=final.xref_ok)
    return changed, review, sentences


def _stamp_number(file: _FileFacts) -> str | None:
    """The receive number (เลขรับ) our stamp shows on page 1, as PDFium reads the
    stamp's appearance, or None. (Our stamp is always on page 1; were there several,
    the last one's.)"""
    from gateway.signatures.visual_diff import annotation_text

    found = re.findall(r"เลขรับ\s*([0-9๐-๙][0-9๐-๙/]*)", annotation_text(file.data, 0) if file.data else "")
    return found[-1] if found else None
