"""Red team of the register's and the folder copy's fidelity (session h14): what the
clerk reads in the register, the copy in the unit's folder and the notice to the sender
must be what the letter says and the files it carries, byte for byte.

One daemon for the module: the receive stamp on, notices to an SMTP sink, Lat Krabang
filed to its Maildir and its administration section by IMAP APPEND to a real Dovecot."""
from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import json
import os
import time

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.imap_helpers import delivery_config, folder_messages
from rules.thai_time import now_utc, thai_date, to_bangkok
from tests.letters import letter, make_pdf, with_header
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.thai_pdfs import thai_pdf

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
ADMIN = "saraban.latkrabang.admin"  # filed by IMAP (the module's daemon)


@pytest.fixture(scope="module")
def sink():
    s = Sink(free_port()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def imap_user(dovecot):
    name = f"fidelity{os.getpid()}"
    dovecot.add_user(name, f"pw-{name}")
    return name, f"pw-{name}"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink, dovecot, imap_user):
    extra = ("[signatures]\nstamp = true\n" + notices_config(sink)
             + delivery_config(dovecot, *imap_user, unit=ADMIN, folder="Saraban/admin"))
    d = Daemon(write_config(tmp_path_factory.mktemp("fidelity"), extra=extra)).start()
    yield d
    d.stop()


def _entry(d: Daemon, queue_id: str) -> dict:
    d.wait_idle()
    return next(e for e in d.register() if e["queue_id"] == queue_id)


def _maildir_copy(d: Daemon, queue_id: str) -> email.message.EmailMessage:
    [path] = [p for p in d.maildir_files("latkrabang") if p.name.startswith(queue_id)]
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _files(copy: email.message.Message) -> list[tuple[str | None, bytes]]:
    return [(p.get_filename(), p.get_payload(decode=True)) for p in copy.walk()
            if not p.is_multipart() and p.get_content_disposition() == "attachment"]


def _cover(number: str) -> bytes:
    return thai_pdf([f"ที่ กท ๐๔๐๓/ว {number}", "วันที่ ๒๒ ธันวาคม ๒๕๖๖", "เรื่อง ขอเชิญประชุมคณะทำงาน",
                     "เรียน ผู้อำนวยการเขตลาดกระบัง"])


def test_the_receive_stamp_goes_on_the_cover_letter_not_an_enclosure_sent_before_it(gw):
    """The sender attached the enclosure first and the cover letter (หนังสือนำ) second.
    The register read ที่ and เรื่อง from the cover letter, but the stamp went on the
    first PDF: the clerk's copy had "2569_dds_0403_276_1.stamped.pdf", the enclosure
    with the receive number on it, and the letter itself unstamped."""
    enclosure, cover = make_pdf("enclosure: a map"), _cover("๒๗๖")
    queue_id = gw.send(letter(files=[("2569_dds_0403_276_1.pdf", enclosure), ("2569_dds_0403_276.pdf", cover)],
                              body="", subject="ขอเชิญประชุม"), LATKRABANG)
    entry = _entry(gw, queue_id)
    assert entry["reference"] == "กท 0403/ว 276"  # read from the cover letter
    copy = _maildir_copy(gw, queue_id)
    assert copy["X-Saraban-Stamp"] == "stamped: 2569_dds_0403_276.stamped.pdf"
    files = dict(_files(copy))
    assert list(files) == ["2569_dds_0403_276_1.pdf", "2569_dds_0403_276.pdf", "2569_dds_0403_276.stamped.pdf"]
    assert files["2569_dds_0403_276_1.pdf"] == enclosure and files["2569_dds_0403_276.pdf"] == cover


def _unencoded(raw: bytes, data: bytes) -> bytes:
    """`raw` with the base64 part that carries `data` sent unencoded instead
    (Content-Transfer-Encoding: binary), as a client with BINARYMIME habits sends it."""
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")  # its last line end too
    start = raw.index(encoded)
    head = raw.rindex(b"\r\n\r\n", 0, start)
    cte = raw.rindex(b"Content-Transfer-Encoding: base64", 0, head)
    return (raw[:cte] + b"Content-Transfer-Encoding: binary" + raw[cte + 33:start] + data
            + raw[start + len(encoded):])


