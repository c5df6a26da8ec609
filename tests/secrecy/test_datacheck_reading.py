"""The DATA check (gateway/secrecy/markings.py `classify_raw`) reads a letter exactly as
the pipeline reads it (gateway/pipeline/parse.py `parse_mail`), less what only the
register needs; each shortcut taken to make that cheaper is tried here with a marking
hidden where the shortcut no longer looks."""
from __future__ import annotations

import dataclasses
import functools
import random
import re

import mailparser
import pytest

from gateway.pipeline.parse import (
    MAX_MULTIPARTS,
    _MULTIPART,
    MimeTooDeep,
    _MailParser,
    multipart_containers,
    parse_mail,
)
from gateway.secrecy.markings import _WARM_UP, classify_headers, classify_raw, header_block
from rules.markings import UNREADABLE, highest, read_classification, uncertain
from tests.hostile.markings_cases import thai_pdf
from tests.letters import letter, make_pdf
from tests.paths import shared_dir


def _corpus() -> list:
    """../shared/corpus/mime (other projects' broken and hostile mail), the messages under
    1 MB: three readings of the three larger ones take more than this file's 2 s a test
    (tests/test_hostile_corpus.py sends them all through the daemon)."""
    base = shared_dir()
    root = base / "corpus" / "mime" if base else None
    if root is None or not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in ("", ".eml")
                  and p.stat().st_size < 1_000_000)


def _on_the_wire(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _pipeline_classification(raw: bytes):
    """What the pipeline concludes from the same bytes: its own full parse (digests
    and all), then the one decision."""
    found = classify_headers(raw)
    try:
        mail = parse_mail(raw, "")
    except (Exception, RecursionError):
        return highest(found, uncertain(UNREADABLE)), None
    return highest(found, read_classification(mail)), mail


def _same_reading(raw: bytes) -> None:
    expected, full = _pipeline_classification(raw)
    if full is not None:
        light = parse_mail(raw, "", digests=False)
        assert light == dataclasses.replace(
            full, attachments=tuple(dataclasses.replace(a, sha256="") for a in full.attachments))
    assert classify_raw(raw) == expected


@functools.lru_cache(maxsize=1)
def _letters() -> dict[str, bytes]:
    """Letters in the shapes mail clients send, each marked in one place."""
    pdf = make_pdf("cover letter", filler=3000)
    out = {
        "plain": letter(files=[("2569_dds_0403_57.pdf", pdf)]),
        "inline octet-stream PDF": letter(filename_style="inline", files=[("x.pdf", pdf)]),
        "rfc2047 Thai name marked": letter(filename_style="rfc2047",
                                           files=[("ลับที่สุด_2569_dds_0403_57.pdf", pdf)]),
        "rfc2231 Thai name marked": letter(files=[("ลับมาก_2569_dds_0403_57.pdf", pdf)]),
        "windows-874 body": letter(charset="windows-874", body="ลับที่สุด\nเรื่อง ขอเชิญประชุม\n"),
        "tis-620 subject": letter(charset="tis-620", subject="ลับมาก ขอเชิญประชุม"),
        "text file attached": letter(files=[("note.txt", "ลับที่สุด\nบันทึก\n".encode())]),
        "PDF text layer, bottom of page 2": letter(files=[
            ("2569_dds_0403_57.pdf", thai_pdf(bottom="ลับที่สุด", pages=2, marked_page=2))]),
        "header label": letter(extra_headers={"X-Classification": "004"}),
    }
    inner = letter(subject="แจ้ง", body="ลับที่สุด\nข้อความ\n")
    outer = letter(subject="ส่งต่อ", files=[])
    boundary = re.search(rb'boundary="([^"]+)"', outer).group(1)
    out["nested message/rfc822"] = outer.replace(
        b"--" + boundary + b"--",
        b"--" + boundary + b"\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--" + boundary + b"--")
    return out


@pytest.mark.parametrize("name", sorted(_letters()))
def test_the_check_reads_each_letter_shape_as_the_pipeline_does(name):
    raw = _letters()[name]
    _same_reading(raw)
    if name != "plain" and name != "inline octet-stream PDF":
        assert classify_raw(raw).level != "none", name


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_the_check_reads_every_corpus_message_as_the_pipeline_does(path):
    _same_reading(_on_the_wire(path.read_bytes()))


# --------------------------------------------------------------------------- mail-parser

def _mailparser_view(build):
    try:
        parsed = build()
    except Exception as exc:  # noqa: BLE001 - the kind of failure is compared
        return type(exc).__name__
    return (parsed.subject, parsed.date, parsed.text_plain, parsed.text_html, parsed.defects,
            [(p.get_content_type(), p.get_filename()) for p in parsed.message.walk()])


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_mail_parser_without_its_summary_dictionaries_reads_what_mail_parser_reads(path):
    raw = _on_the_wire(path.read_bytes())
    ours = _mailparser_view(lambda: _MailParser.from_bytes(raw))
    theirs = _mailparser_view(lambda: mailparser.parse_from_bytes(raw))
    if isinstance(ours, tuple) and isinstance(theirs, tuple) and ours[2:4] != theirs[2:4]:
        # Since session 40 a body under a GBK or GB2312 label that Python's codec could
        # not decode is decoded as GB18030, as Thunderbird does (GBK bytes labelled
        # gb2312 are common): the text differs from mail-parser's only there, and has
        # fewer U+FFFD, not more.
        for mine, its in zip(ours[2] + ours[3], theirs[2] + theirs[3], strict=True):
            assert mine == its or mine.count("\ufffd") < its.count("\ufffd"), path.name
        ours, theirs = ours[:2] + ours[4:], theirs[:2] + theirs[4:]
    assert ours == theirs


def test_mail_parser_summary_is_skipped_but_every_field_parse_mail_reads_is_there():
    raw = letter(subject="ลับ ขอเชิญประชุม", files=[("a.pdf", make_pdf())])
    assert _mailparser_view(lambda: _MailParser.from_bytes(raw)) == \
        _mailparser_view(lambda: mailparser.parse_from_bytes(raw))


# --------------------------------------------------------------------------- multipart count

def _nested(depth: int, content_type: str = "Content-Type: multipart/mixed", body: str = "ลับที่สุด\n") -> bytes:
    head = "From: a@example.org\r\nSubject: =?utf-8?b?4LmB4LiI4LmJ4LiH?=\r\nMIME-Version: 1.0\r\n"
    opening = "".join(f'{content_type}; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    inner = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    closing = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + inner + closing).encode()


@pytest.mark.parametrize("spelling", ["Content-Type: multipart/mixed", "CONTENT-TYPE: MULTIPART/MIXED",
                                      "content-type:\tMultiPart/Mixed", "Content-Type:multipart/related"])
def test_more_containers_than_the_limit_in_any_case_are_still_refused_unread(spelling):
    raw = _nested(MAX_MULTIPARTS + 1, spelling)
    with pytest.raises(MimeTooDeep):
        parse_mail(raw)
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("confidential", False)


def test_multipart_named_in_the_text_does_not_make_a_letter_unreadable():
    # 300 mentions of multipart/ in a letter about MIME, 120 real containers: read,
    # and the ลับที่สุด inside found (not sealed unread as "too deep").
    about = "ข้อความอ้างถึง multipart/mixed และ multipart/alternative\n" * 150
    raw = _nested(120, body="ลับที่สุด\n" + about)
    assert raw.lower().count(b"multipart/") > MAX_MULTIPARTS
    assert classify_raw(raw).level == "top_secret"


def test_the_container_count_is_exact_wherever_it_decides():
    rng = random.Random(16)
    pieces = [b"Content-Type: multipart/mixed\r\n", b"CONTENT-type:  MULTIPART/x\r\n", b"x multipart/ y\r\n",
              b"Content-Type: text/plain\r\n", b"\r\n", b"content-type: multipart/a", b"MULTIPART/"]
    for _ in range(300):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 2 * MAX_MULTIPARTS + 60)))
        exact = len(_MULTIPART.findall(raw))
        counted = multipart_containers(raw)
        assert (counted > MAX_MULTIPARTS) == (exact > MAX_MULTIPARTS)
        if exact > MAX_MULTIPARTS:
            assert counted == exact


