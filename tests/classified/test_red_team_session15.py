"""Classified letters the gateway could not tell from ordinary ones, and treated as
ordinary (red team, session 15). Each was registered in the ordinary book with its
subject in plain and filed into the unit's ordinary folder (a ลับที่สุด one taken in
with a 250):

* an HTML body whose marking is ruby base text (`<ruby>ลับมาก<rt>x</rt></ruby>`: the
  annotation, drawn above the word, was read after it, "ลับมากx"), or is drawn by a
  document inside the page: an iframe's `srcdoc`, a `data:` URL of HTML or of an SVG
  image; a <template> (Outlook's Word engine shows it); an attached SVG drawing;
* a file encrypted with a password the gateway cannot open: a Word, Excel or PowerPoint
  97-2003 file (RC4/CryptoAPI, MS-OFFCRYPTO 2.3), a 7z archive (7zAES, headers
  encrypted or not), a RAR archive (RAR 4 and 5). Now each makes the letter at least
  ลับ, as a password-protected PDF, ZIP member or DOCX already did (fail closed).

The files are built here, minimal but as the formats define them (no 7-Zip or RAR on the
machine, no new dependency). docs/secrecy.md "Normalisation" and "Files the gateway
cannot read"; rules/markings.py, gateway/pipeline/file_texts.py."""
from __future__ import annotations

import base64
import lzma
import struct
import urllib.parse
import zlib

import pytest

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import MARKER
from tests.classified.test_red_team_session14 import COVER, html_letter
from tests.letters import letter
from tests.secrecy.test_encrypted_files_fail_closed import cfb
from tests.secrecy.test_mime_hidden_markings import _zip, file_part, mixed, text_part

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><text x="10" y="30">{}</text></svg>'


def data_url(media: str, text: str, b64: bool = False) -> str:
    if b64:
        return f"data:{media};base64,{base64.b64encode(text.encode()).decode()}"
    return f"data:{media};charset=utf-8,{urllib.parse.quote(text)}"


# Each shows ลับมาก in Thunderbird (Gecko) or Outlook; each read as no marking on main.
DRAWN_HTML = {
    "ruby": "<p><ruby>ลับมาก<rt>lap mak</rt></ruby></p>",
    "ruby with rp": "<p><ruby>ลับมาก<rp>(</rp><rt>lap mak</rt><rp>)</rp></ruby></p>",
    "ruby split base": "<p><ruby>ลับ<rt>lap</rt>มาก<rt>mak</rt></ruby></p>",
    "ruby annotation is the marking": "<p><ruby>เอกสาร<rt>ลับมาก</rt></ruby></p>",
    "iframe srcdoc": '<iframe srcdoc="<p>ลับมาก</p>"></iframe>',
    "iframe srcdoc escaped": '<iframe srcdoc="&lt;p style=&quot;color:red&quot;&gt;ลับมาก&lt;/p&gt;"></iframe>',
    "iframe data: html": f'<iframe src="{data_url("text/html", "<p>ลับมาก</p>", b64=True)}"></iframe>',
    "img data: svg": f'<p><img src="{data_url("image/svg+xml", SVG.format("ลับมาก"))}"></p>',
    "object data: svg": f'<object data="{data_url("image/svg+xml", SVG.format("ลับมาก"), b64=True)}"></object>',
    "template": "<template><p>ลับมาก</p></template>",
    "css attr()": '<style>p.h::before { content: attr(data-level); }</style><p class="h" data-level="ลับมาก"></p>',
    "css quotes": '<style>q.h { quotes: "ลับมาก" ""; }</style><p><q class="h"></q></p>',
    "svg image data: svg": f'<svg width="300" height="40"><image href="{data_url("image/svg+xml", SVG.format("ลับมาก"))}"/></svg>',
    "video poster data: svg": f'<video poster="{data_url("image/svg+xml", SVG.format("ลับมาก"), b64=True)}"></video>',
    "css background svg": f'<div style="background:url(\'{data_url("image/svg+xml", SVG.format("ลับมาก"))}\')">x</div>',
    "style sheet background svg": ("<style>.h{background-image:url("
                                   f'"{data_url("image/svg+xml", SVG.format("ลับมาก"), b64=True)}")}}</style>'
                                   '<p class="h">x</p>'),
}


