"""A row of the paper emergency register that is a letter the unit also received by
e-mail is flagged for review with the e-mailed letter's number.

During an outage the registrar reads the central mailbox in webmail (or the sender
phones), numbers the letter in the paper book (`กท 0403 / ฉ 001`) and keeps the PDF.
Back up, the gateway registers the very same letter from the mailbox or the sender's
retry; then the clerk imports the paper book. Until now that was two receive numbers
for one letter, and nothing said so: the import compared a row only with rows imported
before. Now a row whose ที่ and ลงวันที่ (as a person types them: Thai digits, dots) are
those of a letter the unit registered within 30 days of the row's time, or whose scans
are all files of such a letter, is registered (its paper number was given) with the
clerk's warning `same_letter` naming the other number and `review: true`; the import
says so on its line, in English and Thai. Through the real daemon over SMTP and the
command as the clerk runs it."""
from __future__ import annotations

import datetime as dt

from rules.thai_time import BANGKOK
from tests.letters import letter, make_pdf
from tests.test_emergency_session36 import imports, write_book

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
UNIT = "saraban.latkrabang"


def _row(number: str, scan: str, reference: str = "", dated: str = "", subject: str = "ขอเชิญประชุม") -> list[str]:
    received = (dt.datetime.now(BANGKOK) - dt.timedelta(hours=2))
    when = f"{received.year + 543}-{received:%m-%d %H:%M}"
    return [number, when, reference, dated, "สำนักการระบายน้ำ", "ผู้อำนวยการเขตลาดกระบัง", subject, "", scan]


def _entry(d, receive_no: str) -> dict:
    [found] = [e for e in d.register() if e["receive_no"] == receive_no]
    return found


