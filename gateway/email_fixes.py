"""Python's email package, made linear where a sender can make it quadratic.

Python 3.11 (what this project runs on) has O(n²) corners in the email package that a
letter reaches with a few hundred kilobytes of header (CPython issue gh-136063):

* `email.message._parseparam` splits a header's parameters (`; name="..."`) on every
  semicolon not inside quotes, counting the quotes from the parameter's start again
  for each semicolon and copying the rest of the header for each parameter. Every
  MIME part's Content-Type and Content-Disposition goes through it (the parser's
  boundary, a file's name, its charset): one letter with `Content-Type:
  application/pdf; x="` and 300,000 semicolons held the check at DATA to its deadline
  and then a pipeline runner far longer, every letter behind it waiting.
* `email.header.decode_header` (mail-parser decodes the Subject with it) takes each
  part of a line off the front of a list (`parts.pop(0)`), deletes the blanks between
  encoded words one by one and appends bytes to bytes: 5.7 s for a Subject of 64,000
  encoded words, about 3.5 minutes for 400,000 by the same curve (6.4 MB, under the
  size limit).

And one corner that is not slow but deep: `email._parseaddr.AddrlistClass.getdelimited`
reads a comment inside a comment by calling itself, so an address with 5,000 nested
comments (`From: ((((...)))) <a@b>`) raised RecursionError in every parser of addresses
(`parseaddr`, `getaddresses`, mail-parser's, the libraries'). A letter accepted with
such a From failed the pipeline at every try and was parked, its sender never told;
IMAP intake stopped at such a Return-Path. `getdelimited` reads nested comments with a
list of its own instead.

And one that is only slow: `email.feedparser` compiles a regular expression for every
multipart it reads, from its boundary (~120 us each: a letter's boundaries are its own,
so `re`'s cache never has them). Every letter is parsed by the check at DATA and by the
pipeline, its multiparts at least twice. Its boundary is matched here as a literal
prefix and one expression compiled once for what may follow it (`_Boundary`).

And one more only slow: to take the newline off the end of a multipart's last part (and
of an epilogue), the feedparser searches it with `(\\r\\n|\\r|\\n)\\Z`, which `re` tries at
every position from the start: ~1.1 ms of the DATA check's ~8 ms for a 200 KB letter,
growing with the file. The same search is started two characters from the end (`_AtTheEnd`).

And the feedparser's lines: every line of a part goes through `BufferedSubFile.readline`,
which asks each boundary of the parts around it whether the line is one (a call into
Python each): ~1 ms of a 200 KB letter's parse. A boundary line starts with `--`; a line
that does not start with `-` is given on without asking (`_Lines`), unless an end of
another kind is waited for (a delivery-status block's blank line), as before.

And one that is not about time but about what a letter says: quoted-printable. RFC 2045
§6.7 (3) has a decoder delete the white space at the end of an encoded line (transport
agents add it), so `=` SP CRLF is a soft line break and `ลั=  ⏎บมาก` reads `ลับมาก` in a
mail client; `binascii.a2b_qp`, which `Message.get_payload(decode=True)` uses (and so
mail-parser, every body and file the gateway reads, stores and shows), kept `= ⏎` in
the text, and a ลับมาก letter marked so was read as no marking until session 39. It
also took `=` then a bare CR as the end of the whole line, dropping what followed, where
the folder copy (CRLF line ends, gateway/delivery/wire.py) shows it after a soft line
break. `decode_qp` deletes the trailing white space and reads a bare CR as a line end
before the stdlib decodes; it is what `get_payload` decodes with (`_Quopri`).

The other replacements return exactly what the stdlib's return (the same splitting, the same
decoding, the same exceptions; tests/hostile/test_red_team_session13.py and, for the
feedparser's, tests/test_email_boundaries.py compare them on thousands of inputs), looking at each character a bounded number of times. They are
installed when `gateway` is imported: every process that parses mail (the SMTP
supervisor, its check workers, the runners, the CLI) imports it before anything else.
"""
from __future__ import annotations

import binascii
import collections
import email._parseaddr
import email.base64mime
import email.feedparser
import email.header
import email.message
import email.quoprimime
import quopri
import re
import sys
from email.errors import HeaderParseError


