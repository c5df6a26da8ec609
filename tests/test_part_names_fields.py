"""The folder copy's file names, and where its stamped letter goes, are read from each
header block's Content-Type and Content-Disposition fields alone
(gateway/pipeline/mime_attach.py `content_fields`, `_naming_headers` in part_names.py):
what the parser makes of them is what it makes of them in the whole block, for every
block of the corpus and for hostile blocks (stray CRs, misplaced envelope lines,
continuations where none belongs, names of fields with blanks or 8-bit bytes)."""
from __future__ import annotations

import email.policy
import random
import re
from email.parser import BytesHeaderParser

import pytest

from gateway.delivery import part_names
from tests.paths import shared_path

FIELDS = ("content-type", "content-disposition")


def view(message) -> tuple:
    return (message.get_all("content-type"), message.get_all("content-disposition"),
            [(k, v) for k, v in message.raw_items() if k.lower() in FIELDS],
            message.get_content_type(), message.get_content_maintype(), message.get_boundary(),
            message.get_params(header="content-type"), message.get_params(header="content-disposition"),
            message.get_param("filename", header="content-disposition"), message.get_param("name"))


def whole(block: bytes):
    return BytesHeaderParser(policy=email.policy.compat32).parsebytes(block)


@pytest.fixture
def compared(monkeypatch):
    """Every block clean_names reads is read both ways and compared."""
    blocks = []
    ours = part_names._naming_headers

    def both(block: bytes):
        mine = ours(block)
        assert view(mine) == view(whole(block)), block[:300]
        blocks.append(block)
        return mine

    monkeypatch.setattr(part_names, "_naming_headers", both)
    return blocks


def test_every_block_of_the_corpus_reads_alike(compared):
    files = sorted(p for p in shared_path("corpus", "mime").rglob("*") if p.is_file())
    assert len(files) > 50
    for path in files:
        raw = path.read_bytes()
        for shape in (raw, re.sub(rb"\r?\n", b"\r\n", raw)):
            part_names._entity(shape, 0, len(shape), 0, [])
    assert len(compared) > 200


LINES = [
    "Content-Type: multipart/mixed; boundary=\"BB\"", "Content-Type: application/pdf; name=\"a.pdf\"",
    "content-TYPE: text/plain; charset=tis-620", "Content-Type : text/html", "CONTENT-DISPOSITION: inline",
    "Content-Disposition: attachment; filename*=utf-8''%E0%B8%A5%E0%B8%B1%E0%B8%9A.pdf",
    "Content-Disposition: attachment;\r\n filename*0*=utf-8''%E0%B8%A5;\r\n filename*1=x.pdf",
    " continued; name=\"b.pdf\"", "\tfilename=\"c.pdf\"", "From someone Mon Jan 1", ":no name", "X-A: y",
    "Received: from a\r by b", "Subject: =?utf-8?b?4Lil4Lix4Lia?=", "not a header line",
    "Cont\udce9nt-Type: text/plain", "Content-Type: application/pdf; name=\"\udce0\udcb8\udca5.pdf\"",
    "Content-Type:", "Content-Disposition: attachment; filename=\"a\x0bb.pdf\"", "Content-Type\t: x/y",
]
ENDINGS = ["\r\n", "\n", "\r"]


def test_hostile_blocks_read_alike():
    rng = random.Random(2026_12_02)
    for _ in range(4000):
        newline = rng.choice(["\r\n", "\n"])
        lines = [rng.choice(LINES) for _ in range(rng.randrange(0, 8))]
        text = "".join(line + (rng.choice(ENDINGS) if rng.random() < 0.15 else newline) for line in lines)
        block = text.encode("ascii", "surrogateescape") + newline.encode() * 2
        assert view(part_names._naming_headers(block)) == view(whole(block)), block


def test_a_letters_own_fields_are_not_parsed():
    block = (b"Received: from a by b\r\nDKIM-Signature: v=1; a=rsa-sha256; b=xyz\r\nSubject: x\r\n"
             b"Content-Type: application/pdf;\r\n name=\"a.pdf\"\r\nX-Saraban-Unit: u\r\n\r\n")
    headers = part_names._naming_headers(block)
    assert headers.get_param("name") == "a.pdf"
    assert list(headers.raw_items()) == [("Content-Type", "application/pdf;\r\n name=\"a.pdf\"")]


