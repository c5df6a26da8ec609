"""DKIM (RFC 6376) for every signature and the ARC chain (RFC 8617), by dkimpy.

dkimpy treats a DNS timeout while fetching a key as a failed signature; the lookup
function given to it notes the timeout, so that such a signature is `temperror` here
and never counts as evidence of forgery. A key name that cannot be asked at all (a
64-octet selector label, an empty label) is the signer's permanent error
(`permerror`): no later answer can make it pass.

A signature dkimpy verifies is still not a `pass` here (`policy`, RFC 8601 2.7.1) when
it covers only part of the body (`l=` shorter than the body: anything appended, such
as a new top-level MIME structure, is unsigned), uses rsa-sha1 (RFC 8301) or a key in
testing mode (`t=y`, RFC 6376 3.6.1), or when its `h=` leaves out a field the
register records (`MUST_SIGN`: From, Subject as เรื่อง, Date, Message-ID by which a
letter sent again is known): a genuine signed letter replayed under a Subject, Date or
Message-ID of the forger's choosing would otherwise be "verified". Those four are what
every large signer signs; To and Content-Type are not (Microsoft 365 leaves out To,
Gmail and Google Workspace leave out Content-Type), so requiring them would leave most
agencies' genuine letters unverified. An unsigned Content-Type is held to the signed
body instead (`_recut`): a multipart letter's body must end with the close delimiter of
the boundary its Content-Type names, so a replay with a new Content-Type naming a
boundary from inside the body (a forwarded complaint's, whose parts would become the
letter) does not count.

An RSA key is refused before dkimpy computes with it when its modulus is over 16384
bits or its public exponent over 64 bits (OpenSSL's own limits,
OPENSSL_RSA_MAX_MODULUS_BITS and OPENSSL_RSA_MAX_PUBEXP_BITS): dkimpy verifies in
pure Python with `pow()`, which holds the GIL, so a forger's key record of a few
kilobytes with an enormous exponent would freeze the whole daemon (SMTP included)
for minutes to hours per signature, whatever the signature says.

What one letter can make the check compute is bounded (session 20): dkimpy hashes the
whole body again for every signature and for every ARC-Message-Signature of the chain,
and looks up two keys per ARC set, with no limit on the number of sets. A forger's
letter of 13 MB with 40 ARC sets of its own cost 40 s of CPU (the GIL held) at DATA and
again in the pipeline runner, which registers nothing after it meanwhile. Now a body is
canonicalised once per canonicalisation and hashed once per algorithm and `l=`
(`_Bodies`), a chain of more than 50 sets (RFC 8617 4.2.1) is `fail` without being
computed, and the key lookups of one chain together get the time SPF gets
(`ARC_DNS_BUDGET` times the query time limit).
"""
from __future__ import annotations

import base64
import email
import re
import time
from dataclasses import dataclass, field

import dkim as dkimpy
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import HASH_ALGORITHMS

from gateway.sender.dmarc import org_domain
from gateway.sender.dns import DnsMalformed, DnsTemporary, Resolver
from gateway.sender.results import RECUT, WEAK_KEY_PREFIX, WEAK_KEY_SUFFIX, DkimSignature

MAX_SIGNATURES = 8  # more than a real message carries; each costs a DNS lookup
MAX_ARC_SETS = 50  # RFC 8617 4.2.1: i= is 1 to 50
ARC_DNS_BUDGET = 4  # times [dns] timeout, for all key lookups of one chain (SPF's querytime)
DKIM_DNS_BUDGET = 4  # times [dns] timeout, for the key lookups of all signatures of one letter
OTHERS_DNS_BUDGET = 1  # at most this much of what is left, for signers that cannot align
MAX_MODULUS_BITS = 16384
MAX_EXPONENT_BITS = 64
# Signed even when absent (RFC 6376 5.4.2: naming an absent field is what stops one
# being added): the fields the register records, and that Gmail, Microsoft 365 and
# OpenDKIM's defaults all sign (module docstring).
MUST_SIGN = ("From", "Subject", "Date", "Message-ID")


class _Budget:
    """Seconds that key lookups may still take in all, shared by the lookups it is given to."""

    def __init__(self, seconds: float):
        self.left = seconds