def test_an_emergency_row_of_a_letter_registered_from_email_is_flagged_with_its_number(daemon, tmp_path):
    pdf = make_pdf("cover letter received by e-mail and on paper")
    # ที่ กท.๐๔๐๗/ว.๕๗ ลงวันที่ ๑๓ มิถุนายน ๒๕๖๕ (tests/letters.py, the seed's letter)
    mailed = daemon.send(letter(subject="เรื่อง ขอเชิญประชุม", files=[("2565_dds_0407_57.pdf", pdf)]), LATKRABANG)
    daemon.wait_idle()
    [first] = daemon.register()
    year = first["year"]
    assert (first["queue_id"], first["number"], first["reference"], first["letter_date"]) == (
        mailed, 1, "กท 0407/ว 57", "2022-06-13")

    book = tmp_path / "book"
    book.mkdir()
    (book / "scan1.pdf").write_bytes(make_pdf("the paper copy, scanned"))  # other bytes than the mail's PDF
    (book / "saved.pdf").write_bytes(pdf)  # the PDF the registrar saved from webmail
    (book / "other.pdf").write_bytes(make_pdf("another letter"))
    out = imports(daemon, write_book(book, [
        # Typed from the paper: the same ที่ and date, written as a person writes them.
        _row("กท 0403 / ฉ 001", "scan1.pdf", reference="กท 0407/ว 57", dated="13 มิ.ย. 2565"),
        # No ที่ typed, but the scan is the mail's own PDF.
        _row("กท 0403 / ฉ 002", "saved.pdf"),
        # Another letter of the same sender: another ที่.
        _row("กท 0403 / ฉ 003", "other.pdf", reference="กท 0407/ว 58", dated="13 มิ.ย. 2565", subject="อื่น"),
    ]))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for number, receive_no in (("ฉ 001", 2), ("ฉ 002", 3)):
        [said] = [line for line in lines if number in line]
        assert f"registered {receive_no}/{year}" in said, out.stdout
        assert f"possibly the letter registered from e-mail as 1/{year}" in said, out.stdout
        assert f"อาจเป็นหนังสือฉบับเดียวกับเลขรับ 1/{year}" in said, out.stdout
    [third] = [line for line in lines if "ฉ 003" in line]
    assert third.endswith(f"registered 4/{year}"), out.stdout

    for receive_no in (f"2/{year}", f"3/{year}"):
        entry = _entry(daemon, receive_no)
        assert entry["review"] is True, entry
        [same] = [f for f in entry["findings"] if f["rule"] == "same_letter"]
        assert f"1/{year}" in same["message_en"] and f"1/{year}" in same["message_th"], same
        shown = daemon.cli("register", "show", UNIT, receive_no).stdout
        assert "same_letter" in shown and "review" in shown, shown
    assert _entry(daemon, f"4/{year}")["review"] is False
    assert _entry(daemon, f"1/{year}")["review"] is False  # the mailed letter is left as it was

    # Cancelled, the e-mailed entry is no longer a twin: the row imported again is as it was.
    daemon.cli("register", "cancel", UNIT, f"1/{year}", "--reason", "ซ้ำกับ ฉ 001")
    again = imports(daemon, write_book(book, [_row("กท 0403 / ฉ 004", "scan1.pdf", reference="กท 0407/ว 57",
                                                   dated="13 มิ.ย. 2565")], name="again.csv"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].endswith(f"registered 5/{year}"), again.stdout
    assert _entry(daemon, f"5/{year}")["review"] is False


def test_the_desks_emergency_form_says_it_too(tmp_path):
    """The same row entered on the desk's emergency form: the result says which number
    it may duplicate, in the clerk's language, and the entry is flagged."""
    import html
    import re

    from tests.web.client import signed_in
    from tests.web.conftest import running_desk

    mailed = letter(subject="เรื่อง ขอเชิญประชุม", files=[("2565_dds_0407_57.pdf", make_pdf("mailed twin desk"))])
    with running_desk(tmp_path / "desk", (("latclerk", "clerk", UNIT),), ((mailed, LATKRABANG),)) as desk:
        [(number, year)] = desk.db("SELECT number, year FROM letters")
        clerk = signed_in(desk.url, "latclerk")
        received = dt.datetime.now(BANGKOK) - dt.timedelta(hours=1)
        form = {"unit": UNIT, "emergency_no": "กท 0403 / ฉ 011", "received_at": f"{received:%d/%m}/{received.year + 543}",
                "reference": "กท.๐๔๐๗/ว.๕๗", "letter_date": "๑๓ มิ.ย. ๖๕", "sender": "สำนักการระบายน้ำ",
                "subject": "ขอเชิญประชุม", "do": "import"}
        answer = clerk.post_multipart("/emergency", list(form.items()), [("scans", "scan.pdf", make_pdf("paper"))])
        assert answer.status == 200, answer.text[:500]
        said = html.unescape(re.sub(r"<[^>]+>", " ", re.search(r'<ul class="results">(.*?)</ul>', answer.text, re.S)[1]))
        assert f"อาจเป็นหนังสือฉบับเดียวกับที่ลงทะเบียนรับทางอีเมลแล้วเป็นเลขรับ {number}/{year}" in said, said
        assert desk.db("SELECT review FROM letters WHERE queue_id LIKE 'emg%'") in ([(1,)], [(True,)])


def test_a_letter_emailed_after_its_paper_row_was_imported_is_flagged_with_the_paper_number(daemon, tmp_path):
    """The other order, the likelier one: the registrar numbers the letter on paper
    during the outage and imports the paper book once the gateway is back; then the
    e-mail arrives (its sender's server retried for days, the mailbox is read again).
    Until session 56 it took a second number unflagged; now it is registered with
    `same_letter` naming the paper row's number, `review: true`, and the printed book's
    remark names it too. Another letter of the sender, another ที่, is not flagged."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "scan1.pdf").write_bytes(make_pdf("the paper copy, scanned first"))
    out = imports(daemon, write_book(book, [
        _row("กท 0403 / ฉ 021", "scan1.pdf", reference="กท.๐๔๐๗/ว.๕๗", dated="๑๓ มิ.ย. ๖๕")]))
    assert out.returncode == 0, out.stderr
    [paper] = daemon.register()
    year = paper["year"]
    assert paper["receive_no"] == f"1/{year}" and paper["review"] is False

    # ที่ กท.๐๔๐๗/ว.๕๗ ลงวันที่ ๑๓ มิถุนายน ๒๕๖๕ (tests/letters.py, the seed's letter)
    mailed = daemon.send(letter(subject="เรื่อง ขอเชิญประชุม",
                                files=[("2565_dds_0407_57.pdf", make_pdf("the mailed letter"))]), LATKRABANG)
    other = daemon.send(letter(subject="เรื่อง อื่น", body="ที่ กท 0407/ว 58\nวันที่ 13 มิถุนายน 2565\nเรื่อง อื่น\n",
                               files=[("2565_dds_0407_58.pdf", make_pdf("another letter"))]), LATKRABANG)
    daemon.wait_idle()
    entries = {e["queue_id"]: e for e in daemon.register()}
    flagged = entries[mailed]
    assert flagged["review"] is True, flagged
    [same] = [f for f in flagged["findings"] if f["rule"] == "same_letter"]
    assert f"as 1/{year}" in same["message_en"] and "on paper" in same["message_en"], same
    assert f"เลขรับ 1/{year}" in same["message_th"] and "ทะเบียนรับฉุกเฉิน" in same["message_th"], same
    assert entries[other]["review"] is False and not [f for f in entries[other]["findings"]
                                                      if f["rule"] == "same_letter"]
    listed = daemon.cli("register", "list", "--unit", UNIT).stdout
    assert f"อาจซ้ำกับเลขรับ 1/{year} (may repeat 1/{year})" in listed, listed
