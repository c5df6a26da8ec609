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

    def as_dict(self) -> dict:
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