def test_a_file_sent_unencoded_reaches_the_imap_folder_as_the_register_holds_it(gw, dovecot, imap_user):
    """An enclosure sent unencoded (binary, its bytes as they are: CR, LF, NUL). The
    Maildir copy kept it; the IMAP copy had every LF byte of it made CRLF on the way
    (RFC 3501 wants CRLF lines), so the file in the clerk's folder was not the file the
    register holds the SHA-256 of: a PNG that no longer opens."""
    image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 3 + b"\n\r\n\rIEND"
    pdf = make_pdf("cover letter")
    raw = _unencoded(letter(to=f"{ADMIN}@bangkok.go.th",
                            files=[("2569_dds_0403_57.pdf", pdf), ("2569_dds_0403_57_1.png", image)]), image)
    queue_id = gw.send(raw, f"{ADMIN}@bangkok.go.th")
    entry = _entry(gw, queue_id)
    registered = {a["filename"]: a["sha256"] for a in entry["attachments"]}
    assert registered["2569_dds_0403_57_1.png"] == hashlib.sha256(image).hexdigest()
    [copy] = [m for _, m in folder_messages(dovecot, imap_user[0], "Saraban/admin")
              if m["X-Saraban-Queue-Id"] == queue_id]
    files = dict(_files(copy))
    assert files["2569_dds_0403_57_1.png"] == image
    assert files["2569_dds_0403_57.pdf"] == pdf
    assert "2569_dds_0403_57.stamped.pdf" in files


def test_the_folder_copy_keeps_the_urgency_the_register_read_from_the_subject(gw):
    """"ด่วนที่สุด ที่ ... เรื่อง ขอเชิญประชุม": the register keeps เรื่อง (ขอเชิญประชุม) and
    ชั้นความเร็ว ด่วนที่สุด, but the folder copy's Subject, replaced by the register's
    เรื่อง, read "[รับ 7/2569] ขอเชิญประชุม": the most urgent letter looked like any
    other in the clerk's mail list, and nothing else in the copy's headers said so."""
    subject = "ด่วนที่สุด ที่ กท ๐๔๐๓/ว ๒๗๙ ลงวันที่ ๒๒ ธ.ค. ๒๕๖๖ เรื่อง ขอเชิญประชุม"
    queue_id = gw.send(letter(subject=subject, body="เรียน ผู้อำนวยการเขตลาดกระบัง\n",
                              files=[("2566_dds_0403_279.pdf", make_pdf("cover letter"))]), LATKRABANG)
    entry = _entry(gw, queue_id)
    assert (entry["subject"], entry["urgency"]) == ("ขอเชิญประชุม", "most_urgent")
    assert _maildir_copy(gw, queue_id)["Subject"] == f"[รับ {entry['receive_no']}] ด่วนที่สุด ขอเชิญประชุม"


def test_x_saraban_headers_a_sender_wrote_are_not_in_the_clerks_copy(gw):
    """The copy's X-Saraban-* headers are the gateway's statements. Only ten names were
    dropped from the sender's: "X-Saraban-Emergency-No: ฉ 013" (as if numbered in the
    paper emergency register), "X-Saraban-Alert" or any other name reached the clerk's
    copy, beside the gateway's own and indistinguishable from them."""
    forged = {"X-Saraban-Emergency-No": "ฉ 013", "X-Saraban-Alert": "released by the registrar",
              "X-SARABAN-Receive-Date": "1 ม.ค. 2569", "X-Saraban-Receive-No": "1/2569"}
    queue_id = gw.send(letter(extra_headers=forged), LATKRABANG)
    entry = _entry(gw, queue_id)
    copy = _maildir_copy(gw, queue_id)
    ours = [(name, value) for name, value in copy.items() if name.lower().startswith("x-saraban-")]
    assert ("X-Saraban-Receive-No", entry["receive_no"]) in ours
    assert not [name for name, _ in ours if name.lower() in
                ("x-saraban-emergency-no", "x-saraban-alert", "x-saraban-receive-date")], ours
    assert copy.get_all("X-Saraban-Receive-No") == [entry["receive_no"]]


