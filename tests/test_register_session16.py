"""Red team of the register's fidelity (session 16): the receive number (เลขรับ) and
date a letter gets, and what the register, its export, the acknowledgement and the
receive stamp show of it.

One daemon for the module: the receive stamp on, notices to an SMTP sink, and its clock
set by each test (tests/clock/sitecustomize.py), the machine's clock untouched. Each
test works in a register of its own (unit, Buddhist-era year), so none depends on the
order they run in."""
from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import re

import pytest

from tests.daemon import Daemon, TestClock, write_config
from tests.letters import letter, make_pdf, with_header
from tests.notices.conftest import notices_config
from tests.signatures.test_pipeline_signatures import stamp_text
from tests.test_fidelity_red_team import _files, _maildir_copy, _notice_to, sink  # noqa: F401 (the module's sink)
from tests.test_tools_emergency import write_book
from tests.thai_pdfs import pdftotext, remap_text_layer, thai_pdf

BANGKOK = dt.timezone(dt.timedelta(hours=7))
LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng@bangkok.go.th"


@pytest.fixture(scope="module")
def clock(tmp_path_factory):
    return TestClock(tmp_path_factory.mktemp("clock"))


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink, clock):
    # The tests move the clock back and forth between years (each its own register):
    # a clock in a year before the register's newest is refused otherwise
    # (gateway/intake/clock_guard.py, tests/test_calendar_session19.py).
    extra = "[signatures]\nstamp = true\n" + notices_config(sink) + "[register]\nclock_check = false\n"
    d = Daemon(write_config(tmp_path_factory.mktemp("register16"), extra=extra), env=clock.env).start()
    yield d
    d.stop()


def _entries(d: Daemon, unit: str) -> dict[int, list[dict]]:
    """The unit's register entries by Buddhist-era year, in number order (one command)."""
    d.wait_idle()
    years: dict[int, list[dict]] = {}
    for entry in d.register("--unit", unit):
        years.setdefault(entry["year"], []).append(entry)
    return years


def _stamp(d: Daemon, queue_id: str) -> str:
    """The receive stamp's text on the stamped copy in the unit's folder."""
    [(_, pdf)] = [(name, data) for name, data in _files(_maildir_copy(d, queue_id)) if name.endswith(".stamped.pdf")]
    return stamp_text(pdf)


def test_a_letter_at_midnight_takes_the_day_and_year_of_the_gateways_clock_in_bangkok(gw, clock, sink):
    """The register year is the calendar year in Bangkok (1 January, not the fiscal year
    of 1 October): a letter in the last minute of 31 ธ.ค. 2573 is 2573's last letter, and
    one a second after midnight is 1/2574, whatever the sender's Date: header says (a year ahead, a year
    long gone, none, garbage, 2100). The letter's own date (ลงวันที่, from its text) is
    shown as the letter's and numbers nothing. Before midnight UTC is 17:00 in Bangkok:
    a letter at 06:59:59 on 1 January is already in the new year there.

    The clock runs on from where it is set: 30 seconds before midnight, so that a loaded
    machine's slow send still lands in the old year (set at 23:59:59, a send of more
    than a second under the full suite's load crossed midnight)."""
    clock.set(dt.datetime(2030, 12, 31, 23, 59, 30, tzinfo=BANGKOK))
    before = gw.send(with_header(letter(message_id="<eve@dds.bangkok.go.th>"), "Date",
                                 "Tue, 01 Jan 2031 10:00:00 +0700"), LATKRABANG)
    clock.set(dt.datetime(2031, 1, 1, 0, 0, 1, tzinfo=BANGKOK))
    dates = ["Mon, 01 Jan 2019 10:00:00 +0700", None, "วันพรุ่งนี้ 99:99", "Fri, 01 Jan 2100 10:00:00 +0700"]
    after = [gw.send(with_header(letter(message_id=f"<new-year-{n}@dds.bangkok.go.th>"), "Date", date), LATKRABANG)
             for n, date in enumerate(dates)]
    years = _entries(gw, "saraban.latkrabang")
    [old], new = years[2573], years[2574]
    assert (old["receive_no"], old["queue_id"]) == ("1/2573", before)
    assert re.fullmatch(r"2030-12-31T23:59:[3-5]\d\+07:00", old["received_at"]), old
    assert [(e["receive_no"], e["queue_id"]) for e in new] == [(f"{n}/2574", q) for n, q in enumerate(after, 1)]
    assert all(re.fullmatch(r"2031-01-01T00:00:[0-5]\d\+07:00", e["received_at"]) for e in new), new
    assert {e["letter_date"] for e in new + [old]} == {"2022-06-13"}  # ๑๓ มิถุนายน ๒๕๖๕, as the letter says

    eve = _notice_to(sink, "<eve@dds.bangkok.go.th>")
    assert "เลขรับ: 1/2573" in eve and "วันที่รับ: 31 ธ.ค. 2573 เวลา 23.59 น." in eve
    assert "Received: 31 December 2030, 23:59 (Bangkok time)" in eve
    morning = _notice_to(sink, "<new-year-0@dds.bangkok.go.th>")
    assert "เลขรับ: 1/2574" in morning and "วันที่รับ: 1 ม.ค. 2574 เวลา 00.00 น." in morning
    assert "ลงวันที่: 13 มิ.ย. 2565" in morning  # the letter's date, not its Date: header's
    # The receive stamp on the clerk's copy: the same number, day and time, Thai digits.
    assert "๑/๒๕๗๓" in (eve_stamp := _stamp(gw, before)) and "๓๑ ธ.ค. ๒๕๗๓" in eve_stamp and "๒๓.๕๙" in eve_stamp
    assert "๑/๒๕๗๔" in (new_stamp := _stamp(gw, after[0])) and "๑ ม.ค. ๒๕๗๔" in new_stamp and "๐๐.๐๐" in new_stamp


