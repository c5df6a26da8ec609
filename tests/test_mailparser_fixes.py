"""mail-parser's address fields read once per text (gateway/pipeline/mailparser_fixes.py):
the same addresses and defects as mail-parser's own reading, a copy for each caller, and
the same parsed letters."""
from __future__ import annotations

import email
import email.policy
import random

import mailparser.core

from gateway.pipeline import mailparser_fixes
from gateway.pipeline.parse import parse_mail
from tests.paths import shared_path

ADDRESS_FIELDS = ("from", "to", "cc", "bcc", "reply-to", "sender", "delivered-to", "return-path")


def corpus_files() -> list:
    return sorted(p for p in shared_path("corpus", "mime").rglob("*") if p.is_file())


def corpus_fields() -> list[str]:
    texts = []
    for path in corpus_files():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        texts += [str(v) for k, v in message.raw_items() if k.lower() in ADDRESS_FIELDS and isinstance(v, str)]
    return texts


def hostile_fields() -> list[str]:
    rng = random.Random(27)
    pieces = ['"ผู้ส่ง" <a@b.go.th>', "=?utf-8?b?4Lij4LiH?= <c@d>", "x@y", "<z@w>", "(comment) e@f", ",", ", ,",
              '"unterminated <g@h>', "i@j (x(y)z)", "\udce0\udcb8 <k@l>", "group: m@n, o@p;", "q@r <s@t>",
              "=?tis-620?q?=C5=D1=BA?= <u@v>", "", " ", "<>", "a@b@c", '"a@b" <c@d>',
              '"Doe, John" <j@d.example>', "=?iso-2022-jp?b?GyRCJEgkJhsoQg==?= <x@jp>",
              "=?windows-874?b?ysPYu7rT?= <w@th>", "undisclosed-recipients:;"]
    return [" ".join(rng.choice(pieces) for _ in range(rng.randrange(1, 6))) for _ in range(1500)]


def test_parsing_a_letter_installs_the_kept_reading():
    assert mailparser.core.get_addresses is mailparser_fixes.get_addresses


def test_each_field_reads_as_mail_parser_reads_it_and_each_caller_gets_its_own_copy():
    theirs_fn = mailparser_fixes.mailparsers_get_addresses
    texts = corpus_fields() + hostile_fields()
    assert len(texts) > 1500
    for text in texts:
        expected_defects: list = []
        expected = theirs_fn(text, defects=expected_defects, decode_names=True)
        for _ in range(2):  # read, then kept
            defects: list = []
            got = mailparser_fixes.get_addresses(text, defects=defects, decode_names=True)
            assert (got, defects) == (expected, expected_defects), text
            got.append(("changed", "x@y"))
            for defect in defects:
                defect.update(header="to", occurrence=3)  # what mail-parser does to its copy
                for value in defect.values():
                    if isinstance(value, list):
                        value.append("changed")
        assert mailparser_fixes.get_addresses(text, decode_names=False) == theirs_fn(text, decode_names=False)


def test_every_corpus_letter_parses_as_with_mail_parsers_own_reading(monkeypatch):
    files = corpus_files()
    ours = [parse_mail(p.read_bytes(), digests=False) for p in files]
    monkeypatch.setattr(mailparser.core, "get_addresses", mailparser_fixes.mailparsers_get_addresses)
    theirs = [parse_mail(p.read_bytes(), digests=False) for p in files]
    assert sum(bool(m.defects) for m in theirs) > 10
    for path, a, b in zip(files, ours, theirs):
        assert a == b, path.name
