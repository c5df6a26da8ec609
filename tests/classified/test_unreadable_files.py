"""Files that are not encrypted but that the gateway had no reader for (red team of
session 15, follow-up): a Word, Excel or PowerPoint 97-2003 file, a tar, gzip, bzip2 or
xz file, a 7z or a RAR archive were read as no text, so a ลับมาก in one was never seen
and the letter was registered as ordinary. Now old Office files and the archives the
standard library opens are read (within the ZIP reader's limits); 7z, RAR and the other
packed kinds no reader here unpacks make the letter at least ลับ, uncertain. Images stay
a documented limit (docs/secrecy.md "Known limits").

Over SMTP: tests/classified/test_red_team_session14.py
`test_over_smtp_files_without_a_reader_are_sealed_and_plain_ones_are_not`."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import struct
import tarfile

import pytest

from gateway.pipeline import file_texts
from gateway.secrecy.markings import classify_raw
from rules.markings import secrecy_in_letter
from tests.classified.helpers import MARKER
from tests.classified.test_red_team_session15 import file_letter, rar4, rar5, sevenz
from tests.secrecy.test_encrypted_files_fail_closed import cfb
from tests.secrecy.test_mime_hidden_markings import _zip, file_part, mixed, text_part

PLAIN = "ตารางประชุมคณะทำงาน"


def word_stream(text: str, eight_bit: bool = False) -> bytes:
    """A Word 97-2003 WordDocument stream: FIB, then the text (UTF-16LE, or 8-bit as Word
    6/95 saved Thai in Windows-874), a page header after the body as Word stores it."""
    fib = struct.pack("<6H", 0xA5EC, 0x00C1, 0, 0x041E, 0, 0) + b"\0" * 0x5F4
    body = f"เรียน ผู้อำนวยการเขตลาดกระบัง\rขอส่งแผนการปฏิบัติงาน\r{text}\r"
    return fib + body.encode("cp874" if eight_bit else "utf-16-le")


def word(text: str, eight_bit: bool = False) -> bytes:
    return cfb({"WordDocument": word_stream(text, eight_bit), "1Table": b"\0" * 64})


def small_cfb(name: str, data: bytes) -> bytes:
    """A compound file whose one stream, under the 4096-byte cutoff, lives in the mini
    stream (MS-CFB 2.6.3), as LibreOffice saves a short .doc (`cfb` pads every stream
    past the cutoff). Sectors: 0 FAT, 1 directory, 2 mini FAT, 3... the mini stream."""
    end, free = 0xFFFFFFFE, 0xFFFFFFFF
    minis = -(-len(data) // 64)
    regular = -(-minis * 64 // 512)
    fat = [0xFFFFFFFD, end, end] + [4 + i for i in range(regular - 1)] + [end]
    minifat = [1 + i for i in range(minis - 1)] + [end]
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<9I", 0, 1, 1, 0, 0x1000, 2, 1, end, 0) + struct.pack("<I", 0) + b"\xff" * 432)

    def entry(entry_name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = entry_name.encode("utf-16-le") + b"\0\0"
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
                + struct.pack("<III", free, free, child) + b"\0" * 36 + struct.pack("<IQ", start, size))

    directory = (entry("Root Entry", 5, 1, 3, minis * 64) + entry(name, 2, free, 0, len(data))).ljust(512, b"\0")
    return (header + struct.pack("<128I", *fat, *[free] * (128 - len(fat))) + directory
            + struct.pack("<128I", *minifat, *[free] * (128 - len(minifat))) + data.ljust(regular * 512, b"\0"))


def excel(text: str) -> bytes:
    """An Excel 97-2003 workbook: BOF, an SST record (MS-XLS 2.4.265) holding `text` as
    a 16-bit string after its 3-byte header (so at an odd offset), EOF."""
    bof = struct.pack("<HH", 0x0809, 16) + struct.pack("<HHHHII", 0x0600, 5, 0x1F4B, 0x07CC, 0, 0x0106)
    string = struct.pack("<HB", len(text), 1) + text.encode("utf-16-le")
    sst = struct.pack("<HHII", 0x00FC, 8 + len(string), 1, 1) + string
    return cfb({"Workbook": bof + sst + struct.pack("<HH", 0x000A, 0)})


def powerpoint(text: str) -> bytes:
    """A PowerPoint 97-2003 file: a TextCharsAtom (MS-PPT 2.9.79) in its document stream."""
    chars = text.encode("utf-16-le")
    return cfb({"PowerPoint Document": struct.pack("<HHI", 0x000F, 0x03E8, 8 + len(chars))
                + struct.pack("<HHI", 0x0000, 0x0FA0, len(chars)) + chars})


def tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


MEMO = f"ลับมาก\nบันทึกข้อความ\nเรื่อง แผนรักษาความปลอดภัย {MARKER}\n".encode()
ORDINARY = f"บันทึกข้อความ\nเรื่อง {PLAIN}\n".encode()

# Each holds ลับมาก where a person who opens it reads it; on main each read as no text.
READ = {
    "word 97-2003": ("application/msword", "2569_dds_0403_57_1.doc", lambda t: word(t)),
    "short word 97-2003, in the mini stream": ("application/msword", "2569_dds_0403_57_1.doc",
                                               lambda t: small_cfb("WordDocument", word_stream(t))),
    "word 6/95, Windows-874": ("application/msword", "2569_dds_0403_57_1.doc", lambda t: word(t, True)),
    "excel 97-2003": ("application/vnd.ms-excel", "2569_dds_0403_57_1.xls", excel),
    "powerpoint 97-2003": ("application/vnd.ms-powerpoint", "2569_dds_0403_57_1.ppt", powerpoint),
    "tar": ("application/x-tar", "letters.tar", lambda t: tar({"memo.txt": f"{t}\n{PLAIN}\n".encode()})),
    "tar.gz of a .doc": ("application/gzip", "letters.tar.gz", lambda t: gzip.compress(tar({"memo.doc": word(t)}))),
    "tgz as octet-stream": ("application/octet-stream", "letters.tgz",
                            lambda t: gzip.compress(tar({"memo.txt": f"{t}\n".encode()}))),
    "gz of a text": ("application/gzip", "memo.txt.gz", lambda t: gzip.compress(f"{t}\n{PLAIN}\n".encode())),
    "bz2 of a text": ("application/x-bzip2", "memo.txt.bz2", lambda t: bz2.compress(f"{t}\n{PLAIN}\n".encode())),
    "xz of a tar": ("application/x-xz", "letters.tar.xz", lambda t: lzma.compress(tar({"a.txt": f"{t}\n".encode()}))),
    "zip of a .xls": ("application/zip", "letters.zip", lambda t: _zip({"sheet.xls": excel(t)})),
}


@pytest.mark.parametrize("case", READ, ids=READ.keys())
def test_old_office_files_and_stdlib_archives_are_read_and_a_marking_in_them_is_seen(case):
    ctype, name, make = READ[case]
    found = classify_raw(mixed(text_part(), file_part(ctype, name, make("ลับมาก"))))
    assert (found.level, found.certain) == ("secret", True), case
    # The same file without a marking: read, no reason to seal, the letter stays ordinary.
    found = classify_raw(mixed(text_part(), file_part(ctype, name, make(PLAIN))))
    assert (found.level, found.certain) == ("none", True), case


NOT_READ = {
    "7z": ("application/x-7z-compressed", "letters.7z", sevenz(False)),
    "7z, header plain": ("application/x-7z-compressed", "letters.7z", sevenz(False, "plain")),
    "rar 4": ("application/vnd.rar", "letters.rar", rar4(False)),
    "rar 5": ("application/octet-stream", "letters.bin", rar5()),
    "cab": ("application/vnd.ms-cab-compressed", "letters.cab", b"MSCF\0\0\0\0" + b"\0" * 64),
    "zstd": ("application/zstd", "letters.zst", b"\x28\xb5\x2f\xfd" + b"\0" * 64),
    "outlook .msg (compound file of another kind)": ("application/vnd.ms-outlook", "letter.msg",
                                                     cfb({"__substg1.0_1000001F": "ลับมาก".encode("utf-16-le")})),
    "7z in a tar": ("application/x-tar", "letters.tar", tar({"inner.7z": sevenz(False)})),
}


@pytest.mark.parametrize("case", NOT_READ, ids=NOT_READ.keys())
def test_what_no_reader_here_unpacks_makes_the_letter_at_least_confidential(case):
    ctype, name, data = NOT_READ[case]
    found = classify_raw(mixed(text_part(), file_part(ctype, name, data)))
    assert (found.level, found.certain) == ("confidential", False), case
    assert found.where.startswith("file 1") and "unreadable" in found.where and name not in found.where


def test_images_and_unknown_binary_data_stay_ordinary():
    """A documented limit (docs/secrecy.md): sealing every letter with a photo would
    seal most letters."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(random.Random(1).randbytes(4096))
    for ctype, name, data in (("image/png", "photo.png", png), ("image/jpeg", "photo.jpg", b"\xff\xd8\xff\xe0" + png),
                              ("application/octet-stream", "data.bin", random.Random(2).randbytes(65536))):
        assert classify_raw(mixed(text_part(), file_part(ctype, name, data))).level == "none", name


