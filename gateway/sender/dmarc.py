"""DMARC (RFC 7489): the From domain's policy and whether an authenticated
identifier aligns with it.

The organizational domain comes from the public suffix list (publicsuffixlist, which
ships the list and is released with every change of it): `go.th` is a public suffix,
so `moi.go.th` and `bangkok.go.th` are organizations, and `saraban.moi.go.th`
aligns relaxed with `moi.go.th` but `moi.go.th.attacker.example` does not."""
from __future__ import annotations

import email.header
import email.parser
import email.policy
import email.utils
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from publicsuffixlist import PublicSuffixList

from gateway.config.views import a_labels

if TYPE_CHECKING:
    from gateway.sender.dns import Resolver

POLICIES = ("none", "quarantine", "reject")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def org_domain(domain: str) -> str:
    return _org_domain(domain.lower().rstrip("."))


@lru_cache(maxsize=4096)  # the list's look-up is ~0.3 ms; a burst of letters asks for a few domains
def _org_domain(domain: str) -> str:
    return _psl().privatesuffix(domain) or domain


def aligned(identifier: str | None, from_domain: str, mode: str) -> bool:
    if not identifier:
        return False
    identifier = identifier.lower().rstrip(".")
    if mode == "s":
        return identifier == from_domain
    return org_domain(identifier) == org_domain(from_domain)


_HOSTNAME = re.compile(r"(?=.{1,240}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# RFC 6532 3.2: atext also holds any non-ASCII UTF-8 character (สารบรรณ@moi.go.th, which
# the register records as sent); only the domain must be ASCII, since only it is judged.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_LOCAL = re.compile(rf'{_ATOM}(\.{_ATOM})*|"([^"\\\r\n]|\\.)*"')
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_COMMENT = r"\((?:[^()\\]|\\.)*\)"  # one level: a nested comment is not a letter's
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bq]\?[^?\s]*\?=", re.I)
# A display name: words, quoted strings, encoded words, comments; no unquoted
# specials that would make it an address, a group or a list ("@", ",", ";", ":", "<").
_PHRASE = re.compile(rf'(?:[^"()<>@,;:\\\[\]]|{_QUOTED}|{_COMMENT})*')
_NAME_ADDR = re.compile(rf"(?P<name>{_PHRASE.pattern})<(?P<addr>[^<>]*)>\s*(?:{_COMMENT}\s*)*")
_ADDR_SPEC = re.compile(rf"\s*(?:{_COMMENT}\s*)*(?P<addr>[^\s<>()]+)\s*(?:{_COMMENT}\s*)*")
_CLAIMED = re.compile(r"@\s*\[?([^\s<>()\[\],;:\"@]+)")
SINGLETONS = ("from", "sender", "reply-to", "to", "subject", "date", "message-id", "content-type")


@dataclass
class Author:
    """The letter's author (RFC 7489 3.1.1, 6.6.1) as DMARC may judge it: exactly one
    mailbox with an ASCII domain (an IDN only as A-labels), the same one the register
    shows. `problem` says why not; `claimed` lists every domain the letter names as
    its sender anyway (any address in the From, decoded or not, and the envelope), so
    that a garbled From of a protected domain is treated as that domain's."""
    address: str | None
    domain: str | None
    problem: str | None
    claimed: list[str]


_LINE_END = re.compile(rb"\r\n|\n|\r")


def header_block(raw: bytes) -> bytes:
    """The bytes up to the first empty line, a line ending at CRLF, LF or CR as the mail
    parser reads it (the body, which may be 20 MB, is not handed to the parser)."""
    pos = 0
    for match in _LINE_END.finditer(raw):
        if match.start() == pos:
            return raw[:pos]
        pos = match.end()
    return raw


def headers_of(raw: bytes):
    """The top-level header fields as the mail parser reads them (any line end)."""
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block(raw))


def _text(value) -> str:
    text = str(value)
    try:  # 8-bit header bytes arrive as surrogate escapes
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])|\r(?=[ \t])", "", value)


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:
        return value


