"""Verdicts in the ETSI EN 319 102-1 / DSS vocabulary, JSON-ready.

`indication` is TOTAL_PASSED, TOTAL_FAILED or INDETERMINATE (per signature), and a
document-level NO_SIGNATURE_FOUND when a PDF carries none. `review` is true whenever a
human should look: anything changed after signing other than added signatures and
timestamps, or any indication other than TOTAL_PASSED.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

TOTAL_PASSED = "TOTAL_PASSED"
TOTAL_FAILED = "TOTAL_FAILED"
INDETERMINATE = "INDETERMINATE"
NO_SIGNATURE_FOUND = "NO_SIGNATURE_FOUND"

# Worst first: the document's indication is that of its worst signature.
_RANK = {TOTAL_FAILED: 0, INDETERMINATE: 1, TOTAL_PASSED: 2}

# What changed after the signed revision (the `modifications` field).
MOD_NONE = "none"  # the signature covers the whole file
MOD_SIGNATURES_ADDED = "signatures_added"  # later signatures / timestamps / DSS only
MOD_FORM_FIELDS = "form_fields_changed"
MOD_ANNOTATIONS = "annotations_changed"
MOD_OTHER = "other"  # pages, content, anything pyHanko's diff policy does not explain
MOD_UNKNOWN = "unknown"


@dataclass(frozen=True)
class SignatureVerdict:
    """One signature or document timestamp."""

    kind: str  # "signature" | "document_timestamp" | "smime"
    indication: str
    sub_indication: str | None
    signer: str | None  # subject common name
    organisation: str | None
    signed_at: dt.datetime | None
    signed_at_source: str | None  # "timestamp" (trusted TSA) | "claimed" (signer's clock)
    covers_whole_file: bool
    modifications: str
    changed_fields: tuple[str, ...] = ()
    review: bool = False
    field: str | None = None  # PDF signature field name
    certification: str | None = None  # DocMDP of a certifying signature: no_changes, ...
    issuer: str | None = None
    message: str = ""
    # An S/MIME signature's reach: the files inside what it signs, and the files of the
    # mail outside every signed part (signed by no one). None for a PDF's signature.
    covers: tuple[str, ...] | None = None
    not_covered: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        reach = {} if self.covers is None else {"covers": list(self.covers), "not_covered": list(self.not_covered)}
        return {
            "kind": self.kind,
            "field": self.field,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "signer": self.signer,
            "organisation": self.organisation,
            "issuer": self.issuer,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "signed_at_source": self.signed_at_source,
            "covers_whole_file": self.covers_whole_file,
            "modifications": self.modifications,
            "changed_fields": list(self.changed_fields),
            "certification": self.certification,
            "review": self.review,
            "message": self.message,
            **reach,
        }


@dataclass(frozen=True)
class PdfVerdict:
    """Every signature of one file, plus what went wrong with the file itself."""

    signatures: tuple[SignatureVerdict, ...] = ()
    document: str = "ok"  # ok | unreadable | encrypted | too_large | too_many_pages | timeout | crashed
    message: str = ""
    pages: int | None = None
    sha256: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # The log events of a verification made while the file's text was read (worker.py,
    # a read trip), before anyone knew whether the letter is classified: logged by
    # check.py once the letter is known to be ordinary, dropped with a classified one's
    # verdicts. They name the file's hash, its signature fields and pyHanko's words
    # about its signer, none of which may be logged for a ลับ letter.
    events: tuple[dict, ...] = field(default=(), compare=False, repr=False)

    @property
    def indication(self) -> str:
        if self.document != "ok":
            return INDETERMINATE
        if not self.signatures:
            return NO_SIGNATURE_FOUND
        return min((s.indication for s in self.signatures), key=lambda i: _RANK.get(i, 0))

    @property
    def sub_indication(self) -> str | None:
        if self.document == "timeout":
            return "TRY_LATER"
        if self.document != "ok":
            return "FORMAT_FAILURE"
        worst = self.indication
        for sig in self.signatures:
            if sig.indication == worst:
                return sig.sub_indication
        return None

    @property
    def review(self) -> bool:
        if self.document != "ok":
            return True
        return any(s.review for s in self.signatures)

    def as_dict(self) -> dict:
        return {
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "document": self.document,
            "message": self.message,
            "review": self.review,
            "pages": self.pages,
            "sha256": self.sha256,
            "warnings": list(self.warnings),
            "signatures": [s.as_dict() for s in self.signatures],
        }


def document_problem(document: str, message: str, *, sha256: str | None = None) -> PdfVerdict:
    return PdfVerdict(document=document, message=message, sha256=sha256)


# Every sub-indication the gateway can put in a verdict, with the text a clerk reads
# (Thai, English). The names are ETSI EN 319 102-1's; pyHanko can hand back any member of
# its AdESFailure / AdESIndeterminate enums, so all of them are here, and
# docs/signatures.md carries this table word for word (a test compares the two).
# `message` of each verdict says what happened to that signature in particular.
SUB_INDICATIONS: dict[str, tuple[str, str]] = {
    "FORMAT_FAILURE": ("ไฟล์หรือลายมือชื่ออยู่ในรูปแบบที่อ่านตรวจไม่ได้",
                       "the file or the signature is malformed and could not be checked"),
    "HASH_FAILURE": ("ข้อมูลที่ลงลายมือชื่อไว้ถูกแก้ไข",
                     "the signed bytes were altered"),
    "SIG_CRYPTO_FAILURE": ("ค่าลายมือชื่อไม่ตรงกับข้อมูลและกุญแจของผู้ลงนาม",
                           "the signature value does not verify with the signer's key"),
    "REVOKED": ("ใบรับรองของผู้ลงนามถูกเพิกถอนแล้ว",
                "the signer's certificate has been revoked"),
    "NOT_YET_VALID": ("ใบรับรองของผู้ลงนามหรือของผู้ออกใบรับรองยังไม่เริ่มมีผล",
                      "the signer's certificate, or a certificate above it, is not yet valid"),
    "SIG_CONSTRAINTS_FAILURE": ("เอกสารถูกเปลี่ยนหลังลงลายมือชื่อ หรือผิดเงื่อนไขที่ผู้ลงนามกำหนด",
                                "the file was changed after signing, or breaks a condition the signer set"),
    "CHAIN_CONSTRAINTS_FAILURE": ("สายใบรับรองผิดเงื่อนไข (การใช้กุญแจ ความยาวสาย ฯลฯ)",
                                  "the certificate chain breaks a constraint (key usage, path length...)"),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": ("ตรวจสายใบรับรองของผู้ลงนามไม่ผ่าน",
                                          "the signer's certificate chain could not be validated"),
    "CRYPTO_CONSTRAINTS_FAILURE": ("ใช้อัลกอริทึมหรือขนาดกุญแจที่ไม่ปลอดภัยแล้ว",
                                   "an algorithm or key size no longer considered safe was used"),
    "EXPIRED": ("ใบรับรองของผู้ลงนามหมดอายุก่อนเวลาที่ลงนาม",
                "the signer's certificate had expired when the signature was made"),
    "POLICY_PROCESSING_ERROR": ("อ่านนโยบายลายมือชื่อที่อ้างถึงไม่ได้",
                                "the signature policy it names could not be processed"),
    "SIGNATURE_POLICY_NOT_AVAILABLE": ("ไม่มีนโยบายลายมือชื่อที่อ้างถึง",
                                       "the signature policy it names is not available"),
    "TIMESTAMP_ORDER_FAILURE": ("เวลาประทับในลายมือชื่อเรียงลำดับไม่ถูกต้อง",
                                "its timestamps are in an impossible order"),
    "NO_SIGNING_CERTIFICATE_FOUND": ("ไม่พบใบรับรองของผู้ลงนาม",
                                     "the signer's certificate is not in the signature"),
    "NO_CERTIFICATE_CHAIN_FOUND": ("ไม่พบสายใบรับรองไปถึงผู้ออกใบรับรองที่เชื่อถือ",
                                   "no chain to a configured trust root"),
    "REVOKED_NO_POE": ("ใบรับรองถูกเพิกถอน และไม่มีหลักฐานว่าลงนามก่อนเพิกถอน",
                       "the certificate was revoked and nothing proves the signature came earlier"),
    "REVOKED_CA_NO_POE": ("ใบรับรองของผู้ออกใบรับรองถูกเพิกถอน และไม่มีหลักฐานว่าลงนามก่อนนั้น",
                          "a CA certificate in the chain was revoked and nothing proves the signature came earlier"),
    "OUT_OF_BOUNDS_NO_POE": ("ใบรับรองของผู้ลงนามหรือของผู้ออกใบรับรองหมดอายุ และไม่มีหลักฐานว่าลงนามก่อนหมดอายุ",
                             "the signer's certificate, or a certificate above it, has expired and nothing proves the signature came earlier"),
    "REVOCATION_OUT_OF_BOUNDS_NO_POE": ("ข้อมูลการเพิกถอนเก่าหรือใหม่เกินกว่าเวลาที่ลงนาม",
                                        "the revocation data is too old or too new for the signing time"),
    "OUT_OF_BOUNDS_NOT_REVOKED": ("ใบรับรองหมดอายุแล้วแต่ไม่ถูกเพิกถอน",
                                  "the certificate has expired but was not revoked"),
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": ("อัลกอริทึมไม่ปลอดภัยแล้ว และไม่มีหลักฐานว่าลงนามก่อนหน้านั้น",
                                          "an algorithm is no longer safe and nothing proves the signature came earlier"),
    "NO_POE": ("ไม่มีหลักฐานว่าลายมือชื่อมีอยู่ในเวลาที่ต้องการ",
               "nothing proves the signature existed at the time required"),
    "TRY_LATER": ("ยังไม่มีข้อมูลการเพิกถอนใบรับรอง (ออฟไลน์) ให้ตรวจใหม่ภายหลัง",
                  "the revocation status is not available (offline); check again when it is"),
    "SIGNED_DATA_NOT_FOUND": ("ไม่พบข้อมูลที่ลายมือชื่ออ้างว่าลงนามไว้",
                              "the data the signature claims to cover is missing"),
    "GENERIC": ("ตรวจลายมือชื่อไม่สำเร็จด้วยเหตุอื่น (ดูข้อความประกอบ)",
                "the signature could not be checked for another reason (see the message)"),
}


def sub_indication_text(sub: str | None) -> tuple[str, str] | None:
    """(Thai, English) for a sub-indication; None for a passed signature."""
    if sub is None:
        return None
    return SUB_INDICATIONS.get(sub, SUB_INDICATIONS["GENERIC"])