def parseparam(s) -> list[str]:  # noqa: ANN001 - a str or a Header, as the stdlib takes
    s = ";" + str(s)
    plist: list[str] = []
    start = 0
    length = len(s)
    while start < length and s[start] == ";":
        start += 1
        end = s.find(";", start)
        # Unescaped quotes between the parameter's start and `end`: odd means the
        # semicolon is inside a quoted string, so the parameter goes on. Counted once per
        # stretch: a `\"` cannot straddle a stretch's edge, which is always a `;`.
        quotes, counted = 0, start
        while end > start:
            quotes += s.count('"', counted, end) - s.count('\\"', counted, end)
            if quotes % 2 == 0:
                break
            counted = end
            end = s.find(";", end + 1)
        if end < 0:
            end = length
        f = s[start:end]
        if "=" in f:
            i = f.index("=")
            f = f[:i].strip().lower() + "=" + f[i + 1:].strip()
        plist.append(f.strip())
        start = end
    return plist


# The stdlib's own, for the test that compares the two.
stdlib_parseparam = getattr(email.message._parseparam, "__wrapped_stdlib__", email.message._parseparam)  # noqa: SLF001
parseparam.__wrapped_stdlib__ = stdlib_parseparam  # type: ignore[attr-defined]


# `email.header.ecre` without its last part (`(?P<encoded>.*?)\?=`): the closing `?=` is
# looked for by hand below, once per stretch of text, so that no `=?x?q?` without one
# scans to the end of the line again.
_PREFIX = re.compile(r"=\?(?P<charset>[^?]*?)\?(?P<encoding>[qQbB])\?", re.MULTILINE)


def _encoded_words(line: str):
    """(start, end, charset, encoding, encoded) of each match `email.header.ecre` finds
    in `line` (no line breaks in it), left to right: the parts `ecre.split` gives,
    without building the list the stdlib then empties from the front."""
    pos, close = 0, -2
    while True:
        m = _PREFIX.search(line, pos)
        if m is None:
            return
        if close < m.end():
            close = line.find("?=", m.end())
        if close == -1:
            # Every later `=?x?q?` ends where this one does or further on: none closes.
            return
        yield m.start(), close + 2, m["charset"], m["encoding"], line[m.end():close]
        pos = close + 2


def _has_encoded_word(header: str) -> bool:
    """`email.header.ecre.search(header)`, in linear time (the text may span lines, an
    encoded word may not: its charset may, the regex's `[^?]` takes a line break)."""
    pos, close, newline = 0, -2, -2
    while True:
        m = _PREFIX.search(header, pos)
        if m is None:
            return False
        if close < m.end():
            close = header.find("?=", m.end())
        if close == -1:
            return False
        if newline < m.end():
            newline = header.find("\n", m.end())
        if newline == -1 or close < newline:
            return True
        # This start's encoded word would cross a line: none here. A later start ends
        # its prefix where this one's does or further on (the caches above stay valid).
        pos = m.start() + 1


def decode_header(header):  # noqa: ANN001, ANN201 - the stdlib's signature
    """`email.header.decode_header`, the same answer in linear time (see the module's
    docstring for the stdlib's three O(n²) steps)."""
    if hasattr(header, "_chunks"):
        return stdlib_decode_header(header)
    if not _has_encoded_word(header):
        return [(header, None)]
    words: list[tuple[str, str | None, str | None]] = []
    for line in header.splitlines():
        at = 0
        for start, end, charset, encoding, encoded in _encoded_words(line):
            unencoded = line[at:start]
            if at == 0:
                unencoded = unencoded.lstrip()
            if unencoded:
                words.append((unencoded, None, None))
            words.append((encoded, encoding.lower(), charset.lower()))
            at = end
        unencoded = line[at:]
        if at == 0:
            unencoded = unencoded.lstrip()
        if unencoded:
            words.append((unencoded, None, None))
    dropped = {n - 1 for n, w in enumerate(words)
               if n > 1 and w[1] and words[n - 2][1] and words[n - 1][0].isspace()}
    if dropped:
        words = [w for n, w in enumerate(words) if n not in dropped]
    decoded_words = []
    for encoded_string, encoding, charset in words:
        if encoding is None:
            decoded_words.append((encoded_string, charset))
        elif encoding == "q":
            decoded_words.append((email.quoprimime.header_decode(encoded_string), charset))
        else:
            paderr = len(encoded_string) % 4
            if paderr:
                encoded_string += "==="[:4 - paderr]
            try:
                word = email.base64mime.decode(encoded_string)
            except binascii.Error:
                raise HeaderParseError("Base64 decoding error") from None
            decoded_words.append((word, charset))
    collapsed = []
    run: list[bytes] | None = None
    last_charset = None
    for word, charset in decoded_words:
        if isinstance(word, str):
            word = bytes(word, "raw-unicode-escape")
        if run is None:
            run, last_charset = [word], charset
        elif charset != last_charset:
            collapsed.append((b"".join(run), last_charset))
            run, last_charset = [word], charset
        elif last_charset is None:
            run += [b" ", word]
        else:
            run.append(word)
    collapsed.append((b"".join(run) if run is not None else None, last_charset))
    return collapsed