def _notice_to(sink: Sink, message_id: str) -> str:
    """The plain text of the notice that answers `message_id` (threaded under it)."""
    def answers():
        return [r for r in sink.messages() if r.message["In-Reply-To"] == message_id]
    deadline = time.monotonic() + 60
    while not answers() and time.monotonic() < deadline:
        time.sleep(0.1)
    [notice] = answers()
    return notice.message.get_body(("plain",)).get_content()


def test_a_rejection_names_the_file_at_fault_by_its_true_place(gw, sink):
    """Two files named 2569_dds_0403_57_1.pdf: the enclosure (2nd) and a program (3rd).
    The rejection said "attached file 2 is a program": the sender was told the real
    enclosure was the program. A file without a name was "#3" in the quarantine entry
    when it was the fourth file (counted from 0), and "the attached file" in the notice."""
    message_id = "<places-1@dds.bangkok.go.th>"
    raw = letter(message_id=message_id, files=[
        ("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("2569_dds_0403_57_1.pdf", make_pdf("enclosure")),
        ("2569_dds_0403_57_1.pdf", b"MZ\x90\x00" + bytes(300))])
    unnamed = (b"--BOUNDARY\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               + base64.encodebytes(b"\x00\x01 no name " * 20).replace(b"\n", b"\r\n"))
    boundary = email.message_from_bytes(raw).get_boundary().encode()
    closing = raw.rindex(b"--" + boundary + b"--")
    raw = raw[:closing] + unnamed.replace(b"BOUNDARY", boundary) + raw[closing:]
    queue_id = gw.send(raw, LATKRABANG)
    text = _notice_to(sink, message_id)
    thai, english = text.split("-----", 1)
    assert "ไฟล์แนบที่ 2 หรือ 3 เป็นโปรแกรม" in thai and "attached file 2 or 3 is a program" in english
    assert "ไฟล์แนบที่ 2 เป็น" not in thai and "attached file 2 is" not in english
    assert "ไฟล์ ไฟล์แนบที่ 4 เป็นชนิด application/octet-stream" in thai
    assert "attached file 4 is application/octet-stream" in english
    [entry] = [e for e in json.loads(gw.cli("quarantine", "list", "--json").stdout) if e["queue_id"] == queue_id]
    assert {r["attachment"] for r in entry["reasons"]} == {"2569_dds_0403_57_1.pdf", "#4"}


def test_a_date_header_in_the_future_does_not_let_a_later_day_become_the_letters_date(gw, sink):
    """A date in the Subject later than the mail is a day the text speaks of (a meeting),
    not the letter's, and is left out; "later than the mail" was read from the sender's
    Date: header, so a clock set to 2099 let a day weeks ahead into the register (and
    the acknowledgement's ลงวันที่) as the date of a letter received today."""
    ahead = to_bangkok(now_utc()) + dt.timedelta(days=40)
    subject = f"ที่ กท ๐๔๐๓/ว ๒๘๐ ลงวันที่ {thai_date(ahead)} เรื่อง ขอเชิญประชุม"
    message_id = "<date-ahead@dds.bangkok.go.th>"
    raw = with_header(letter(subject=subject, body="เรียน ผู้อำนวยการเขตลาดกระบัง\n", message_id=message_id,
                             files=[("2569_dds_0403_280.pdf", make_pdf("cover letter"))]),
                      "Date", "Sat, 01 Jan 2099 10:00:00 +0700")
    entry = _entry(gw, gw.send(raw, LATKRABANG))
    assert (entry["reference"], entry["subject"], entry["letter_date"]) == ("กท 0403/ว 280", "ขอเชิญประชุม", None)
    assert "ลงวันที่" not in _notice_to(sink, message_id)
