"""The feedparser's boundary expressions (gateway/email_fixes.py `_Boundary`): the same
answers as the expression the stdlib compiles for every multipart, without compiling
one per letter."""
from __future__ import annotations

import email
import email.feedparser
import email.policy
import random
import re

import pytest

from gateway import email_fixes
from tests.paths import shared_path

TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"  # as the stdlib writes it


def stdlib_boundary(separator: str) -> re.Pattern:
    return re.compile("(?P<sep>" + re.escape(separator) + TAIL)


def answer(mo) -> tuple | None:
    return None if mo is None else (mo.group("end"), mo.group("ws"), mo.group("linesep"))


def test_the_stdlib_still_compiles_the_expression_this_replaces():
    source = open(email.feedparser.__file__, encoding="utf-8").read()
    assert "re.escape(separator)" in source and f"r'{TAIL}'" in source
    assert isinstance(email.feedparser.re.compile("(?P<sep>" + re.escape("--x") + TAIL), email_fixes._Boundary)


def test_a_multipart_letter_is_parsed_without_compiling_an_expression(monkeypatch):
    raw = (b"Content-Type: multipart/mixed; boundary=\"outer.(1)\"\r\n\r\n--outer.(1)\r\n"
           b"Content-Type: multipart/alternative; boundary=inner+*?\r\n\r\n--inner+*?\r\n"
           b"Content-Type: text/plain\r\n\r\nplain\r\n--inner+*?\r\nContent-Type: text/html\r\n\r\n"
           b"<p>html</p>\r\n--inner+*?--\r\n--outer.(1)\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n"
           b"--outer.(1)--\r\n")
    compiled = []
    real = re.compile
    monkeypatch.setattr(re, "compile", lambda *a, **k: compiled.append(a) or real(*a, **k))
    message = email.message_from_bytes(raw)
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    assert compiled == []


def _random_line(rng: random.Random, separator: str) -> str:
    pieces = [separator, separator[:-1], separator + "x", "--", "-", " ", "\t", "\r\n", "\r", "\n",
              "\n\n", " \r\n", "a", "=", "\x0b", "\u0e01", "$", "\\"]
    line = rng.choice(["", separator, separator, separator + "--"])
    for _ in range(rng.randrange(4)):
        line += rng.choice(pieces)
    return line


def test_random_boundaries_and_lines_get_the_stdlibs_answer():
    rng = random.Random(20261202)
    # \udce0: a raw 8-bit byte of a boundary parsed from bytes (surrogateescape)
    alphabet = "abcXYZ0189'()+_,-./:=? *[]^$|\\{}\t\u0e01\u00e9\udce0\r"
    for _ in range(3000):
        separator = "--" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        ours = email.feedparser.re.compile("(?P<sep>" + re.escape(separator) + TAIL)
        theirs = stdlib_boundary(separator)
        assert isinstance(ours, email_fixes._Boundary)
        for _ in range(12):
            line = _random_line(rng, separator)
            assert answer(ours.match(line)) == answer(theirs.match(line)), (separator, line)


def test_other_expressions_are_compiled_by_re():
    fake = email.feedparser.re
    assert isinstance(fake.compile(r"(?P<sep>--a)(?P<end>--)?$"), re.Pattern)
    assert isinstance(fake.compile("(?P<sep>" + re.escape("--a") + TAIL, re.I), re.Pattern)
    # escaped text that does not read back as re.escape wrote it: compiled as it is
    assert isinstance(fake.compile("(?P<sep>--\\d" + TAIL), re.Pattern)
    assert fake.escape("a.b") == re.escape("a.b") and fake.NOFLAG == re.NOFLAG


def _tree(message: email.message.Message) -> list:
    out = []
    for part in message.walk():
        payload = part.get_payload() if not part.is_multipart() else len(part.get_payload())
        out.append((part.get_content_type(), part.preamble, part.epilogue, payload,
                    [type(d).__name__ for d in part.defects]))
    return out


def _mime_files() -> list:
    root = shared_path("corpus", "mime")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size < 4_000_000)