def _claimed_in(texts: list[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        for match in _CLAIMED.finditer(text):
            domain = match.group(1).strip().lower().rstrip(".>")
            # A full-width or ideographic full stop is a dot to IDNA (UTS #46) and to
            # the reader: moi．go．th is claimed too (gateway/sender/policy.py `_disguised`).
            if any(dot in domain for dot in ".\uff0e\u3002\uff61") and domain not in out:
                out.append(domain)
    return out


def mailbox(value: str) -> tuple[str | None, str | None]:
    """(the addr-spec, None) when `value` is exactly one mailbox with an ASCII domain,
    else (None, why not)."""
    value = _unfold(value).strip()
    if not value:
        return None, "empty From"
    if "<" in value or ">" in value:
        match = _NAME_ADDR.fullmatch(value)
        if not match:
            return None, "not one mailbox"
        addr = match.group("addr").strip()
    else:
        match = _ADDR_SPEC.fullmatch(value)
        if not match:
            return None, "not one mailbox"
        addr = match.group("addr")
    if _ENCODED_WORD.search(addr) or "=?" in addr:
        return None, "encoded words in the address"
    local, at, domain = addr.rpartition("@")
    if not at or not local:
        return None, "no address"
    if not _LOCAL.fullmatch(local) or not (local.isascii() or local.isprintable()):
        # A control or format character (bidi override, zero width) is no letter of a name.
        return None, "not one mailbox"
    if not domain.isascii() and thai_a_labels(domain) is None:
        return None, "the domain is not ASCII (an IDN must be written as A-labels, xn--)"
    domain = domain.lower()
    domain = domain[:-1] if domain.endswith(".") else domain
    if not _HOSTNAME.fullmatch(thai_a_labels(domain) or ""):
        return None, "not a domain name"
    return f"{local}@{domain}", None


# The Thai script as a registry takes it in a domain label (THNIC's .ไทย table): letters,
# vowels, tone marks and Thai digits; with ASCII digits and the hyphen, nothing else.
_THAI = "\u0e01-\u0e3a\u0e40-\u0e4e\u0e50-\u0e59"
_THAI_LABEL = re.compile(rf"[{_THAI}0-9-]*[{_THAI}][{_THAI}0-9-]*")


def thai_a_labels(domain: str) -> str | None:
    """`domain` with each Thai-script label as its A-label (กรม.รัฐบาล.ไทย ->
    xn--12c8df.xn--h3cuzk1di.xn--o3cw4h, as DNS, DKIM d= and `[sender] domains` name it),
    or None when a label is neither plain ASCII nor wholly Thai. A Thai-script domain
    sent as written (RFC 6532, SMTPUTF8) is a government agency's own (รัฐบาล.ไทย,
    ทหาร.ไทย); until the red team of 7 Dec 2026 every such From was unusable and a
    genuine, signed letter of one was held as forged. Any other script (a Cyrillic о
    in moi.go.th), a label mixing Thai and Latin letters, an invisible character or a
    full-width dot stays unusable: it shows as another domain (session 36)."""
    text = domain.lower()
    text = text[:-1] if text.endswith(".") else text
    if not all(label.isascii() or _THAI_LABEL.fullmatch(label) for label in text.split(".")):
        return None
    converted = a_labels(text)
    return converted if converted.isascii() else None


def thai_shown(domain: str) -> str:
    """`domain` with each A-label of a Thai-script label written in Thai, as the register
    shows the From (xn--12cr8ec6ec.xn--o3cw4h -> ราชการ.ไทย); any other label as it is."""
    if "xn--" not in domain:
        return domain
    out = []
    for label in domain.split("."):
        try:
            thai = label.encode("ascii").decode("idna") if label.startswith("xn--") else label
        except UnicodeError:
            thai = label
        out.append(thai if _THAI_LABEL.fullmatch(thai) and a_labels(thai) == label else label)
    return ".".join(out)


def _shown_address(value: str) -> str:
    """The From address the register records (gateway/pipeline/parse.py)."""
    from gateway.pipeline.addresses import address

    return address(value)


def author(raw: bytes, envelope: str = "") -> Author:
    """The one author mailbox DMARC judges; a From that is not exactly that (none,
    several, a group, a list, encoded words in the address, a non-ASCII domain, or one
    the register would read differently) is unusable: a DMARC fail (RFC 7489 6.6.1)."""
    envelope_domain = envelope.rpartition("@")[2].strip().lower().rstrip(".") if "@" in envelope else ""
    try:
        headers = headers_of(raw)
        values = [_text(v) for k, v in headers.raw_items() if k.lower() == "from"]
    except Exception:
        return Author(None, None, "the header could not be read", _claimed_in(["@" + envelope_domain]))
    shown = ""
    if values:
        try:
            shown = _text(_shown_address(str(next(v for k, v in headers.raw_items() if k.lower() == "from"))))
        except Exception:
            shown = ""
    fields = from_fields(raw)
    texts = values + fields + [_decoded(_unfold(v)) for v in values + fields] + [shown]
    claimed = _claimed_in(texts + (["@" + envelope_domain] if envelope_domain else []))
    if not values:
        return Author(None, None, "no From", claimed)
    if len(values) > 1 or len(fields) > 1:
        return Author(None, None, "several From fields", claimed)
    address, problem = mailbox(values[0])
    if problem:
        return Author(None, None, problem, claimed)
    if shown.lower().rstrip(".") != address.lower():
        return Author(None, None, "the From the register reads is not the one checked", claimed)
    # Judged by its A-labels, the name DNS and the signer's d= use; the register keeps it as written.
    domain = thai_a_labels(address.rpartition("@")[2])
    return Author(address.lower(), domain, None, claimed)


# A From field as Dovecot and mail clients read one: RFC 5322 4.5 (obs-optional) lets white
# space stand before the colon. The mail parser reads "From :" as an mbox "From " line and
# skips it, and so does dkimpy: a "From : saraban@moi.go.th" line above a forger's own,
# verified From was the first sender in the clerk's mail client (session 20).
_FROM_FIELD = re.compile(rb"(?i)from[ \t]*:")


def from_fields(raw: bytes) -> list[str]:
    """The value of each From field a mail client reads in the header (unfolded)."""
    fields: list[bytes] = []
    current = None
    for line in _LINE_END.split(header_block(raw)):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                fields[current] += line
            continue
        found = _FROM_FIELD.match(line)
        current = len(fields) if found else None
        if found:
            fields.append(line[found.end():])
    return [_text(f.decode("utf-8", "surrogateescape")) for f in fields]


def duplicated(raw: bytes) -> list[str]:
    """Singleton header fields (RFC 5322 3.6) that appear more than once: a reader may
    show the one no signature covered."""
    try:
        headers = headers_of(raw)
    except Exception:
        return []
    names = [k.lower() for k, _ in headers.raw_items()]
    return [n for n in SINGLETONS if names.count(n) > 1]


BARE_CR = "a header line ends in a bare CR"


def bare_cr(raw: bytes) -> bool:
    """A header line that ends in a CR alone: the mail parser (and so the register) ends
    the line there, dkimpy does not, so a field after it ("X-A: 1<CR>Subject: ...") is
    read by the register and never seen by the signature check."""
    return re.search(rb"\r(?!\n)", header_block(raw)) is not None


def from_domains(raw: bytes) -> list[str] | None:
    """The author domain as a list (the form `rules check` uses), None when unusable."""
    found = author(raw)
    return [found.domain] if found.domain else None


@dataclass
class Record:
    policy: str  # p (or sp for a subdomain that found its organization's record)
    adkim: str
    aspf: str
    domain: str  # where it was found
    # pct= (RFC 7489 6.6.4): the share of failing mail the policy is applied to; the
    # rest gets the next less strict policy (reject -> quarantine).
    pct: int = 100


def _parse(text: bytes) -> dict[str, str] | None:
    value = text.decode("utf-8", "replace").strip()
    if not re.match(r"(?i)v\s*=\s*DMARC1\s*(;|$)", value):
        return None
    tags: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), val.strip())
    return tags


