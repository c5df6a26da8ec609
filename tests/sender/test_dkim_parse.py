"""gateway/sender/dkim.py `rfc822_parse` reads a letter as dkimpy's own does (the same
header fields, the same CRLF body, the same refusal of a malformed header), cutting only
the header into lines: dkimpy cut the whole letter, ~3 ms of the supervisor's CPU for a
200 KiB letter at every DATA."""
from __future__ import annotations

import random

import dkim as dkimpy
import pytest

from gateway.sender.dkim import rfc822_parse
from tests.paths import shared_path


def _read(parse, message: bytes):
    try:
        return parse(message)
    except Exception as exc:  # noqa: BLE001 - a refusal (or dkimpy's IndexError) must be the same
        return ("refused", type(exc).__name__, str(exc))


def _dkimpys(message: bytes):
    return _read(dkimpy.rfc822_parse, message)


def _ours(message: bytes):
    return _read(rfc822_parse, message)


def test_every_letter_of_the_corpus_is_read_as_dkimpy_reads_it():
    files = sorted(p for p in shared_path("corpus", "mime").rglob("*") if p.is_file())
    assert len(files) > 50
    for path in files:
        raw = path.read_bytes()
        for variant in (raw, raw.replace(b"\r\n", b"\n"), raw.replace(b"\n", b"\r\n")):
            assert _ours(variant) == _dkimpys(variant), path


@pytest.mark.parametrize("seed", range(4))
def test_line_ends_of_every_kind_in_any_place(seed):
    rng = random.Random(seed)
    pieces = [b"From: a@b.example", b"Subject: x", b" folded", b"\tfolded", b"", b"body", b"From x",
              b"bad header line", b"\r", b"X-A: 1\r", b"=?utf-8?q?x?=", b"."]
    ends = [b"\r\n", b"\n", b"\r\r\n", b"\n\r", b""]
    for _ in range(2000):
        message = b"".join(rng.choice(pieces) + rng.choice(ends) for _ in range(rng.randrange(0, 9)))
        assert _ours(message) == _dkimpys(message), message