@pytest.mark.parametrize("html", DRAWN_HTML.values(), ids=DRAWN_HTML.keys())
def test_html_a_client_draws_from_ruby_embedded_documents_and_templates_is_read(html):
    found = classify_raw(html_letter(html))
    assert (found.level, found.where, found.certain) == ("secret", "html", True)


def test_html_of_that_kind_without_a_marking_stays_ordinary():
    for html in ("<p><ruby>กลับ<rt>klap</rt></ruby>บ้าน</p>", "<p>ความ<ruby>ลับ<rt>lap</rt></ruby>ของทางราชการ</p>",
                 '<iframe srcdoc="<p>ตารางประชุม</p>"></iframe>', '<iframe src="https://bangkok.go.th/"></iframe>',
                 f'<img src="{data_url("image/svg+xml", SVG.format("ตราสัญลักษณ์"))}">',
                 '<img src="data:image/png;base64,iVBORw0KGgo=">', "<template><p>กลับบ้าน</p></template>"):
        assert classify_raw(html_letter(html)).level == "none", html


def test_srcdoc_nested_past_the_bound_is_not_followed():
    """A document in a document in a document is read; one more level is not (a hostile
    body cannot make the reader recurse without end)."""
    inner = "<p>ลับมาก</p>"
    for _ in range(3):
        inner = f'<iframe srcdoc="{inner.replace("&", "&amp;").replace(chr(34), "&quot;")}"></iframe>'
    assert classify_raw(html_letter(inner)).level == "secret"
    deeper = f'<iframe srcdoc="{inner.replace("&", "&amp;").replace(chr(34), "&quot;")}"></iframe>'
    assert classify_raw(html_letter(deeper)).level == "none"


def test_an_attached_svg_drawing_is_read_as_drawn():
    svg = SVG.format("ลับมาก").encode()
    for ctype, name in (("image/svg+xml", "stamp.svg"), ("application/octet-stream", "stamp.svg")):
        found = classify_raw(mixed(text_part(), file_part(ctype, name, svg)))
        assert (found.level, found.certain) == ("secret", True), ctype


# --------------------------------------------------------------------------- encrypted files

def word97(encrypted: bool) -> bytes:
    """A Word 97-2003 file: its FIB's fEncrypted bit (MS-DOC 2.5.2) says a password protects it."""
    fib = struct.pack("<6H", 0xA5EC, 0x00C1, 0, 0x041E, 0, 0x0100 if encrypted else 0)
    return cfb({"WordDocument": fib + "ลับมาก".encode("utf-16-le"), "1Table": b"\0" * 64})


def excel97(encrypted: bool) -> bytes:
    """An Excel 97-2003 workbook: BOF, then FILEPASS (MS-XLS 2.4.117) when it has a password."""
    bof = struct.pack("<HH", 0x0809, 16) + struct.pack("<HHHHII", 0x0600, 5, 0x1F4B, 0x07CC, 0, 0x0106)
    filepass = struct.pack("<HHHHH", 0x002F, 6, 1, 1, 2) if encrypted else b""
    return cfb({"Workbook": bof + filepass + struct.pack("<HHH", 0x0042, 2, 0x04E4) + struct.pack("<HH", 0x000A, 0)})


def powerpoint97(encrypted: bool) -> bytes:
    """A PowerPoint 97-2003 file: a CryptSession10Container and an EncryptedSummary
    stream when it has a password (MS-PPT 2.3.7)."""
    crypt = struct.pack("<HHI", 0x000F, 0x2F14, 8) + b"\0" * 8 if encrypted else b""
    streams = {"PowerPoint Document": struct.pack("<HHI", 0x000F, 0x03E8, 0) + crypt}
    if encrypted:
        streams["EncryptedSummary"] = b"\0" * 64
    return cfb(streams)