# --------------------------------------------------------------------------- header block

def _old_header_block(raw: bytes) -> bytes:
    cut = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return raw[: min(cut)] if cut else raw


def test_the_header_block_ends_where_it_always_did():
    rng = random.Random(12)
    for _ in range(3000):
        raw = bytes(rng.choice(b"ab:\r\n") for _ in range(rng.randrange(0, 24)))
        assert header_block(raw) == _old_header_block(raw), raw


def test_a_bare_lf_blank_line_before_a_crlf_one_still_ends_the_headers():
    # The label after the bare-LF blank line is body text for every reader, old and new.
    raw = b"Subject: x\r\nX-A: 1\n\nX-Secrecy: top secret\r\n\r\nbody\r\n"
    assert header_block(raw) == b"Subject: x\r\nX-A: 1"
    raw = b"Subject: x\r\nX-Secrecy: top secret\r\n\r\nbody\n\nmore"
    assert classify_headers(raw).level == "top_secret"
    big = b"Subject: x\r\nX-Secrecy: 004\r\n\r\n" + b"A" * 300_000  # no bare LF blank line anywhere
    assert header_block(big) == b"Subject: x\r\nX-Secrecy: 004"


# --------------------------------------------------------------------------- warm-up

def test_the_workers_warm_up_takes_the_paths_a_real_letter_takes():
    """The first letter a worker reads must not pay, within its deadline, for importing
    PyThaiNLP's normaliser (rules/markings.py imports it on the first text holding ล or
    ด) or pypdf's text extraction (on the first PDF that opens)."""
    mail = parse_mail(_WARM_UP)
    assert "ด" in mail.subject and "ด" in mail.body_text and "ด" in mail.body_html
    assert [(a.sniffed_type, a.pdf_text, a.pdf_error) for a in mail.attachments] == \
        [("application/pdf", "warm up", None)]
    assert classify_raw(_WARM_UP).level == "none"
