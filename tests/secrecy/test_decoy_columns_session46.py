"""A head or foot line's columns that may hold a marking are read up to 50 (a page's head
has a few; each costs a Thai normalisation). Until session 46 the ones past them were not
read at all: 50 different decoy columns ("ลับแล๐", "ลับแล๑", ...) before a ลับที่สุด hid it,
and the letter was filed as ordinary, its text in the clear. A line with more such
columns than are read now makes the letter at least ลับ (fail closed)."""
from __future__ import annotations

import pytest

from gateway.secrecy.markings import classify_raw
from rules.markings import SECRECY_RANK, secrecy_in_letter
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, maildir, sealing_daemon
from tests.letters import make_pdf
from tests.secrecy.test_mime_hidden_markings import HEAD, file_part, subject, text_part

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def decoys(count: int, word: str = "ลับแล") -> list[str]:
    return [f"{word}{str(i).translate(THAI_DIGITS)}" for i in range(count)]


def head_line(count: int, marking: str = "ลับที่สุด", word: str = "ลับแล") -> str:
    # The marking in the middle: a marking that ends the line is read there, columns or not.
    return "\t".join([*decoys(count, word), marking, "สำนักงานเขตบางรัก"])


def page(line: str) -> str:
    return f"{line}\nเรื่อง ขอเชิญประชุม {MARKER}\nเรียน ผู้อำนวยการเขตลาดกระบัง\n" + "ข้อความของหนังสือ\n" * 20


@pytest.mark.parametrize("count", [0, 10, 49])
def test_a_marking_among_the_columns_read_is_read(count):
    assert secrecy_in_letter(page(head_line(count))) == "top_secret"
    assert secrecy_in_letter(page(head_line(count, "ลับมาก"))) == "secret"


@pytest.mark.parametrize("count", [50, 51, 500, 20_000])
def test_a_marking_past_the_columns_read_makes_the_letter_at_least_secret(count):
    for text in (page(head_line(count)), page(head_line(count, "ลับมาก")),
                 "ข้อความของหนังสือ\n" * 20 + head_line(count)):  # at the foot, too
        assert SECRECY_RANK[secrecy_in_letter(text)] >= SECRECY_RANK["confidential"]


def test_many_columns_that_cannot_hold_a_marking_leave_the_letter_ordinary():
    # A wide table of names and numbers at a page's head: no column may be a marking.
    wide = "\t".join(f"นายสมชาย{str(i).translate(THAI_DIGITS)}" for i in range(300))
    assert secrecy_in_letter(page(wide)) == "none"
    assert secrecy_in_letter(page("\t".join(["ลับแล"] * 300 + ["สำนักงานเขตบางรัก"]))) == "none"  # one column, 300 times


def test_at_data_the_letter_hidden_behind_decoys_is_not_taken_as_ordinary():
    raw = HEAD + subject("ขอเชิญประชุม") + text_part(page(head_line(60)).replace("\n", "\r\n").encode())
    found = classify_raw(raw)
    assert SECRECY_RANK[found.level] >= SECRECY_RANK["confidential"], found


def test_the_daemon_seals_the_letter_hidden_behind_decoys(tmp_path):
    body = text_part(page(head_line(60)).replace("\n", "\r\n").encode())
    pdf = file_part("application/pdf", "2569_dds_0403_57.pdf", make_pdf("หนังสือเชิญประชุม"))
    raw = (HEAD + subject("ขอเชิญประชุม") + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
           + b"--BB\r\n" + body + b"\r\n--BB\r\n" + pdf + b"\r\n--BB--\r\n")
    with sealing_daemon(tmp_path / "gw") as d:
        queue_id = d.send(raw, LATKRABANG)
        d.wait_idle()
        [(secrecy, book)] = db_rows(d, "select secrecy, book from letters where queue_id = ?", queue_id)
        assert book == "secret" and SECRECY_RANK[secrecy] >= SECRECY_RANK["confidential"], (secrecy, book)
        assert (d.data_dir / "secret" / queue_id / "raw.sgv").read_bytes()[:4] == b"SGV1"
        assert maildir(d, "latkrabang") == []
        assert files_containing(d.data_dir, MARKER) == []


# A line's unknown glyphs (a glyph without Unicode, U+FFFD) where a marking may be are
# guessed at, each as every mark a marking could hold there, for 20 lines of a text (each
# up to 216 readings). Until session 46 the lines past them were not guessed at: 20 short
# damaged lines spent the guesses and "ลับที\ufffdสุด" at the foot was read as nothing.
PROSE = "ข้อความของหนังสือ ยาวพอสมควร ไม่ใช่บรรทัดสั้น ๆ เลย\n"
OPENING = "เรื่อง ขอเชิญประชุม\nเรียน ผู้อำนวยการเขตลาดกระบัง\n" + PROSE * 30


def damaged_lines(count: int) -> str:
    return "".join(f"ดว\ufffdน{str(i).translate(THAI_DIGITS)}\n" for i in range(count))


def test_a_damaged_marking_past_the_lines_guessed_makes_the_letter_at_least_secret():
    foot = "ลับที\ufffdสุด"
    assert secrecy_in_letter(OPENING + PROSE * 10 + foot) == "top_secret"
    for count in (21, 30, 2_000):
        found = secrecy_in_letter(OPENING + damaged_lines(count) + PROSE * 10 + foot)
        assert SECRECY_RANK[found] >= SECRECY_RANK["confidential"], (count, found)


def test_damaged_lines_within_the_guesses_leave_the_letter_ordinary():
    assert secrecy_in_letter(OPENING + damaged_lines(20) + PROSE * 10 + "ขอแสดงความนับถือ") == "none"
    # Unknown glyphs where no marking may be are not guessed at, however many.
    far = "".join(f"สมชาย\ufffd{str(i).translate(THAI_DIGITS)}\n" for i in range(100))
    assert secrecy_in_letter(OPENING + far + PROSE * 10 + "ขอแสดงความนับถือ") == "none"