def test_a_compound_file_of_random_streams_raises_no_false_alarm():
    """Binary records decoded as text must not read as a marking: random bytes
    in each main stream (the cp874 reading is where a false ลับ could arise), in files
    of 60 KB (what the test's compound-file writer holds)."""
    rng = random.Random(15)
    for stream in ("WordDocument", "Workbook", "PowerPoint Document") * 12:
        data = cfb({stream: rng.randbytes(60_000)})
        out = file_texts.read_texts(data, None, "application/msword", "a.doc", "")
        assert out.unread == [] and secrecy_in_letter("\n".join(out.texts)) == "none", stream


def test_bombs_and_limits_are_not_unpacked_and_make_the_letter_uncertain():
    bomb = gzip.compress(b"\0" * (16 << 20), 1)  # 16 MB in ~16 KB: past 100 times its size
    many = tar({f"{n}.txt": PLAIN.encode() for n in range(file_texts.MAX_MEMBERS + 1)})
    deep = gzip.compress(gzip.compress(gzip.compress(MEMO)))
    for name, data, phrase in (("a.txt.gz", bomb, "past the limits"), ("a.tar", many, "members past"),
                               ("a.gz.gz.gz", deep, "nested past")):
        out = file_texts.read_texts(data, None, "application/octet-stream", name, "", what="file 2")
        assert any(u.startswith("file 2") and phrase in u for u in out.unread), (name, out.unread)
        found = classify_raw(mixed(text_part(), file_part("application/octet-stream", name, data)))
        assert (found.level, found.certain) == ("confidential", False), name