def _7z(header: bytes, packed: bytes = b"") -> bytes:
    """A 7z archive: signature header (7zFormat.txt), packed streams, then `header`."""
    start = struct.pack("<QQI", len(packed), len(header), zlib.crc32(header))
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(start)) + start + packed + header


AES = b"\x24\x06\xf1\x07\x01\x02\x00\x00"  # coder 06F10701 (7zAES), two bytes of properties
LZMA = b"\x23\x03\x01\x01\x05\x5d\x00\x00\x01\x00"  # coder 030101 (LZMA), lc3 lp0 pb2, 64 KiB


def _streams(coder: bytes, packed: int, unpacked: int, at: int = 0) -> bytes:
    """PackInfo (one stream at `at`) and UnpackInfo (one folder of one coder); each
    number below 0x80, one byte in 7z's number coding."""
    assert max(at, packed, unpacked) < 0x80
    return (bytes([0x06, at, 0x01, 0x09, packed]) + b"\x00\x07\x0b\x01\x00\x01" + coder
            + bytes([0x0c, unpacked]) + b"\x00")


def sevenz(encrypted: bool, header: str = "lzma") -> bytes:
    """7-Zip's own layout: the header packed with LZMA ("lzma"), as it is ("plain"),
    or encrypted too ("encrypted", `-mhe=on`)."""
    main = b"\x01\x04" + _streams(AES if encrypted else LZMA, 16, 16) + b"\x00\x00"
    if header == "plain":
        return _7z(main, b"\0" * 16)
    if header == "encrypted":
        return _7z(b"\x17" + _streams(AES, 32, 30, at=16) + b"\x00", b"\0" * 16 + bytes(range(32)))
    packer = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 65536}])
    packed = packer.compress(main) + packer.flush()
    return _7z(b"\x17" + _streams(LZMA, len(packed), len(main), at=16) + b"\x00", b"\0" * 16 + packed)


def rar4(encrypted: bool) -> bytes:
    """RAR 4: marker, main header, one file header (LHD_PASSWORD 0x04 when encrypted), end."""
    name = "ลับมาก.pdf".encode()
    body = struct.pack("<IIBIIBBHI", 4, 4, 0, 0, 0, 20, 0x30, len(name), 0x20) + name
    head = struct.pack("<HBHH", 0, 0x74, 0x8000 | (0x0004 if encrypted else 0), 7 + len(body)) + body
    return (b"Rar!\x1a\x07\x00" + struct.pack("<HBHH", 0, 0x73, 0, 13) + b"\0" * 6 + head + b"abcd"
            + struct.pack("<HBHH", 0, 0x7B, 0x4000, 7))


def _vint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _rar5_block(kind: int, fields: bytes, extra: bytes = b"", data: bytes = b"") -> bytes:
    flags = (1 if extra else 0) | (2 if data else 0)
    head = (_vint(kind) + _vint(flags) + (_vint(len(extra)) if extra else b"") + (_vint(len(data)) if data else b"")
            + fields + extra)
    return struct.pack("<I", zlib.crc32(_vint(len(head)) + head)) + _vint(len(head)) + head + data


def rar5(encrypted: str = "") -> bytes:
    """RAR 5: a file encryption record in the file header's extra area ("files"), or an
    archive encryption header first ("headers", `-hp`)."""
    marker = b"Rar!\x1a\x07\x01\x00"
    if encrypted == "headers":
        return marker + _rar5_block(4, _vint(0) + _vint(0) + _vint(15) + b"\0" * 16) + b"\0" * 64
    name = "ลับมาก.pdf".encode()
    record = _vint(0x01) + _vint(0) + _vint(0) + _vint(15) + b"\0" * 32 if encrypted == "files" else b""
    extra = _vint(len(record)) + record if record else b""
    fields = _vint(0) + _vint(4) + _vint(0x20) + _vint(0) + _vint(0) + _vint(len(name)) + name
    return marker + _rar5_block(1, _vint(0)) + _rar5_block(2, fields, extra, b"abcd") + _rar5_block(5, _vint(0))