class _Lookups:
    """dkimpy's `dnsfunc`, recording whether any lookup failed for DNS reasons, and
    the key records it handed over."""

    def __init__(self, resolver: Resolver, budget: _Budget | None = None):
        self.resolver = resolver
        self.temporary = False
        self.malformed = False
        self.keys: list[bytes] = []
        # Once spent (by these lookups or others sharing it), nothing more is looked up.
        self.budget = budget

    def __call__(self, name, timeout=5):
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        if self.budget is not None and self.budget.left <= 0:
            self.temporary = True
            raise dkimpy.DnsTimeoutError(f"{text}: the key lookups of this letter took too long")
        started = time.monotonic()
        try:
            records = self.resolver.txt(text.rstrip("."))
        except DnsTemporary as exc:
            self.temporary = True
            raise dkimpy.DnsTimeoutError(str(exc)) from None
        except DnsMalformed as exc:
            self.malformed = True
            raise dkimpy.KeyFormatError(str(exc)) from None
        finally:
            if self.budget is not None:
                self.budget.left -= time.monotonic() - started
        if records:
            self.keys.append(records[0])
            reason = _unaffordable(text, records[0])
            if reason:
                self.malformed = True
                raise dkimpy.KeyFormatError(reason)
        return records[0] if records else None


@dataclass
class _Bodies:
    """One letter's canonical bodies (by canonicalisation) and their digests (by
    canonicalisation, algorithm and l=), shared by all its signatures or ARC sets."""
    canonical: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)

    def canonical_body(self, body: bytes, algorithm) -> bytes:  # noqa: ANN001 - a dkimpy canonicalisation
        if algorithm not in self.canonical:
            self.canonical[algorithm] = algorithm.canonicalize_body(body)
        return self.canonical[algorithm]

    def checked(self, body: bytes, sig: dict) -> dict:
        """`sig` without its bh= once the body hash is checked here (dkimpy then skips
        its own), or raises as dkimpy would; `sig` unchanged when it cannot be read,
        for dkimpy to refuse in its own words."""
        try:
            algorithm = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple")).body_algorithm
            hasher = HASH_ALGORITHMS[sig[b"a"]]
            expected = base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"]))
            length = int(sig[b"l"]) if b"l" in sig else None
        except Exception:  # noqa: BLE001 - dkimpy's own checks say what is wrong
            return sig
        key = (algorithm, sig[b"a"], length)
        if key not in self.digests:
            canonical = memoryview(self.canonical_body(body, algorithm))
            self.digests[key] = hasher(canonical if length is None else canonical[:length]).digest()
        if self.digests[key] != expected:
            raise dkimpy.ValidationError("body hash mismatch")
        return {k: v for k, v in sig.items() if k != b"bh"}


# The first empty line, where the header ends (dkimpy splits lines on CRLF or LF alone).
_EMPTY_LINE = re.compile(rb"(?:\A|(?<=\n))\r?\n")


def rfc822_parse(message: bytes) -> tuple[list, bytes]:
    """dkimpy's `rfc822_parse`, the same headers and body: dkimpy cuts the whole message
    into lines with a regular expression and joins the body's again with CRLF, ~3 ms of
    the supervisor's CPU for a 200 KiB letter, for each verifier (DKIM, then ARC). Here
    only the header is cut, by dkimpy's own function; the body's line ends are made CRLF
    by two replacements (tests/sender/test_dkim_parse.py compares both on the corpus)."""
    found = _EMPTY_LINE.search(message)
    if found is None:
        return dkimpy.rfc822_parse(message)
    headers, _ = dkimpy.rfc822_parse(message[:found.start()])
    return headers, message[found.end():].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class _BodyOnce:
    """A dkimpy verifier that takes its body hashes from the letter's `_Bodies`, and
    reads the letter with `rfc822_parse`."""

    bodies: _Bodies

    def set_message(self, message):  # noqa: ANN001 - dkimpy's
        super().set_message(b"")  # what dkimpy resets for a message, without reading one
        if message:
            self.headers, self.body = rfc822_parse(message)

    def verify_sig_process(self, sig, include_headers, sig_header, dnsfunc):  # noqa: ANN001 - dkimpy's
        sig = self.bodies.checked(self.body, sig) if b"bh" in sig else sig
        return super().verify_sig_process(sig, include_headers, sig_header, dnsfunc)


class _Dkim(_BodyOnce, dkimpy.DKIM):
    pass


class _Arc(_BodyOnce, dkimpy.ARC):
    pass


def _unaffordable(name: str, record: bytes) -> str | None:
    """Why a key record must not reach dkimpy's RSA arithmetic, or None. A record
    dkimpy cannot parse at all is left to dkimpy, which fails it the same way."""
    try:
        pk, _, ktag, _ = dkimpy.evaluate_pk(name, record)
    except Exception:
        return None
    if ktag != b"rsa" or not isinstance(pk, dict):
        return None
    if pk.get("modulus", 0).bit_length() > MAX_MODULUS_BITS:
        return f"RSA modulus over {MAX_MODULUS_BITS} bits"
    if pk.get("publicExponent", 0).bit_length() > MAX_EXPONENT_BITS:
        return f"RSA public exponent over {MAX_EXPONENT_BITS} bits"
    return None