def test_every_corpus_message_parses_as_the_stdlib_parses_it(monkeypatch):
    files = _mime_files()
    assert len(files) > 50
    ours = [_tree(email.message_from_bytes(p.read_bytes(), policy=email.policy.compat32)) for p in files]
    monkeypatch.setattr(email.feedparser, "re", re)
    theirs = [_tree(email.message_from_bytes(p.read_bytes(), policy=email.policy.compat32)) for p in files]
    assert sum(len(t) > 1 for t in theirs) > 20  # multiparts among them
    for path, a, b in zip(files, ours, theirs):
        assert a == b, path.name


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_generated_letters_parse_as_the_stdlib_parses_them(monkeypatch, newline):
    rng = random.Random(7)
    blanks = ["", " ", "\t", "--"]
    letters = []
    for n in range(200):
        outer, inner = f"b{n}.(x)", f"=_{rng.random()}+"
        parts = [f"--{inner}{rng.choice(blanks)}{newline}Content-Type: text/plain{newline}{newline}t{n}{newline}"
                 for _ in range(rng.randrange(1, 4))]
        body = (f"Content-Type: multipart/mixed; boundary=\"{outer}\"{newline}{newline}pre{newline}--{outer}{newline}"
                f"Content-Type: multipart/alternative; boundary=\"{inner}\"{newline}{newline}" + "".join(parts)
                + f"--{inner}--{newline}epi{newline}--{outer}{rng.choice(['--', '-- ', ''])}{newline}")
        letters.append(body.encode())
    ours = [_tree(email.message_from_bytes(raw)) for raw in letters]
    monkeypatch.setattr(email.feedparser, "re", re)
    assert ours == [_tree(email.message_from_bytes(raw)) for raw in letters]


# The end-of-part newline (gateway/email_fixes.py `_AtTheEnd`): the feedparser's
# `NLCRE_eol.search` on a multipart's last part and on epilogues.
STDLIB_EOL = re.compile(r"(\r\n|\r|\n)\Z")


def test_the_stdlib_still_searches_the_end_with_the_expression_this_replaces():
    source = open(email.feedparser.__file__, encoding="utf-8").read()
    assert "NLCRE_eol = re.compile(r'(\\r\\n|\\r|\\n)\\Z')" in source
    assert source.count("NLCRE_eol.search(") == 4
    assert isinstance(email.feedparser.NLCRE_eol, email_fixes._AtTheEnd)
    assert email.feedparser.NLCRE_eol.pattern == STDLIB_EOL.pattern


def span(mo) -> tuple | None:
    return None if mo is None else (mo.span(), mo.group(0), mo.group(1), mo.groups())


def test_the_end_of_any_string_is_found_where_the_whole_search_finds_it():
    rng = random.Random(20261204)
    pieces = ["\r\n", "\r", "\n", "\n\r", "a", "\u0e01", " ", "\r\r", "\n\n", "=", "\udce0"]
    ours = email.feedparser.NLCRE_eol
    samples = ["", "\r", "\n", "\r\n", "\n\r", "\r\r", "\n\n", "x\r\n\r\n"]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 9))) for _ in range(20000)]
    found = 0
    for text in samples:
        assert span(ours.search(text)) == span(STDLIB_EOL.search(text)), repr(text)
        found += STDLIB_EOL.search(text) is not None
    assert found > 5000


def test_every_letter_of_the_corpus_is_parsed_as_with_the_whole_search(monkeypatch):
    """Payloads, preambles, epilogues and defects of every part, with the stdlib's
    expression and with ours: the same, for each letter of the corpus in its own and in
    CRLF line ends, and for letters whose last part ends in each kind of newline."""
    def parsed(raw: bytes) -> list:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        return [(part.get_content_type(), part.get_payload() if not part.is_multipart() else None,
                 part.preamble, part.epilogue, [type(d).__name__ for d in part.defects]) for part in message.walk()]

    letters = [p.read_bytes() for p in sorted(shared_path("corpus", "mime").rglob("*")) if p.is_file()]
    for end in (b"\r\n", b"\r", b"\n", b"", b"\r\n\r\n", b"\n\r"):
        letters.append(b'Content-Type: multipart/mixed; boundary="B"\r\n\r\npre\r\n--B\r\n\r\nfirst\r\n--B\r\n'
                       b'Content-Type: multipart/alternative; boundary="C"\r\n\r\n--C\r\n\r\ninner' + end
                       + b"--C--" + end + b"inner epilogue" + end + b"--B\r\n\r\nlast" + end + b"--B--" + end)
    assert len(letters) > 50
    for raw in letters:
        for shape in (raw, re.sub(rb"\r?\n", b"\r\n", raw)):
            ours = parsed(shape)
            monkeypatch.setattr(email.feedparser, "NLCRE_eol", STDLIB_EOL)
            theirs = parsed(shape)
            monkeypatch.undo()
            assert ours == theirs, shape[:300]