def test_damaged_files_are_read_without_a_crash_and_fail_closed():
    whole = gzip.compress(tar({"memo.txt": MEMO}))
    for name, data in (("cut.tar.gz", whole[:len(whole) // 2]), ("bad.bz2", b"BZh9" + b"\xff" * 64),
                       ("bad.xz", b"\xfd7zXZ\x00" + b"\0" * 64), ("junk.tar", b"\x01" * 2048),
                       ("cut.doc", word("ลับมาก")[:1500]), ("bad.gz", b"\x1f\x8b\x08" + b"\xff" * 64)):
        found = classify_raw(mixed(text_part(), file_part("application/octet-stream", name, data)))
        assert found.level != "none", (name, found)


def test_a_letter_with_an_ordinary_spreadsheet_and_photo_is_certain_it_is_ordinary():
    """What a clerk sees most: a letter, its PDF, an .xls and a photo. Not sealed."""
    raw = file_letter("budget.xls", excel("งบประมาณ 2569"))
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("none", True)


def test_the_reason_a_sealed_letter_gives_lists_what_was_not_read_by_file_number():
    from gateway.pipeline.classified import unread_finding
    from gateway.pipeline.parse import parse_mail

    mail = parse_mail(mixed(text_part(), file_part("application/x-7z-compressed", "ลับมาก_แผน.7z", sevenz(False)),
                            file_part("application/zip", "a.zip", _zip({f"{n}.7z": sevenz(False) for n in range(12)}))))
    finding = unread_finding(mail.unread)
    assert finding.message_en.startswith("part of the letter could not be read (file 1: 7z archive; "
                                         "file 2 member 1: 7z archive; file 2 member 2: 7z archive;")
    assert "; +3)" in finding.message_en and "; +3)" in finding.message_th and "ลับมาก_แผน" not in finding.message
    assert unread_finding(["file 1: 7z archive"] * 3).message_en.count("7z") == 1


# --------------------------------------------------------------------------- over SMTP
# Sent to session 14's module daemon (test_red_team_session14.py
# `test_over_smtp_files_without_a_reader_are_sealed_and_plain_ones_are_not`).

SEALED = {
    "word 97-2003 marked ลับมาก": (file_letter("2569_dds_0403_57_1.doc", word("ลับมาก")), "secret"),
    "tar.gz of a marked .doc": (file_letter("2569_dds_0403_57_1.tar.gz",
                                            gzip.compress(tar({"memo.doc": word("ลับมาก")}))), "secret"),
    "7z without a password": (file_letter("2569_dds_0403_57_1.7z", sevenz(False)), "confidential"),
}
# Not sealed: a spreadsheet and a gzip file that hold no marking (no MARKER: it is filed).
ORDINARY_FILES = [("2569_dds_0403_57_1.xls", excel(PLAIN)), ("2569_dds_0403_57_2.txt.gz", gzip.compress(ORDINARY))]