def test_29_february_in_bangkok_and_the_book_in_thai_digits(gw, clock, tmp_path):
    """00:00:30 on 29 ก.พ. 2575 in Bangkok is still 28 February in UTC: the register and
    its book read 29 ก.พ. A letter of its own dated 29 ก.พ. 2574 (2031 has none) keeps no
    ลงวันที่, and is registered."""
    clock.set(dt.datetime(2032, 2, 29, 0, 0, 30, tzinfo=BANGKOK))
    sent = "Sun, 29 Feb 2032 00:00:10 +0700"
    leap = gw.send(with_header(letter(subject="ที่ กท ๐๔๐๑/๑๒ ลงวันที่ ๒๙ ก.พ. ๒๕๗๕ เรื่อง วันอธิกสุรทิน",
                                      body="ดูไฟล์แนบ"), "Date", sent), LATKRABANG)
    no_day = gw.send(with_header(letter(subject="ที่ กท ๐๔๐๑/๑๓ ลงวันที่ ๒๙ ก.พ. ๒๕๗๔ เรื่อง ไม่มีวันนี้",
                                        body="ดูไฟล์แนบ"), "Date", sent), LATKRABANG)
    entries = {e["queue_id"]: e for e in _entries(gw, "saraban.latkrabang")[2575]}
    assert entries[leap]["received_at"] == "2032-02-29T00:00:30+07:00" and entries[leap]["number"] == 1
    assert (entries[leap]["letter_date"], entries[leap]["subject"]) == ("2032-02-29", "วันอธิกสุรทิน")
    assert (entries[no_day]["letter_date"], entries[no_day]["reference"]) == (None, "กท 0401/13")
    # The book in Thai digits: the time of receipt and เลขรับ/ปี were left in Arabic
    # digits beside a number column in Thai ones ("๑" ... "29 ก.พ. 2575 00:00" ... "1/2575").
    out = tmp_path / "2575.csv"
    gw.cli("register", "export", "--unit", "saraban.latkrabang", "--year", "2575", "--thai-digits", "-o", str(out))
    rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
    assert [(r["เลขทะเบียนรับ"], r["ลงวันที่"], r["วันเวลาที่รับ"], r["เลขรับ/ปี"]) for r in rows] == [
        ("๑", "๒๙ ก.พ. ๒๕๗๕", "๒๙ ก.พ. ๒๕๗๕ ๐๐:๐๐", "๑/๒๕๗๕"), ("๒", "", "๒๙ ก.พ. ๒๕๗๕ ๐๐:๐๐", "๒/๒๕๗๕")]
    # The printed book's own figures too: its year and count under the title, and the
    # moment it was printed in the footer, were Arabic digits over rows in Thai ones.
    book = tmp_path / "2575.pdf"
    gw.cli("register", "export", "--unit", "saraban.latkrabang", "--year", "2575", "--thai-digits", "-o", str(book))
    flat = re.sub(r"\s+", "", pdftotext(book.read_bytes(), layout=False))
    assert "พ.ศ.๒๕๗๕" in flat and "๒รายการ" in flat, flat[:300]
    assert re.search(r"เมื่อ[๐-๙]+\S+[๐-๙]{4}[๐-๙]{2}:[๐-๙]{2}น\.", flat), flat[-300:]