# The feedparser's line buffer (gateway/email_fixes.py `_Lines`): a line that does not
# start with "-" is not shown to the boundaries.
STDLIB_LINES = email_fixes._Lines.__mro__[1]


def test_the_line_buffer_is_ours_and_the_stdlibs_keeps_what_it_reads():
    assert email.feedparser.BufferedSubFile is email_fixes._Lines
    assert STDLIB_LINES.__module__ == "email.feedparser" and email_fixes._lines_as_the_stdlib_keeps_them()
    source = open(email.feedparser.__file__, encoding="utf-8").read()
    assert "self._input = BufferedSubFile()" in source and "for ateof in reversed(self._eofstack):" in source


def _hostile_letters(rng: random.Random) -> list[bytes]:
    """Multiparts nested in each other, parts whose lines start with "-" or "--" (a
    boundary's prefix, an outer boundary inside an inner part, a close without its
    open), a delivery report (the blank-line end predicate), a boundary `re` compiles
    itself (one that does not read back), in any of the three line ends."""
    lines = ["-", "--", "--A", "--A--", "--B", "--B--", "--A x", "---A", "- A", "x", "", "-x-",
             "Content-Type: text/plain", "Content-Type: multipart/mixed; boundary=B",
             "Content-Type: message/delivery-status", "Reporting-MTA: dns; a", "Action: failed", "--\\d"]
    letters = []
    for _ in range(800):
        newline = rng.choice(["\r\n", "\n", "\r"])
        body = newline.join(rng.choice(lines) for _ in range(rng.randrange(0, 30)))
        top = rng.choice(["multipart/mixed; boundary=A", "multipart/report; boundary=A",
                          "message/delivery-status", "text/plain", "multipart/mixed; boundary=\"\\d\""])
        letters.append(f"Content-Type: {top}{newline}{newline}{body}{newline}".encode("utf-8"))
    return letters


def test_every_letter_is_parsed_as_with_the_stdlibs_line_buffer(monkeypatch):
    def parsed(raw: bytes, chunk: int | None) -> list:
        if chunk is None:
            message = email.message_from_bytes(raw, policy=email.policy.compat32)
        else:  # fed a few bytes at a time: lines cut across feeds, NeedMoreData
            parser = email.feedparser.BytesFeedParser(policy=email.policy.compat32)
            for at in range(0, len(raw), chunk):
                parser.feed(raw[at:at + chunk])
            message = parser.close()
        return [(part.get_content_type(), part.get_payload() if not part.is_multipart() else len(part.get_payload()),
                 part.preamble, part.epilogue, [type(d).__name__ for d in part.defects]) for part in message.walk()]

    rng = random.Random(2026_12_04_1)
    letters = [p.read_bytes() for p in sorted(shared_path("corpus", "mime").rglob("*")) if p.is_file()]
    letters += _hostile_letters(rng)
    skipped = 0
    real_readline = email_fixes._Lines.readline

    def counting(self):  # noqa: ANN001, ANN202
        nonlocal skipped
        before = len(self._lines)
        line = real_readline(self)
        skipped += bool(before and isinstance(line, str) and line and line[:1] != "-" and self._eofstack
                        and not self._others)
        return line

    monkeypatch.setattr(email_fixes._Lines, "readline", counting)
    for raw in letters:
        for shape in (raw, re.sub(rb"\r?\n", b"\r\n", raw)):
            for chunk in (None, rng.choice([5, 64, 4096])):
                ours = parsed(shape, chunk)
                with monkeypatch.context() as stdlib:
                    stdlib.setattr(email.feedparser, "BufferedSubFile", STDLIB_LINES)
                    theirs = parsed(shape, chunk)
                assert ours == theirs, (chunk, shape[:300])
    assert skipped > 100_000