ENCRYPTED = {
    "word 97-2003": ("application/msword", "2569_dds_0403_57_1.doc", word97),
    "excel 97-2003": ("application/vnd.ms-excel", "2569_dds_0403_57_1.xls", excel97),
    "powerpoint 97-2003": ("application/vnd.ms-powerpoint", "2569_dds_0403_57_1.ppt", powerpoint97),
    "7z, header packed": ("application/x-7z-compressed", "letters.7z", sevenz),
    "7z, header plain": ("application/x-7z-compressed", "letters.7z", lambda e: sevenz(e, "plain")),
    "rar 4": ("application/vnd.rar", "letters.rar", rar4),
    "rar 5": ("application/vnd.rar", "letters.rar", lambda e: rar5("files" if e else "")),
}


@pytest.mark.parametrize("case", ENCRYPTED, ids=ENCRYPTED.keys())
def test_a_file_with_a_password_makes_the_letter_at_least_confidential_and_without_one_not(case):
    ctype, name, make = ENCRYPTED[case]
    found = classify_raw(mixed(text_part(), file_part(ctype, name, make(True))))
    assert (found.level, found.certain) == ("confidential", False), case
    assert "unreadable" in found.where and name not in found.where  # the name may be the letter's words
    # The same file without a password is no password-protected file: it is read (the
    # Word file's ลับมาก is seen), or, a 7z or RAR archive, not read for that reason
    # (test_unreadable_files.py).
    plain = classify_raw(mixed(text_part(), file_part(ctype, name, make(False))))
    assert "password" not in plain.where and plain.level in ("none", "secret", "confidential"), case


def test_archives_with_their_headers_encrypted_and_sent_as_octet_stream_or_zipped_fail_closed():
    for data in (sevenz(True, "encrypted"), rar5("headers")):
        for part in (file_part("application/octet-stream", "enclosure.bin", data),
                     file_part("application/zip", "letters.zip", _zip({"inner.bin": data}))):
            found = classify_raw(mixed(text_part(), part))
            assert (found.level, found.certain) == ("confidential", False)


def test_damaged_containers_are_read_without_a_crash():
    """Cut or lying headers: no exception, bounded, and no password seen in a file of
    zeros (a 7z archive is uncertain anyway: its files are not read)."""
    for data in (word97(True)[:700], b"7z\xbc\xaf\x27\x1c" + b"\xff" * 40, b"Rar!\x1a\x07\x01\x00" + b"\xff" * 30,
                 b"Rar!\x1a\x07\x00" + b"\0" * 30, cfb({"Workbook": b"\xff" * 8000})):
        classify_raw(mixed(text_part(), file_part("application/octet-stream", "x.bin", data)))
    found = classify_raw(mixed(text_part(), file_part("application/octet-stream", "x.7z",
                                                     b"7z\xbc\xaf\x27\x1c" + b"\0" * 40)))
    assert "password" not in found.where and found.where.endswith("7z archive unreadable")


# --------------------------------------------------------------------------- over SMTP
# Sent to session 14's module daemon (test_red_team_session14.py
# `test_over_smtp_session_15_letters_are_sealed_or_refused`): one sealing daemon for both
# red teams' letters, not a second one.

def file_letter(name: str, data: bytes) -> bytes:
    return letter(subject=f"ขอส่งแผนการปฏิบัติงาน {MARKER}", body=f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n",
                  files=[("2569_dds_0403_57.pdf", COVER), (name, data)])


TOP_SECRET = html_letter("<p><ruby>ลับที่สุด<rt>lap thi sut</rt></ruby></p>")
SEALED = {
    "ruby": html_letter(DRAWN_HTML["ruby"]),
    "iframe srcdoc": html_letter(DRAWN_HTML["iframe srcdoc"]),
    "word 97-2003 with a password": file_letter("2569_dds_0403_57_1.doc", word97(True)),
    "7z with a password": file_letter("2569_dds_0403_57_1.7z", sevenz(True)),
    "rar with a password": file_letter("2569_dds_0403_57_1.rar", rar5("files")),
}