def test_a_sender_clock_years_behind_does_not_drop_the_letters_own_date(gw, clock, sink):
    """"ที่ ... ลงวันที่ ๑๐ พ.ค. ๒๕๘๐ เรื่อง ..." in the Subject, sent on 10 May 2580 from a
    PC whose clock says 2019 (its Date: header). A date later than the mail's Date: is
    taken for a day the text speaks of (a meeting) and left out: the letter's own date
    was dropped from the register and the acknowledgement. A Date: more than a month
    before the gateway's today is the sender's clock, not the day it was sent; a day to
    come in the Subject is still no letter's date."""
    clock.set(dt.datetime(2037, 5, 10, 10, 0, tzinfo=BANGKOK))
    old_clock = "Tue, 01 Jan 2019 09:00:00 +0700"
    own = gw.send(with_header(letter(subject="ที่ กท ๐๔๐๑/๑๔ ลงวันที่ ๑๐ พ.ค. ๒๕๘๐ เรื่อง ขอส่งรายงาน", body="ดูไฟล์แนบ",
                                     message_id="<clock-2019@dds.bangkok.go.th>"), "Date", old_clock), LATKRABANG)
    meeting = gw.send(with_header(letter(subject="ที่ กท ๐๔๐๑/๑๕ ลงวันที่ ๒๐ พ.ค. ๒๕๘๐ เรื่อง ขอเชิญประชุม",
                                         body="ดูไฟล์แนบ"), "Date", old_clock), LATKRABANG)
    entries = {e["queue_id"]: e for e in _entries(gw, "saraban.latkrabang")[2580]}
    assert (entries[own]["reference"], entries[own]["letter_date"]) == ("กท 0401/14", "2037-05-10")
    assert (entries[meeting]["reference"], entries[meeting]["letter_date"]) == ("กท 0401/15", None)
    assert "ลงวันที่: 10 พ.ค. 2580" in _notice_to(sink, "<clock-2019@dds.bangkok.go.th>")


