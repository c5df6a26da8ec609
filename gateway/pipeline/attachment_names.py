"""A file name parameter's text as a Thai reader's mail client shows it.

Apart from gateway/pipeline/parse.py so that the delivery runner, which names the files
of each folder copy as the register does (gateway/delivery/part_names.py), does not load
the letter parser (mail-parser, libmagic, the archive and Outlook readers: ~5 MiB of the
process; docs/performance.md, session 30)."""
from __future__ import annotations

import email.message
import email.utils
import re

from gateway.pipeline import charsets  # noqa: F401  (registers windows-874 before any decoding)
from rules.markings import decode_header_text, raw_header_text
from rules.names import name_from_bytes


def name_as_sent(part: email.message.Message, param: str, header: str) -> str | None:
    """One name parameter's text as a Thai reader's client shows it (the first of
    `names_as_sent`: the RFC 2231 extended value where there is one)."""
    names = names_as_sent(part, param, header)
    return names[0] if names else None


def names_as_sent(part: email.message.Message, param: str, header: str) -> list[str]:
    """Every text a client may show for one name parameter, the one most clients show
    first. A part may carry the parameter twice, `filename="a.pdf"` and
    `filename*=utf-8''...`: Thunderbird and every RFC 2231 reader show the extended value
    (`filename*`, wherever it stands), the stdlib's get_param returns the plain one,
    and until session 40 a ลับมาก name a clerk saw was never read. The extended values
    come first, then the plain ones, each in the order sent; a client that ignores the
    RFC 2231 form shows a plain one, so all are read for the markings.

    Each is read where the stdlib reads it otherwise: an RFC 2231 value by
    `rules.names.name_from_bytes` (UTF-8 bytes under a TIS-620 label, Windows-874 bytes
    under a UTF-8 one or under `x-thai`), and a name sent as raw 8-bit bytes (SMTPUTF8
    clients, old Thai mailers), which the stdlib makes U+FFFD of: "ลับมาก_2569.pdf" so
    read was no marking and no name in the register. RFC 2047 words in it (Outlook puts
    them in name=) are decoded as a Subject's are, a wrong or unknown label read the same
    way (`decode_header_text`).

    A part with the header twice (`Content-Disposition: inline` then `...: attachment;
    filename*=...`) is named by the first to the stdlib and by the last to Dovecot, whose
    BODYSTRUCTURE (what a webmail or an IMAP client lists) showed "ลับที่สุด_2569.pdf" where
    the gateway read no name at all until the red team of 7 Dec 2026: the names of every
    occurrence are read, the first's first."""
    out = _field_names(part, param, header)
    fields = [v for k, v in part.raw_items() if k.lower() == header]
    for later in fields[1:]:
        probe = email.message.Message()
        probe._headers.append((header, later))  # noqa: SLF001 - the field as it came, 8-bit bytes and all
        out += [text for text in _field_names(probe, param, header) if text not in out]
    return out


def _field_names(part: email.message.Message, param: str, header: str) -> list[str]:
    """`names_as_sent` of the first `header` field of `part`."""
    params = part.get_params(header=header)
    if not any(key.lower() == param for key, _ in params or ()):
        return []
    raw = next((v for k, v in part.raw_items() if k.lower() == header and isinstance(v, str)), "")
    if not raw.isascii() and _ESCAPED_BYTE.search(raw):
        probe = email.message.Message()
        probe[header] = re.sub(r"\r?\n(?=[ \t])", "", raw_header_text(raw))
        plain = [v for k, v in probe.get_params(header=header) or () if k.lower() == param and isinstance(v, str)]
    else:
        plain = [v for k, v in params if k.lower() == param and not isinstance(v, tuple)]
    extended = [v for k, v in params if k.lower() == param and isinstance(v, tuple) and len(v) == 3]
    out: list[str] = []
    texts: list[str] = []
    for value in (*extended, *plain):
        if isinstance(value, tuple):
            texts += _extended_readings(*value)
        else:
            text = email.utils.collapse_rfc2231_value(value)
            texts += [text, _QUOTED_PAIR.sub(r"\1", text)] if "\\" in text else [text]
    for text in texts:
        text = decode_header_text(text).strip()
        if text and text not in out:
            out.append(text)
    return out


def _extended_readings(charset: str | None, language: str | None, value: str) -> list[str]:
    """An RFC 2231 extended value (percent-decoded, as Latin-1 letters) as clients read
    it. One with a single quote, `utf-8'%E0%B8%A5...`, is `charset'value` to Mozilla
    (nsMIMEHeaderParamImpl, jsmime): Thunderbird showed "ลับมาก_2569...pdf" where the
    stdlib, which wants two quotes, kept "utf-8'ลับมาก_2569..." and the name's marking
    was not read (red team of 7 Dec 2026). That reading comes first, the stdlib's after."""
    data = value.encode("latin-1", "replace")
    if charset is None and language is None and value.count("'") == 1:
        label, _, rest = value.partition("'")
        return [name_from_bytes(rest.encode("latin-1", "replace"), label or None), name_from_bytes(data, None)]
    return [name_from_bytes(data, charset or None)]


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a raw 8-bit byte, as the stdlib keeps it
# A quoted-pair in a quoted parameter (`filename="ลับท\ี่สุด.pdf"`) is the character after
# the backslash to RFC 5322 and to Thunderbird (RemoveQuotedStringEscapes); the stdlib
# undoes only `\\` and `\"`, so the name read "ลับท\ี่สุด", no marking (red team of 7 Dec
# 2026). A `\X` the stdlib leaves was `\X` or `\\X` on the wire, so the name is read
# both ways. The stdlib's reading stays the name (a Windows path keeps its
# separators for the register's last part).
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
