"""DKIM (RFC 6376) for every signature and the ARC chain (RFC 8617), by dkimpy.

dkimpy treats a DNS timeout while fetching a key as a failed signature; the lookup
function given to it notes the timeout, so that such a signature is `temperror` here
and never counts as evidence of forgery."""
from __future__ import annotations

import re
from dataclasses import dataclass

import dkim as dkimpy

from gateway.sender.dns import DnsTemporary, Resolver
from gateway.sender.results import DkimSignature

MAX_SIGNATURES = 8  # more than a real message carries; each costs a DNS lookup


class _Lookups:
    """dkimpy's `dnsfunc`, recording whether any lookup failed for DNS reasons."""

    def __init__(self, resolver: Resolver):
        self.resolver = resolver
        self.temporary = False

    def __call__(self, name, timeout=5):
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        try:
            records = self.resolver.txt(text.rstrip("."))
        except DnsTemporary as exc:
            self.temporary = True
            raise dkimpy.DnsTimeoutError(str(exc)) from None
        return records[0] if records else None


def _count(raw: bytes) -> int:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    return len(re.findall(rb"(?im)^dkim-signature[ \t]*:", head))


def verify_dkim(raw: bytes, resolver: Resolver) -> list[DkimSignature]:
    out: list[DkimSignature] = []
    for idx in range(min(_count(raw), MAX_SIGNATURES)):
        lookups = _Lookups(resolver)
        verifier = dkimpy.DKIM(raw, minkey=1024)
        domain = selector = ""
        try:
            ok = verifier.verify(idx=idx, dnsfunc=lookups)
            result = "pass" if ok else "fail"
        except dkimpy.MessageFormatError:
            result = "permerror"  # a malformed signature header
        except dkimpy.DKIMException:
            result = "fail"  # body hash mismatch, unusable key, ...
        except Exception:  # dkimpy tripping over a hostile header is not a pass either
            result = "permerror"
        if lookups.temporary and result != "pass":
            result = "temperror"
        fields = getattr(verifier, "signature_fields", None) or {}
        domain = fields.get(b"d", b"").decode("ascii", "replace").lower().rstrip(".")
        selector = fields.get(b"s", b"").decode("ascii", "replace")
        out.append(DkimSignature(domain=domain, selector=selector, result=result))
    return out


@dataclass
class ArcVerdict:
    result: str  # pass fail none temperror
    sealer: str | None  # d= of the newest ARC-Seal
    first_results: str | None  # ARC-Authentication-Results of i=1: what the first hop saw
    comment: str | None = None


def verify_arc(raw: bytes, resolver: Resolver) -> ArcVerdict:
    if not re.search(rb"(?im)^arc-seal[ \t]*:", re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]):
        return ArcVerdict("none", None, None)
    lookups = _Lookups(resolver)
    try:
        cv, results, comment = dkimpy.ARC(raw, minkey=1024).verify(dnsfunc=lookups)
    except Exception as exc:
        cv, results, comment = dkimpy.CV_Fail, [], f"{type(exc).__name__}"
    result = (cv or b"fail").decode("ascii")
    if lookups.temporary and result != "pass":
        result = "temperror"
    sealer = None
    if results:
        sealer = results[0].get("as-domain", b"").decode("ascii", "replace").lower() or None
    return ArcVerdict(result, sealer, _first_aar(raw), comment)


def _first_aar(raw: bytes) -> str | None:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    for line in unfolded.splitlines():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"arc-authentication-results":
            text = value.decode("utf-8", "replace").strip()
            if re.match(r"i\s*=\s*1\s*;", text):
                return re.sub(r"^i\s*=\s*1\s*;\s*", "", text)
    return None
