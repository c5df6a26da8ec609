"""Make text taken from an incoming mail safe to put into a notice.

The subject, names and references are the sender's text: a CR or LF in them must never
become a header line of ours, and a control character or a 10 kB subject must never
reach the recipient's screen. Every value from the mail passes through here."""
from __future__ import annotations

import re
import unicodedata

from gateway.config.views import a_labels
from rules.names import cut

_ATEXT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.!#$%&'*+/=?^_`{|}~-")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_MSGID_RE = re.compile(r"<[^<>\s\x00-\x1f\x7f\"\\]{1,250}@[^<>\s\x00-\x1f\x7f\"\\]{1,250}>")
MAX_TEXT = 300
MAX_REFERENCES = 10


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """One line of printable text: line breaks and tabs become spaces, other control,
    format (bidi overrides, zero-width) and unassigned characters are dropped, runs of
    spaces collapse, and the result is cut at `limit` characters with an ellipsis, between
    whole letters: cut after น้ of น้ำ, a subject read as another word."""
    if value is None:
        return ""
    text = str(value)
    if text.isprintable():
        # Nothing to drop or turn into a space: str.isprintable is False for every
        # character the loop below changes (categories C* and Z* but the ASCII space;
        # tests/notices/test_pure.py compares both on every code point).
        text = " ".join(text.split())
        return text if len(text) <= limit else cut(text, limit - 1).rstrip() + "…"
    out = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\r\n\t\v\f\u2028\u2029\x85":
            out.append(" ")
        elif category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        elif category == "Zs":
            out.append(" ")
        else:
            out.append(char)
    text = " ".join("".join(out).split())
    if len(text) > limit:
        text = cut(text, limit - 1).rstrip() + "…"
    return text


def clean_address(value: str | None) -> str | None:
    """A plain `local@domain` we are willing to write into To:, or None.

    Deliberately narrower than RFC 5322 (no quoted local parts, no comments): a notice
    to a strange address is not worth the risk. Since session 44 an RFC 6531/6532
    address is one (สมชาย@ราชการ.ไทย, a Thai local part at an ASCII domain, a Thai-script
    domain): its local part may hold any printable non-ASCII letter besides atext, and
    its domain must have an A-label form (`ascii_domain`). Until then such a sender's
    acknowledgement was suppressed as `no_valid_recipient`. Kept as written (NFC, lower
    case): with SMTPUTF8 the notice goes to that very address (send.py)."""
    if not value:
        return None
    value = unicodedata.normalize("NFC", value.strip())
    local, at, domain = value.rpartition("@")
    # U+FFFD: bytes that were not UTF-8 (a Windows-874 From), nobody's address.
    if (not at or ".." in value or "\ufffd" in value or len(value.encode("utf-8")) > 254
            or not _local_ok(local) or ascii_domain(domain) is None):
        return None
    return value.lower()


def _local_ok(local: str) -> bool:
    # RFC 6532 3.2: atext also holds UTF8-non-ascii; no control, format, unassigned or
    # space character of any script (isprintable is False for all of them).
    return (0 < len(local.encode("utf-8")) <= 64
            and all(c in _ATEXT or (c > "\x7f" and c.isprintable()) for c in local))


def ascii_domain(domain: str) -> str | None:
    """The domain as A-labels (ราชการ.ไทย -> xn--12cr8ec6ec.xn--o3cw4h), lower case, or
    None when it is no host name: converted as the sender-authenticity domains are
    matched (gateway/config/views.py `a_labels`), a label IDNA cannot encode is left as
    written and fails the host-name test."""
    domain = a_labels(domain)
    if len(domain) > 253 or ".." in domain or not _HOSTNAME.fullmatch(domain):
        return None
    return domain.lower()


def ascii_address(address: str | None) -> str | None:
    """A clean address with its domain as A-labels: the form the loop guard's rate
    limits, alignment and sender policy compare, and the one a smarthost without
    SMTPUTF8 can take when the local part is ASCII. None for None."""
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain) or domain}"


def clean_message_id(value: str | None) -> str | None:
    """A Message-ID usable in In-Reply-To, or None when it is not one."""
    if not value:
        return None
    found = _MSGID_RE.search(value)
    return found.group(0) if found else None


def clean_references(references: str | None, message_id: str | None) -> list[str]:
    """The thread for References: the original's References, then its Message-ID
    (RFC 5322 3.6.4), at most MAX_REFERENCES ids, each one checked."""
    ids = _MSGID_RE.findall(references or "")
    own = clean_message_id(message_id)
    if own:
        ids = [i for i in ids if i != own] + [own]
    return ids[-MAX_REFERENCES:]