def _weak_key(verifier, exc: Exception) -> int | None:  # noqa: ANN001 - a dkimpy DKIM
    """The key's size when dkimpy refused a signature that verified because its RSA key
    is under 1024 bits (it raises only after the signature checked out), else None. The
    signature does not count (RFC 8301), but it is the signer's own: until the red team
    of 7 Dec 2026 a genuine ministry letter signed with a 512-bit key was held as
    having "no DKIM signature ... aligned", as a forgery is, and nobody could tell the
    ministry what to mend."""
    size = getattr(verifier, "keysize", None)
    if "too small" not in str(exc) or getattr(verifier, "ktag", None) != b"rsa" or not isinstance(size, int):
        return None
    return size if 0 < size < 1024 else None


def _count(raw: bytes) -> int:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    return len(re.findall(rb"(?im)^dkim-signature[ \t]*:", head))


def _tags(record: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for part in record.split(b";"):
        key, sep, value = part.partition(b"=")
        if sep:
            out.setdefault(key.strip().lower(), re.sub(rb"\s+", b"", value))
    return out


def _not_acceptable(verifier, fields: dict, lookups: _Lookups, bodies: _Bodies) -> str | None:
    """Why a signature that verified still does not vouch for the letter, or None."""
    if fields.get(b"a", b"").strip().lower() == b"rsa-sha1":
        return "rsa-sha1"
    for record in lookups.keys[-1:]:
        tags = _tags(record)
        if b"y" in tags.get(b"t", b"").lower().split(b":"):
            return "key in testing mode (t=y)"
        # RFC 6376 3.6.1: a key record's h= names the hashes its owner signs with; a
        # signature by another must be ignored (6.1.2). dkimpy does not look.
        hashes = [h for h in tags.get(b"h", b"").lower().split(b":") if h]
        used = fields.get(b"a", b"").strip().lower().rpartition(b"-")[2]
        if hashes and used not in hashes:
            return f"the key allows only {', '.join(h.decode('ascii', 'replace') for h in hashes)} (h=)"
    return _unsigned(verifier, fields, bodies)


def _unsigned(verifier, fields: dict, bodies: _Bodies) -> str | None:  # noqa: ANN001 - a dkimpy verifier
    """Why a signature (a DKIM-Signature, or the newest ARC-Message-Signature) that
    verified leaves what the register reads to anyone who replays the letter, or None."""
    signed = {h.strip().lower() for h in re.sub(rb"\s+", b"", fields.get(b"h", b"")).split(b":")}
    unsigned = [name for name in MUST_SIGN if name.lower().encode() not in signed]
    if unsigned:
        return "h= does not cover " + ", ".join(unsigned)
    if b"content-type" not in signed and _recut(verifier):
        return RECUT
    if b"l" in fields:
        try:
            policy = CanonicalizationPolicy.from_c_value(fields.get(b"c", b"simple/simple"))
            body = bodies.canonical_body(verifier.body, policy.body_algorithm)
            if int(fields[b"l"]) < len(body):
                return "l= covers only part of the body"
        except Exception:
            return "unreadable l="
    return None


def _recut(verifier) -> bool:  # noqa: ANN001 - a dkimpy DKIM after verify()
    """The letter's unsigned Content-Type is multipart, and the signed body does not end
    with the close delimiter of the boundary it names: that boundary was found inside
    the body, and the parts it cuts out are not the ones the signer sent."""
    values = [value for name, value in verifier.headers if name.strip().lower() == b"content-type"]
    if len(values) != 1:
        return bool(values)  # none: text/plain; several: refused as duplicated fields
    header = email.message_from_bytes(b"Content-Type:" + values[0] + b"\r\n\r\n")
    if header.get_content_maintype() != "multipart":
        return False  # read as one text part: nothing in the body becomes another part
    boundary = header.get_boundary()
    if not boundary:
        return True
    return not verifier.body.rstrip().endswith(b"--" + boundary.encode("utf-8", "replace") + b"--")


def _shown(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:253]


def _signers(raw: bytes, count: int) -> list[str]:
    """The d= of each of the first `count` DKIM-Signature fields, as dkimpy numbers them
    ("" where it cannot be read: such a signature needs no key to be refused)."""
    found = _EMPTY_LINE.search(raw)
    try:
        headers, _ = dkimpy.rfc822_parse(raw[:found.start()] if found else raw)
    except Exception:  # noqa: BLE001 - dkimpy refuses the letter itself, without a lookup
        return [""] * count
    values = [v for n, v in headers if n.lower() == b"dkim-signature"][:count]
    out = []
    for value in values:
        match = re.search(rb"(?:^|;)\s*d\s*=\s*([^;\s]+)", value)
        out.append(match.group(1).decode("ascii", "replace").lower().rstrip(".") if match else "")
    return out + [""] * (count - len(out))


def _could_align(signer: str, from_domain: str | None) -> bool:
    if not signer or not from_domain:
        return False
    try:
        return org_domain(signer) == org_domain(from_domain)
    except Exception:  # noqa: BLE001 - a d= no suffix list reads aligns with nothing
        return False


def verify_dkim(raw: bytes, resolver: Resolver, from_domain: str | None = None) -> list[DkimSignature]:
    """Every signature (up to MAX_SIGNATURES), in the letter's order. Their key lookups
    share one budget (DKIM_DNS_BUDGET times the query time limit), as an ARC chain's do:
    until session 39 each had the full time limit, one after another, and eight
    signatures naming domains whose nameservers never answer held the check ~26 s (and
    the pipeline runner, which registers nothing else meanwhile). Signers in the From
    domain's organisation (the only ones that can align, relaxed or strict) are looked
    up first; the others cannot change the DMARC verdict and get what is left, at most
    OTHERS_DNS_BUDGET times the time limit: past it they are temperror, which counts
    for nothing (check.py `_temporary`)."""
    count = min(_count(raw), MAX_SIGNATURES)
    signers = _signers(raw, count)
    first = [i for i in range(count) if _could_align(signers[i], from_domain)]
    budget = _Budget(resolver.timeout * DKIM_DNS_BUDGET)
    bodies = _Bodies()
    out = {idx: _verify_one(raw, idx, resolver, budget, bodies) for idx in first}
    rest = _Budget(min(budget.left, resolver.timeout * OTHERS_DNS_BUDGET))
    for idx in range(count):
        if idx not in out:
            out[idx] = _verify_one(raw, idx, resolver, rest, bodies)
    return [out[idx] for idx in range(count)]


def _verify_one(raw: bytes, idx: int, resolver: Resolver, budget: _Budget, bodies: _Bodies) -> DkimSignature:
    lookups = _Lookups(resolver, budget)
    verifier = None
    domain = selector = note = ""
    try:
        verifier = _Dkim(raw, minkey=1024)
        verifier.bodies = bodies
        ok = verifier.verify(idx=idx, dnsfunc=lookups)
        result = "pass" if ok else "fail"
    except dkimpy.MessageFormatError:
        # A malformed signature, or a header line dkimpy cannot split ("Subject :
        # x"), which it refused even before looking at a signature.
        result = "permerror"
    except dkimpy.KeyFormatError as exc:
        result = "fail"  # an unusable key
        weak = _weak_key(verifier, exc)
        note = f"{WEAK_KEY_PREFIX}{weak}{WEAK_KEY_SUFFIX}" if weak else ""
    except dkimpy.DKIMException:
        result = "fail"  # body hash mismatch, unusable key, ...
    except Exception:  # dkimpy tripping over a hostile header is not a pass either
        result = "permerror"
    if lookups.malformed and result != "pass":
        result = "permerror"
    elif lookups.temporary and result != "pass":
        result = "temperror"
    fields = getattr(verifier, "signature_fields", None) or {}
    if result == "pass":
        note = _not_acceptable(verifier, fields, lookups, bodies) or ""
        result = "policy" if note else result
    elif result == "fail" and note:
        result = "policy"  # it verified, with a key too weak to vouch (_weak_key)
    domain = fields.get(b"d", b"").decode("ascii", "replace").lower().rstrip(".")
    selector = fields.get(b"s", b"").decode("ascii", "replace")
    if _shown(domain) != domain or _shown(selector) != selector:
        # dkimpy lets d= hold spaces and "=": "d=x.example dmarc=pass
        # header.from=moi.go.th" read as a result of its own in `register show`.
        # Such a name has no key; it is shown with those characters replaced.
        result = "permerror" if result != "temperror" else result
        domain, selector = _shown(domain), _shown(selector)
    named = [h.strip().lower() for h in re.sub(rb"\s+", b"", fields.get(b"h", b"")).split(b":")]
    return DkimSignature(domain=domain, selector=selector, result=result, note=note or None,
                         signs_reply_to=b"reply-to" in named,
                         recipient_fields=[h.decode("ascii") for h in named if h in (b"to", b"cc")])


@dataclass
class ArcVerdict:
    result: str  # pass fail none temperror
    sealer: str | None  # d= of the newest ARC-Seal
    # ARC-Authentication-Results of the newest instance: what the sealer itself saw
    # (and signed); an earlier instance's results are only what that hop claimed.
    sealer_results: str | None
    comment: str | None = None
    # Why a chain that verified still does not vouch (`_unsigned` of the sealer's own
    # ARC-Message-Signature), or None.
    note: str | None = None


def _unfolded_headers(raw: bytes) -> list[tuple[str, str]]:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    unfolded = re.sub(rb"(\r\n|\n|\r)[ \t]+", b" ", head)
    out = []
    for line in re.split(rb"\r\n|\n|\r", unfolded):
        name, sep, value = line.partition(b":")
        if sep:
            out.append((name.strip().lower().decode("ascii", "replace"),
                        value.decode("utf-8", "replace").strip()))
    return out


def _instance(value: str) -> int | None:
    match = re.match(r"\s*i\s*=\s*(\d{1,4})\s*;", value)
    return int(match.group(1)) if match else None


def _newest(raw: bytes) -> tuple[int | None, str | None, str | None]:
    """(N, d= of ARC-Seal i=N, ARC-Authentication-Results i=N without its "i=N;")."""
    headers = _unfolded_headers(raw)
    seals = [(_instance(v), v) for n, v in headers if n == "arc-seal"]
    numbers = [i for i, _ in seals if i is not None]
    if not numbers:
        return None, None, None
    newest = max(numbers)
    sealer = None
    for i, value in seals:
        if i == newest:
            match = re.search(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", value)
            sealer = match.group(1).lower().rstrip(".") if match else None
    results = [v for n, v in headers if n == "arc-authentication-results" and _instance(v) == newest]
    text = re.sub(r"^\s*i\s*=\s*\d+\s*;\s*", "", results[0]) if len(results) == 1 else None
    return newest, sealer, text


def verify_arc(raw: bytes, resolver: Resolver) -> ArcVerdict:
    if not re.search(rb"(?im)^arc-seal[ \t]*:", re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]):
        return ArcVerdict("none", None, None)
    lookups = _Lookups(resolver, budget=_Budget(resolver.timeout * ARC_DNS_BUDGET))
    try:
        chain = _Arc(raw, minkey=1024)
        chain.bodies = _Bodies()
        sets, _ = chain.sorted_arc_headers()
        if sets > MAX_ARC_SETS:
            # Two key lookups and a signature check per set: a longer chain is invalid
            # (RFC 8617 4.2.1) and nothing of it is computed.
            return ArcVerdict("fail", None, None, f"more than {MAX_ARC_SETS} ARC sets")
        cv, results, comment = chain.verify(dnsfunc=lookups)
    except Exception as exc:
        cv, results, comment = dkimpy.CV_Fail, [], f"{type(exc).__name__}"
    result = (cv or b"fail").decode("ascii")
    if lookups.temporary and result != "pass":
        result = "temperror"
    newest, sealer, own_results = _newest(raw)
    if results:  # dkimpy's newest instance first
        verified = results[0].get("as-domain", b"").decode("ascii", "replace").lower().rstrip(".") or None
        if results[0].get("instance") != newest or verified != sealer:
            # The seal dkimpy verified is not the one read here: believe neither.
            return ArcVerdict("fail" if result == "pass" else result, verified, None, "instance mismatch")
    note = _sealer_unsigned(chain, newest) if result == "pass" else None
    return ArcVerdict(result, sealer, own_results, comment, note)


def _sealer_unsigned(chain: _Arc, newest: int | None) -> str | None:
    """`_unsigned` for the newest ARC-Message-Signature: the sealer signs the letter as
    it forwarded it, and what it left out of h= (Google leaves out Content-Type) a
    replay of the sealed letter may change as it may for a DKIM signature (session 20:
    the replay of session 15 with a new Content-Type, sealed by a trusted forwarder,
    was "ผ่าน" by the seal though the ministry's own signature did not count)."""
    _, headers = chain.sorted_arc_headers()
    signatures = [value for i, (name, value) in headers
                  if i == newest and name.strip().lower() == b"arc-message-signature"]
    if len(signatures) != 1:
        return "no single ARC-Message-Signature of the newest instance"
    return _unsigned(chain, _tags(signatures[0]), chain.bodies)
