"""A delimiter line with more text after it (`--BB-x`, `--BB--x`) is read as the
delimiter clients make of it, and the letter is at least ลับ, uncertain (session 39's
SMTP red team).

RFC 2046 5.1.1 forbids a boundary as the prefix of any line inside a part; a letter
that has one is read differently by each program. Python's parser took `--BB-x` as a
line of the text part before it, Dovecot (which the clerk's client reads through) and
Thunderbird as a delimiter: a ลับมาก PDF after it was filed ordinary in plain, a
ลับที่สุด one was taken in with 250. `--BB--x` closes the letter to Dovecot, opens a
next part to Thunderbird. The gateway now reads every such line as a delimiter (every
part any reader shows, read) and cannot know which the clerk sees: at least ลับ."""
from __future__ import annotations

import pytest

from gateway.pipeline.parse import AMBIGUOUS_DELIMITER, parse_mail
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, maildir, sealing_daemon
from tests.hostile.markings_cases import thai_pdf
from tests.letters import make_pdf
from tests.secrecy.test_mime_hidden_markings import HEAD, file_part, reading, subject, text_part


def hidden_after(line: bytes, pdf: bytes, subj: str = f"ขอส่งแผนการปฏิบัติงาน {MARKER}") -> bytes:
    """A letter whose text part is followed by `line` and a PDF part: to Python the PDF
    is text inside the first part, to Dovecot and Thunderbird a file."""
    return (HEAD + subject(subj) + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
            + b"--BB\r\n" + text_part(f"เรียน ผู้อำนวยการเขตลาดกระบัง\r\n{MARKER}\r\n".encode()) + b"\r\n"
            + line + b"\r\n" + file_part("application/pdf", "2569_dds_0403_58.pdf", pdf) + b"\r\n--BB--\r\n")


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(top="ลับมาก")


@pytest.fixture(scope="module")
def top_secret_pdf() -> bytes:
    return thai_pdf(top="ลับที่สุด")


@pytest.mark.parametrize("line", [b"--BB-x", b"--BBx", b"--BB--x", b"--BB junk", b"--BB--  trailing"])
def test_a_pdf_after_a_delimiter_with_text_after_it_is_read(line, secret_pdf):
    raw = hidden_after(line, secret_pdf)
    assert reading(raw)[0] == "secret"
    mail = parse_mail(raw)
    assert [a.filename for a in mail.attachments] == ["2569_dds_0403_58.pdf"]
    assert AMBIGUOUS_DELIMITER in mail.unread


def test_a_top_secret_pdf_hidden_so_is_top_secret(top_secret_pdf):
    assert reading(hidden_after(b"--BB-hidden", top_secret_pdf))[0] == "top_secret"


def test_an_unmarked_letter_so_is_at_least_confidential():
    assert reading(hidden_after(b"--BB-x", make_pdf())) == ("confidential", False)


def test_delimiters_clients_agree_on_read_as_before(secret_pdf):
    """Trailing white space after a delimiter (RFC 2046's transport padding), a text line
    starting `--` (a signature separator), a nested multipart whose boundary starts with
    the outer one's (each of its lines the exact delimiter of its own): read as before,
    certain."""
    padded = hidden_after(b"--BB \t", secret_pdf)
    assert reading(padded) == ("secret", True)
    assert reading(hidden_after(b"--BB \t", make_pdf())) == ("none", True)
    signature = HEAD + subject("แผน") + (b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
                                        + text_part("เรียน ผอ.\r\n-- \r\n--B\r\n---BB\r\nสมชาย\r\n".encode())
                                        + b"\r\n--BB--\r\n")
    assert reading(signature) == ("none", True)
    inner = (b"Content-Type: multipart/alternative; boundary=BB-inner\r\n\r\n--BB-inner\r\n" + text_part()
             + b"\r\n--BB-inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>\r\n--BB-inner--\r\n")
    nested = (HEAD + subject("แผน") + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + inner
              + b"\r\n--BB\r\n" + file_part("application/pdf", "a.pdf", make_pdf()) + b"\r\n--BB--\r\n")
    assert reading(nested) == ("none", True)
    assert [a.filename for a in parse_mail(nested).attachments] == ["a.pdf"]


def test_over_smtp_the_hidden_secret_pdf_is_sealed_and_the_top_secret_one_refused(tmp_path, secret_pdf,
                                                                                    top_secret_pdf):
    with sealing_daemon(tmp_path / "gw") as d:
        code, text = d.data_reply(hidden_after(b"--BB-x", top_secret_pdf), LATKRABANG)
        assert code == 550 and b"top-secret" in text, (code, text)
        qid = d.send(hidden_after(b"--BB-x", secret_pdf), LATKRABANG)
        d.wait_idle(timeout=120)
        [(book, secrecy)] = db_rows(d, "select book, secrecy from letters where queue_id = ?", qid)
        assert (book, secrecy) == ("secret", "secret")
        assert maildir(d, "latkrabang") == []
        assert files_containing(d.data_dir, MARKER) == []


def test_multiparts_hidden_inside_each_other_are_all_read(top_secret_pdf):
    """Six levels, each multipart behind a `--X-x` line of the one around it: every
    boundary the letter names is made a delimiter at once, not one level per read."""
    inner = file_part("application/pdf", "2569_dds_0403_58.pdf", top_secret_pdf)
    for level in range(6, 0, -1):
        b = f"C{level}".encode()
        inner = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"-x\r\n" + inner
                 + b"\r\n--" + b + b"--\r\n")
    raw = (HEAD + subject("แผน") + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + text_part()
           + b"\r\n--BB-x\r\n" + inner + b"\r\n--BB--\r\n")
    assert reading(raw)[0] == "top_secret"