def test_a_paper_emergency_letter_cannot_be_received_in_the_future(gw, clock, tmp_path):
    """The paper emergency register typed into a sheet with the year slipped (2577 for
    2576, in June 2576): the import registered it as 1/2577, a number of a register that
    does not begin before 1 January, whose first mailed letter would then be 2/2577.
    Now the book is refused, the line named; the corrected book interleaves with the
    mailed letters, each taking the next number and keeping its ฉ number."""
    clock.set(dt.datetime(2033, 6, 1, 9, 0, tzinfo=BANGKOK))
    first = gw.send(letter(), DINDAENG)
    gw.wait_idle()
    (tmp_path / "scan.pdf").write_bytes(make_pdf("scanned letter"))
    row = ["ดด 0013 / ฉ 001", "5 มี.ค. 2577 10.30 น.", "", "", "สำนัก\u202eการคลัง", "", "ขอส่ง\u00adรายงาน", "",
           "scan.pdf"]
    refused = gw.cli("register", "import-emergency", str(write_book(tmp_path, [row])), "--unit", "saraban.dindaeng",
                     check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "line 2: received_at (วันเวลาที่รับ) \"5 มี.ค. 2577 10.30 น.\" is later than now" in refused.stderr
    assert "nothing imported" in refused.stderr

    row[1] = "5 มี.ค. 2576 10.30 น."
    out = gw.cli("register", "import-emergency", str(write_book(tmp_path, [row])), "--unit", "saraban.dindaeng")
    assert "ดด 0013 / ฉ 001  ->  registered 2/2576" in out.stdout
    third = gw.send(letter(), DINDAENG)
    years = _entries(gw, "saraban.dindaeng")
    assert 2577 not in years  # next year's register not begun
    entries = years[2576]
    assert [e["number"] for e in entries] == [1, 2, 3]
    assert (entries[0]["queue_id"], entries[2]["queue_id"]) == (first, third)
    shown = json.loads(gw.cli("register", "show", "saraban.dindaeng", "2/2576", "--json").stdout)
    assert (shown["emergency_no"], shown["received_at"]) == ("ดด 0013 / ฉ 001", "2033-03-05T10:30:00+07:00")
    # Typed or pasted into the sheet, a soft hyphen and an override are not kept either.
    assert (shown["subject"], shown["sender_name"]) == ("ขอส่งรายงาน", "สำนักการคลัง")


def test_a_cut_over_number_set_after_the_year_began_is_not_ignored(gw, clock, tmp_path):
    """The gateway ran (a test letter: 1/2579) before the operator set the cut-over
    number from the previous system (it gave 1-1571 of 2579). The configured start was
    used only when the year's counter was made, so it was ignored: the next letter got
    2/2579, a number the previous system had already given. It is a floor now: the next
    letter gets 1572, by the command and by the running daemon alike."""
    clock.set(dt.datetime(2036, 2, 1, 9, 0, tzinfo=BANGKOK))
    gw.send(letter(), DINDAENG)
    gw.wait_idle()
    config = gw.config.read_text(encoding="utf-8")
    gw.config.write_text(config + '\n[register.start_numbers]\n"saraban.dindaeng" = { 2579 = 1572 }\n',
                         encoding="utf-8")
    try:
        (tmp_path / "scan.pdf").write_bytes(make_pdf("scanned letter"))
        book = write_book(tmp_path, [["ดด 0013 / ฉ 101", "2579-01-31 16:00", "", "", "สำนักการคลัง", "",
                                      "ขอส่งรายงาน", "", "scan.pdf"]])
        out = gw.cli("register", "import-emergency", str(book), "--unit", "saraban.dindaeng")
        assert "ดด 0013 / ฉ 101  ->  registered 1572/2579" in out.stdout
    finally:
        gw.config.write_text(config, encoding="utf-8")
    gw.send(letter(), DINDAENG)  # the running daemon read the configuration before
    assert [e["number"] for e in _entries(gw, "saraban.dindaeng")[2579]] == [1, 1572, 1573]


def test_control_and_bidi_characters_of_a_letter_do_not_reach_the_register(gw, clock, tmp_path):
    """A cover letter's text layer can read as any character its producer maps a glyph
    to: เรื่อง "ขอเชิญ<U+202E>ประชุม<U+2060>ด่วน<ESC>" (an override reversing what
    follows it in the clerk's spreadsheet and desk, a word joiner, an escape) and เรียน
    with a soft hyphen were kept in the register as read, so the desk's search for
    "ขอเชิญประชุมด่วน" did not find the letter; the sender's display name and a Subject
    with an escape sequence too. The register keeps one clean line of each."""
    clock.set(dt.datetime(2035, 3, 1, 9, 0, tzinfo=BANGKOK))
    cover = remap_text_layer(thai_pdf(["ที่ กท 0403/276", "วันที่ 22 ธันวาคม 2566", "เรื่อง ขอเชิญ~ประชุม|ด่วน^",
                                       "เรียน ผู้อำนวยการเขต\u00adลาดกระบัง"], "plain"),
                             {"~": "\u202e", "|": "\u2060", "^": "\x1b"})
    raw = with_header(letter(subject="หนังสือ", body="ดูไฟล์แนบ", files=[("2566_dds_0403_276.pdf", cover)]),
                      "From", "=?utf-8?b?" + base64.b64encode(
                          "สำนัก\u202eการคลัง\x1b[2J".encode()).decode() + "?= <saraban.dds@bangkok.go.th>")
    from_pdf = gw.send(raw, LATKRABANG)
    from_subject = gw.send(letter(subject="เรื่อง ขอเชิญ\x1b[2Jประชุม\u202e", body="ดูไฟล์แนบ"), LATKRABANG)
    entries = {e["queue_id"]: e for e in _entries(gw, "saraban.latkrabang")[2578]}
    assert (entries[from_pdf]["subject"], entries[from_pdf]["addressee"]) == ("ขอเชิญประชุมด่วน",
                                                                             "ผู้อำนวยการเขตลาดกระบัง")
    assert entries[from_subject]["subject"] == "ขอเชิญ [2Jประชุม"
    out = tmp_path / "2578.csv"
    gw.cli("register", "export", "--unit", "saraban.latkrabang", "--year", "2578", "-o", str(out))
    rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
    assert [(r["เรื่อง"], r["ถึง"], r["จาก"]) for r in rows] == [
        ("ขอเชิญประชุมด่วน", "ผู้อำนวยการเขตลาดกระบัง", "สำนักการคลัง [2J <saraban.dds@bangkok.go.th>"),
        ("ขอเชิญ [2Jประชุม", "สำนักงานเขตลาดกระบัง", "สำนักการระบายน้ำ <saraban.dds@bangkok.go.th>")]