stdlib_decode_header = getattr(email.header.decode_header, "__wrapped_stdlib__", email.header.decode_header)
decode_header.__wrapped_stdlib__ = stdlib_decode_header  # type: ignore[attr-defined]


def getdelimited(self, beginchar, endchars, allowcomments=True):  # noqa: ANN001, ANN201 - the stdlib's method
    """`AddrlistClass.getdelimited`, with a comment inside a comment read on a stack of
    its own, not by calling itself: the same text, at any depth."""
    if self.field[self.pos] != beginchar:
        return ""
    outer: list[tuple[list[str], str]] = []  # the fragments a nested comment interrupted
    slist = [""]
    quote = False
    self.pos += 1
    while self.pos < len(self.field):
        char = self.field[self.pos]
        if quote:
            slist.append(char)
            quote = False
        elif char in endchars:
            self.pos += 1
            if not outer:
                break
            text = "".join(slist)
            slist, endchars = outer.pop()
            slist.append(text)  # the stdlib appends the comment getcomment() returned
            continue
        elif allowcomments and char == "(":
            outer.append((slist, endchars))
            slist, endchars = [""], ")\r"  # getcomment(): getdelimited("(", ")\r", True)
        elif char == "\\":
            quote = True
        else:
            slist.append(char)
        self.pos += 1
    text = "".join(slist)
    while outer:  # the field ended inside comments: each returns what it had
        slist, _ = outer.pop()
        slist.append(text)
        text = "".join(slist)
    return text


stdlib_getdelimited = getattr(email._parseaddr.AddrlistClass.getdelimited, "__wrapped_stdlib__",  # noqa: SLF001
                              email._parseaddr.AddrlistClass.getdelimited)  # noqa: SLF001
getdelimited.__wrapped_stdlib__ = stdlib_getdelimited  # type: ignore[attr-defined]