def _fetch(resolver: Resolver, domain: str) -> dict[str, str] | None:
    # Here, not at the top: the delivery runner reads alignment and organisational
    # domains from this module and has no DNS to ask (dnspython: ~5 MiB of a process).
    from gateway.sender.dns import DnsMalformed

    try:
        texts = resolver.txt(f"_dmarc.{domain}")
    except DnsMalformed:  # a name that cannot be asked has no record
        return None
    records = [t for t in (_parse(r) for r in texts) if t is not None]
    if len(records) != 1:  # none, or several: as if none (RFC 7489 6.6.3)
        return None
    return records[0]


def lookup(resolver: Resolver, from_domain: str) -> Record | None:
    """The record that governs `from_domain`: its own, else its organization's.
    Raises DnsTemporary when DNS did not answer."""
    tags = _fetch(resolver, from_domain)
    found, subdomain = from_domain, False
    if tags is None:
        org = org_domain(from_domain)
        if org != from_domain:
            tags = _fetch(resolver, org)
            found, subdomain = org, True
    if tags is None:
        return None
    policy = tags.get("p", "").lower()
    if subdomain and tags.get("sp", "").lower() in POLICIES:
        policy = tags["sp"].lower()
    if policy not in POLICIES:
        # An invalid p= with a rua= counts as p=none (RFC 7489 6.6.3); otherwise no record.
        if "rua" not in tags:
            return None
        policy = "none"
    adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
    aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
    return Record(policy, adkim, aspf, found, _pct(tags.get("pct", "")))


def _pct(value: str) -> int:
    """pct= as 0 to 100; absent or unreadable: 100, the default (RFC 7489 6.3)."""
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        return 100
    return min(int(value), 100)


__all__ = ["Author", "Record", "aligned", "author", "bare_cr", "duplicated", "from_domains", "lookup",
           "org_domain", "thai_a_labels", "thai_shown"]
