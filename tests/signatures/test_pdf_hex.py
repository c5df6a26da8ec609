"""The one-pass hex string reader (gateway/signatures/pdf_hex.py) answers as pyHanko's own
reader does, on plain strings and on every kind it hands back to it: the same value of
the same type, the stream left at the same place, or the same error."""
from __future__ import annotations

import io
import random

import pytest
from pyhanko.pdf_utils import generic

from gateway.signatures.pdf_hex import _plain_reader, read_hex_strings_at_once
from gateway.signatures.verify import verify_pdf
from tests.letters import make_pdf
from tests.pki import sign_letter


def _original():
    reader = generic.read_hex_string_from_stream
    return getattr(reader, "original", reader)


def _outcome(read, data: bytes, at: int):
    stream = io.BytesIO(data)
    stream.seek(at)
    try:
        value = read(stream)
    except Exception as exc:  # noqa: BLE001 - the error is the answer being compared
        return ("raised", type(exc), str(exc))
    return ("read", type(value), value.original_bytes, str(value), stream.tell())


def _same(data: bytes, at: int = 0):
    original = _original()
    mine = _outcome(_plain_reader(original), data, at)
    theirs = _outcome(original, data, at)
    assert mine == theirs, (data[:120], mine, theirs)
    return mine


CASES = [
    b"<4a6f686e>",
    b"<4A6F686E>rest",
    b"<4a6f6>",  # odd: the last digit is followed by 0
    b"<>",
    b"< 4a\n6f\r\n68\t6e\x00\f>",
    b"<feff0e250e310e1a>",  # a BOM: a text string (ลับ in UTF-16)
    b"<4a % a comment > with a bracket\n 6f>",  # pyHanko skips the comment; the '>' in it is not the end
    b"<4a % comment at the end",
    b"<4a6g>",  # a stray byte: pyHanko refuses it
    b"<4a6f",  # no '>' before the end
    b"<",
    b"<4a<6f>",
    b"<" + b"ab" * 40_000 + b">tail",  # longer than the largest read
    b"<" + b"0" * 300 + b"g" + b"0" * 300 + b">",  # the stray byte in the second read
    # the '>' the last byte of a read, or the first of the next (reads of 256, 512, ...)
    *(b"<" + b"0" * n + b">" for n in (254, 255, 256, 257, 766, 767, 768, 769)),
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_each_kind_of_hex_string_reads_as_pyhanko_reads_it(data):
    _same(data)
    _same(b"12 0 obj " + data, at=len(b"12 0 obj "))  # from the middle of a file, as in a PDF


def test_plain_strings_are_read_by_the_one_pass_reader_itself():
    """The fast path is taken (not everything handed back): pyHanko's reader is not called."""
    calls = []

    def original(stream):
        calls.append(stream.tell())
        return _original()(stream)

    reader = _plain_reader(original)
    for data in (b"<4a6f686e>", b"< 4a\n6f >", b"<" + b"ab" * 40_000 + b">"):
        reader(io.BytesIO(data))
    assert calls == []
    reader(io.BytesIO(b"<4a % note\n6f>"))
    assert calls == [0]


class _Counted(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        out = super().read(size)
        self.bytes_read += len(out)
        return out


def test_a_stray_byte_is_handed_back_without_reading_on_to_the_next_bracket():
    """A file of many broken strings, each far from any '>', must not cost a read to the
    end of the file per string (pyHanko stops at the stray byte)."""
    stream = _Counted(b"<00g" + b"0" * 5_000_000 + b">")
    handed = []
    assert _plain_reader(lambda s: handed.append(s.tell()) or "pyHanko's")(stream) == "pyHanko's"
    assert handed == [0] and stream.bytes_read <= 257


def test_random_strings_of_digits_spaces_comments_and_stray_bytes_read_alike():
    rng = random.Random(20261201)
    alphabet = b"0123456789abcdefABCDEF" * 3 + b" \n\r\t\f\x00%>gZ<(\\"
    for _ in range(3000):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        end = rng.choice((b">", b"> 0 R", b""))
        _same(b"<" + body + end)


def test_a_signed_letter_verifies_with_the_reader_installed_once(pki, trust):
    verdict = verify_pdf(sign_letter(make_pdf("หนังสือที่ลงนาม"), pki), trust)
    assert verdict.indication == "TOTAL_PASSED"
    installed = generic.read_hex_string_from_stream
    assert hasattr(installed, "original") and not hasattr(installed.original, "original")
    read_hex_strings_at_once()  # again: not wrapped twice
    assert generic.read_hex_string_from_stream is installed


def _contents_span(signed: bytes) -> tuple[int, int]:
    """Where the hex digits of the signature's /Contents lie (between '<' and '>')."""
    at = signed.rindex(b"/Contents <") + len(b"/Contents <")
    return at, signed.index(b">", at)


def _with_contents(signed: bytes, new: bytes) -> bytes:
    start, end = _contents_span(signed)
    assert len(new) == end - start  # the same length: /ByteRange's offsets hold
    return signed[:start] + new + signed[end:]


def test_a_signed_letter_gets_the_verdict_pyhankos_own_reader_gives_however_its_contents_are_written(
        pki, trust, monkeypatch):
    """/Contents written otherwise than pyHanko writes it (capitals; line breaks, a comment
    or a stray byte in its padding; a changed byte): the verdict a letter gets is the one
    pyHanko's own reader would have given, whichever reader read it."""
    import gateway.signatures.verify as verify_module

    signed = sign_letter(make_pdf("หนังสือที่ลงนาม ครั้งที่ 2"), pki)
    start, end = _contents_span(signed)
    digits = signed[start:end]
    padding = len(digits) - len(digits.rstrip(b"0"))
    assert padding >= 40  # pyHanko reserves room: the signature ends in zeros
    tail = len(digits) - 24  # inside the padding
    variants = {
        "capitals": digits.upper(),
        "line breaks in the padding": digits[:tail] + b"\r\n  \n\t\f\x00" + digits[tail + 8:],
        "a comment in the padding": digits[:tail] + b"% x >\n00" + digits[tail + 8:],
        "a stray byte in the padding": digits[:tail] + b"0g" + digits[tail + 2:],
        "a byte of the signature changed": digits[:200] + (b"1" if digits[200:201] != b"1" else b"2") + digits[201:],
    }
    read_hex_strings_at_once()
    fast = {what: verify_pdf(_with_contents(signed, new), trust) for what, new in variants.items()}
    monkeypatch.setattr(verify_module, "read_hex_strings_at_once", lambda: None)
    monkeypatch.setattr(generic, "read_hex_string_from_stream", _original())
    theirs = {what: verify_pdf(_with_contents(signed, new), trust) for what, new in variants.items()}
    assert fast == theirs
    assert fast["capitals"].indication == "TOTAL_PASSED"
    # Anything but digits in the gap the signature leaves is not the signer's: never passed.
    assert all(v.indication != "TOTAL_PASSED" for what, v in fast.items() if what != "capitals")