# What `email.feedparser` compiles for a multipart: '(?P<sep>' + re.escape('--' + boundary)
# + this. The same text after the boundary, compiled once.
_BOUNDARY_TAIL_SOURCE = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_BOUNDARY_TAIL = re.compile(_BOUNDARY_TAIL_SOURCE[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _Boundary:
    """A compiled boundary expression to the feedparser: `match(line)` answers as
    `re.compile('(?P<sep>' + re.escape(separator) + tail).match(line)` does, for the
    groups the parser reads (`end`, `ws`, `linesep`): the escaped separator is a literal
    at the line's start, and the tail is the same expression from where it ends."""

    __slots__ = ("separator", "pattern")

    def __init__(self, separator: str, pattern: str):
        self.separator, self.pattern = separator, pattern

    def match(self, line: str):  # noqa: ANN201 - a re.Match or None, as re's
        if line.startswith(self.separator):
            return _BOUNDARY_TAIL.match(line, len(self.separator))
        return None


class _FeedparserRe:
    """The `re` module as `email.feedparser` sees it: a boundary expression comes back
    as a `_Boundary`, anything else (or a pattern whose escaped text does not read back
    to itself) as `re` compiles it."""

    def __getattr__(self, name: str):  # noqa: ANN204 - re's attributes, whatever they are
        return getattr(re, name)

    @staticmethod
    def compile(pattern, flags=0):  # noqa: ANN001, ANN205 - re.compile's signature
        if (not flags and isinstance(pattern, str) and pattern.startswith("(?P<sep>")
                and pattern.endswith(_BOUNDARY_TAIL_SOURCE)):
            escaped = pattern[len("(?P<sep>"):-len(_BOUNDARY_TAIL_SOURCE)]
            separator = _ESCAPED.sub(lambda m: m[1], escaped)
            if re.escape(separator) == escaped:
                return _Boundary(separator, pattern)
        return re.compile(pattern, flags)


class _AtTheEnd:
    """A pattern anchored at the string's end (`...\\Z`) whose match is at most two
    characters long, to `email.feedparser`: `search(s)` starts where a match can start,
    and returns the very re.Match the whole search would (re's `pos`: the same string,
    the same span and groups)."""

    __slots__ = ("compiled", "longest")

    def __init__(self, compiled: re.Pattern, longest: int):
        self.compiled, self.longest = compiled, longest

    def search(self, string, pos: int = 0):  # noqa: ANN001, ANN201 - as re.Pattern.search
        return self.compiled.search(string, max(pos, len(string) - self.longest))

    def __getattr__(self, name: str):  # noqa: ANN204 - the pattern's other attributes
        return getattr(self.compiled, name)


class _Lines(email.feedparser.BufferedSubFile):
    """The feedparser's line buffer, as the stdlib's, but a line that cannot be a
    boundary (it does not start with "-"; a `_Boundary` matches only lines starting with
    its "--" separator) is not shown to the boundaries waited for. Any other end
    predicate pushed (the delivery-status blank line, a boundary `re` compiled) has every
    line asked, as the stdlib asks."""

    def __init__(self) -> None:
        super().__init__()
        self._others = 0  # end predicates that are not a _Boundary's

    @staticmethod
    def _is_boundary(pred) -> bool:  # noqa: ANN001
        return isinstance(getattr(pred, "__self__", None), _Boundary)

    def push_eof_matcher(self, pred) -> None:  # noqa: ANN001
        self._others += not self._is_boundary(pred)
        super().push_eof_matcher(pred)

    def pop_eof_matcher(self):  # noqa: ANN201
        pred = super().pop_eof_matcher()
        self._others -= not self._is_boundary(pred)
        return pred

    def readline(self):  # noqa: ANN201 - a line, '' or NeedMoreData, as the stdlib's
        if not self._lines:
            if self._closed:
                return ""
            return email.feedparser.NeedMoreData
        line = self._lines.popleft()
        if self._others or line[:1] == "-":
            for ateof in reversed(self._eofstack):
                if ateof(line):
                    self._lines.appendleft(line)
                    return ""
        return line


# White space ending a line of quoted-printable (or the text): each run found from its
# start only, and taken whole (linear, however long the run).
_QP_TRAILING = re.compile(rb"(?<![ \t])[ \t]++(?=[\r\n]|\Z)")
_QP_SOFT_BARE_CR = re.compile(rb"=\r(?!\n)")


def decode_qp(data: bytes) -> bytes:
    """Quoted-printable `data` decoded as RFC 2045 §6.7 has it (see the module's
    docstring): white space at a line's end deleted, `=` then a bare CR a soft line
    break; otherwise the stdlib's decoding."""
    data = _QP_TRAILING.sub(b"", data)
    if b"=\r" in data:
        data = _QP_SOFT_BARE_CR.sub(b"=\r\n", data)
    return quopri.decodestring(data)


class _Quopri:
    """The `quopri` module as `email.message` sees it: `decodestring` is `decode_qp`."""

    def __getattr__(self, name: str):  # noqa: ANN204 - quopri's attributes, whatever they are
        return getattr(quopri, name)

    @staticmethod
    def decodestring(s, header=False):  # noqa: ANN001, ANN205, FBT002 - quopri's signature
        return quopri.decodestring(s, header=True) if header else decode_qp(s)


def _lines_as_the_stdlib_keeps_them() -> bool:
    """The stdlib's buffer holds what `_Lines` reads (a later Python may keep its lines
    otherwise: then its own buffer is left in place)."""
    probe = email.feedparser.BufferedSubFile()
    return (isinstance(getattr(probe, "_lines", None), collections.deque)
            and isinstance(getattr(probe, "_eofstack", None), list) and getattr(probe, "_closed", None) is False)


def install() -> None:
    email.message._parseparam = parseparam  # noqa: SLF001 - the module's own lookup
    if email.feedparser.re is re:
        email.feedparser.re = _FeedparserRe()
    if email.feedparser.NLCRE_eol.pattern == r"(\r\n|\r|\n)\Z" and not isinstance(email.feedparser.NLCRE_eol, _AtTheEnd):
        email.feedparser.NLCRE_eol = _AtTheEnd(email.feedparser.NLCRE_eol, 2)
    if email.feedparser.BufferedSubFile is not _Lines and _lines_as_the_stdlib_keeps_them():
        email.feedparser.BufferedSubFile = _Lines
    email._parseaddr.AddrlistClass.getdelimited = getdelimited  # noqa: SLF001 - every address parser's
    email.header.decode_header = decode_header
    if email.message.quopri is quopri:
        email.message.quopri = _Quopri()
    # Modules that took the name before this ran (mail-parser, when something imported
    # it before `gateway`): theirs too.
    for name in ("mailparser.utils", "mailparser.core", "gateway.intake.smtp_handler"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "decode_header", None) is stdlib_decode_header:
            module.decode_header = decode_header


install()