def edits_of(raw: bytes) -> list:
    edits: list = []
    part_names._entity(raw, 0, len(raw), 0, edits)
    return edits


LEAF_LINES = LINES + [
    "Content-Type: MultiPart/Mixed; boundary=\"BB\"", "Content-Type: application/pdf; name=\"" + "ก" * 90 + ".pdf\"",
    "Content-Disposition: attachment; filename=\"" + "a" * 300 + ".pdf\"",
    "Content-Disposition: attachment;\r\n filename=\"" + "b" * 260 + ".pdf\"",
    "Content-Type: application/pdf; name=\"2569_dds_0403_57.pdf\"", "Content-Transfer-Encoding: base64",
    "Content-Type: message/rfc822", "Content-Type: multipart/signed; boundary=\"SS\"",
]


def test_a_plain_leaf_is_left_as_a_parse_of_its_fields_leaves_it(monkeypatch):
    """`_plain_leaf` spares the parse only of a block whose names the parse would leave
    as they are: every file of the corpus and thousands of made-up parts (long fields,
    names with 8-bit bytes, RFC 2231 marks, multiparts in odd case) get the same edits
    with and without it, and some of them are edited."""
    files = sorted(p for p in shared_path("corpus", "mime").rglob("*") if p.is_file())
    rng = random.Random(2026_12_03)
    letters = [p.read_bytes() for p in files]
    for _ in range(1500):
        newline = rng.choice(["\r\n", "\n"])
        parts = []
        for _ in range(rng.randrange(1, 4)):
            lines = [rng.choice(LEAF_LINES) for _ in range(rng.randrange(1, 5))]
            parts.append(newline.join(lines) + newline * 2 + "JVBERi0xLjQK" + newline)
        body = "".join(f"--BB{newline}{part}" for part in parts) + f"--BB--{newline}"
        letter = f"Content-Type: multipart/mixed; boundary=\"BB\"{newline}{newline}{body}"
        letters.append(letter.encode("utf-8", "surrogateescape"))
    skipped, edited = 0, 0
    real = part_names._plain_leaf
    for raw in letters:
        for shape in (raw, re.sub(rb"\r?\n", b"\r\n", raw)):
            monkeypatch.setattr(part_names, "_plain_leaf", lambda head, newline: False)
            whole_parse = edits_of(shape)
            calls = []
            monkeypatch.setattr(part_names, "_plain_leaf", lambda head, newline: calls.append(real(head, newline)) or calls[-1])
            assert edits_of(shape) == whole_parse, shape[:400]
            skipped += sum(calls)
            edited += bool(whole_parse)
    assert skipped > 1000 and edited > 300


def test_the_stamped_letter_goes_where_the_whole_header_block_says(monkeypatch):
    """add_attachment reads the folder copy's Content-Type alone: for every letter of the
    corpus the stamped letter goes exactly where the whole block's reading put it."""
    from gateway.pipeline import mime_attach

    files = sorted(p for p in shared_path("corpus", "mime").rglob("*") if p.is_file())
    assert len(files) > 50
    raws = [path.read_bytes() for path in files]
    shapes = raws + [re.sub(rb"\r?\n", b"\r\n", raw) for raw in raws]
    ours = [mime_attach.add_attachment(shape, "x.pdf", b"%PDF-1.7") for shape in shapes]
    monkeypatch.setattr(mime_attach, "content_fields", whole)
    wrapped = 0
    for shape, mine in zip(shapes, ours, strict=True):
        theirs = mime_attach.add_attachment(shape, "x.pdf", b"%PDF-1.7")
        # A wrap's boundary is new each time: compared with it blanked.
        assert re.sub(rb"saraban-[0-9a-f]{32}", b"B", mine) == re.sub(rb"saraban-[0-9a-f]{32}", b"B", theirs)
        wrapped += b"saraban-" in mine
    assert 0 < wrapped < len(shapes)
