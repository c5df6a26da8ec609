"""What the register shows a clerk of a letter (ที่, ลงวันที่, เรื่อง, ถึง, ชั้นความเร็ว, จาก),
on the shapes the red team sent (/tmp/redteam-register: cases_pdf.py, cases_nam.py,
cases1.py, cases_urgency.py, smtp_batch.py, from_names.py, search_sara_am.py)."""
from __future__ import annotations

import base64
import datetime as dt
import tempfile
from pathlib import Path

import pytest

from gateway.pipeline.parse import parse_mail, sender_display_name
from rules.extract import extract_facts, facts_from_text, mail_subject
from rules.letter_header import read_inline, read_letter_text
from rules.model import ParsedMail
from rules.reference import find_reference, find_reference_on_line, normalise_reference
from rules.thai_text import normalise_extracted, repair_sara_am
from tests.rules.builders import att, mail
from tests.thai_pdfs import pypdf_text, thai_pdf

HEAD = ["ที่ กท ๐๔๐๓/๒๗๖", "ศาลาว่าการกรุงเทพมหานคร", "๑๗๓ ถนนดินสอ เขตพระนคร กทม. ๑๐๒๐๐", "๑๕ พฤศจิกายน ๒๕๖๙"]
LAT = "ผู้อำนวยการเขตลาดกระบัง"
SENT = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))


def pdf_facts(lines: list[str], producer: str = "shaped", **kwargs):
    """extract_facts of a mail whose cover PDF says `lines`, its text layer read as the
    pipeline reads it (pypdf, the split ำ repaired: gateway/pipeline/pdf_inspect.py)."""
    text = repair_sara_am([pypdf_text(thai_pdf(lines, producer))])[0]
    return extract_facts(mail(att("2569_dds_0403_276.pdf", pdf_text=text), subject="หนังสือราชการ",
                              body="แนบหนังสือมาพร้อมนี้\n", **kwargs))


def dated(m: ParsedMail, date: dt.datetime | None = SENT) -> ParsedMail:
    return ParsedMail(**{**m.__dict__, "date": date})


# 5. ถึง: the first line of the body is not part of the addressee.

@pytest.mark.parametrize("producer", ["shaped", "plain"])
@pytest.mark.parametrize("body_line", [
    "สำนักการระบายน้ำ กรุงเทพมหานคร ได้กำหนดจัดประชุม",  # cases_pdf.py pdf_body_agency
    "กรุงเทพมหานครได้กำหนดจัดประชุม",                   # pdf_body_krung
    "แนบหนังสือมาพร้อมนี้",
    "สำนักงานเขตลาดกระบัง",                              # an office's name, short: still the body
])
def test_the_body_after_a_whole_addressee_is_not_read_into_it(producer, body_line):
    facts = pdf_facts(HEAD + ["เรื่อง ขอเชิญประชุม", f"เรียน {LAT}", body_line, "ในวันที่ ๒๐ ธันวาคม ๒๕๖๙"], producer)
    assert facts.addressee == LAT
    assert facts.subject == "ขอเชิญประชุม"


def test_the_body_of_the_mail_is_not_read_into_the_addressee():
    # smtp_batch.py, notices_addr.py: the mail body is a short covering note.
    m = mail(att("a.pdf"), subject="หนังสือราชการ", body=f"เรียน {LAT}\nแนบหนังสือมาพร้อมนี้\n")
    assert extract_facts(m).addressee == LAT


@pytest.mark.parametrize("first, second, addressee", [
    # seed 002: the addressee wraps, its first line naming no office yet
    ("ผู้อำนวยการสถานศึกษาโรงเรียน", "ในสังกัดสำนักงานเขตหนองจอก",
     "ผู้อำนวยการสถานศึกษาโรงเรียนในสังกัดสำนักงานเขตหนองจอก"),
    ("ผู้อำนวยการสำนักงานเขต", "ลาดกระบัง", "ผู้อำนวยการสำนักงานเขตลาดกระบัง"),
    # a sentence below an unfinished one is still the body
    ("ผู้อำนวยการสำนัก", "ขอเชิญประชุมในวันที่ ๒๐ ธันวาคม ๒๕๖๙", "ผู้อำนวยการสำนัก"),
    ("ผู้อำนวยการสำนัก", "สำนักการคลังได้จัดทำรายงาน", "ผู้อำนวยการสำนัก"),
])
def test_an_addressee_that_wraps_is_still_read_whole(first, second, addressee):
    fields = read_letter_text(f"ที่ กท ๐๔๐๓/๒๗๖\nเรื่อง ขอเชิญประชุม\nเรียน {first}\n{second}\nด้วย...\n")
    assert fields.addressee == addressee


# 6. Stray placeholder characters after ำ at the end of a word.

def test_the_placeholder_after_am_at_a_words_end_is_dropped():
    # cases_nam.py: the shaped producer's text layer reads "น้ำ$%ท่วม...ระบายน้ำ$%"
    lines = ["ที่ กท ๐๔๐๓/๒๗๖", "๑๕ พฤศจิกายน ๒๕๖๙", "เรื่อง ขอส่งรายงานสถานการณ์น้ำท่วมและการระบายน้ำ",
             f"เรียน {LAT}", "ด้วย"]
    for producer in ("shaped", "plain", "word"):
        facts = pdf_facts(lines, producer)
        assert facts.subject == "ขอส่งรายงานสถานการณ์น้ำท่วมและการระบายน้ำ", producer
        assert facts.addressee == LAT


def test_the_placeholder_before_a_space_in_the_addressees_line():
    facts = pdf_facts(HEAD + ["เรื่อง ขอเชิญประชุม", f"เรียน {LAT}", "สำนักการระบายน้ำ กรุงเทพมหานคร"])
    assert facts.addressee == LAT


@pytest.mark.parametrize("raw, read", [
    ("น้ำ$%ท่วมและการระบายน้ำ$%", "น้ำท่วมและการระบายน้ำ"),   # the same code inside a word
    ("ผู้อำ.นวยการ\nสำนักการระบายน้ำ-. กรุงเทพมหานคร", "ผู้อำนวยการ\nสำนักการระบายน้ำ กรุงเทพมหานคร"),
    ("ระบายน้ำ62 ระบายน้ำ62", "ระบายน้ำ ระบายน้ำ"),            # glued after ำ twice
    ("น้ำ 2 ลิตร", "น้ำ 2 ลิตร"),                              # a spaced number is text
    ("ทำ-ไม", "ทำ-ไม"),                                        # a hyphen between words is text
    ("ทำ#-ไม ผู้อำ#นวยการ", "ทำ-ไม ผู้อำนวยการ"),             # the code goes, the hyphen stays
    ("(ประจำ) ทำ.", "(ประจำ) ทำ."),                            # punctuation after a word
    ("ประจำ2569", "ประจำ2569"),                                 # once, nothing to say it is a code
])
def test_the_repair_is_tied_to_the_placeholder_code(raw, read):
    assert normalise_extracted(raw) == read


# 7. ที่ and ลงวันที่ only where a sender writes the letter's own.

def test_a_date_in_the_subjects_wording_is_not_the_letters_date():
    m = dated(mail(att("a.pdf"), subject="ขอเชิญประชุมคณะกรรมการ วันที่ 15 ธันวาคม 2569", body="แนบหนังสือ\n"))
    facts = extract_facts(m)
    assert facts.letter_date is None and facts.reference is None


def test_a_reference_in_the_subjects_wording_is_not_the_letters():
    facts = extract_facts(dated(mail(att("a.pdf"), subject="ขอส่งสำเนาหนังสือ กท 0401/123 ให้ทราบ")))
    assert facts.reference is None


@pytest.mark.parametrize("subject, reference, date", [
    ("ด่วนที่สุด ที่ กท 0403/ว 276 ลงวันที่ 22 ธ.ค. 66 เรื่อง ขอเชิญประชุม", "กท 0403/ว 276", dt.date(2023, 12, 22)),
    ("ที่ กท 0403/276 ลว. 15 พ.ย. 69 เรื่อง ขอเชิญประชุม", "กท 0403/276", dt.date(2026, 11, 15)),
    ("(ด่วน) ที่ กท 0403/276 เรื่อง ขอเชิญประชุม", "กท 0403/276", None),
    ("ขอส่งหนังสือ ที่ กท 0508/2059 ลงวันที่ 9 กันยายน 2565", "กท 0508/2059", dt.date(2022, 9, 9)),
    ("ลงวันที่ 9 กันยายน 2565 ขอส่งหนังสือ", None, dt.date(2022, 9, 9)),
    ("ขอส่งสำเนาหนังสือ ที่ กท 0401/123 ให้ทราบ", None, None),
    ("แจ้งผลการประชุมครั้งที่ 1/2569", None, None),
])
def test_the_conventional_places_still_count(subject, reference, date):
    facts = extract_facts(dated(mail(att("a.pdf"), subject=subject)))
    assert (facts.reference, facts.letter_date) == (reference, date)


def test_a_date_later_than_the_mail_is_not_the_letters_date(monkeypatch):
    # Nor later than today (tests/test_fidelity_red_team.py): today is the 14th of December.
    monkeypatch.setattr("rules.extract.now_utc", lambda: SENT.replace(day=14, month=12))
    subject = "ที่ กท 0403/276 ลงวันที่ 15 ธันวาคม 2569 เรื่อง ขอเชิญประชุม"
    facts = extract_facts(dated(mail(att("a.pdf"), subject=subject)))
    assert facts.reference == "กท 0403/276" and facts.letter_date is None
    # the same letter sent on the 15th, or a day early across time zones, keeps it
    assert extract_facts(dated(mail(att("a.pdf"), subject=subject), SENT.replace(day=14, month=12))).letter_date \
        == dt.date(2026, 12, 15)
    # A Date: more than a month before today is the sender's clock (a PC that says 2019):
    # the letter's own date of today is kept, a day to come still is not.
    old_clock = SENT.replace(year=2019)
    assert extract_facts(dated(mail(att("a.pdf"), subject=subject.replace("15", "14")), old_clock)).letter_date \
        == dt.date(2026, 12, 14)
    assert extract_facts(dated(mail(att("a.pdf"), subject=subject.replace("15", "20")), old_clock)).letter_date \
        is None


# 8. The old-style ำ (ํ + า) typed in a mail is stored and read as ำ.

def test_old_style_sara_am_in_the_subject_and_body_reads_as_sara_am():
    m = mail(att("a.pdf"), subject="ที่ กท 0403/276 เรื่อง แต่งตั้งคณะท\u0e4d\u0e32งาน",
             body="ที่ กท 0403/276\nเรื่อง แต่งตั้งคณะท\u0e4d\u0e32งาน\nเรียน ผู้อ\u0e4d\u0e32นวยการเขตลาดกระบัง\nด้วย\n")
    facts = extract_facts(m)
    assert facts.subject == "แต่งตั้งคณะทำงาน"
    assert facts.addressee == LAT
    only_body = extract_facts(mail(att("a.pdf"), subject="หนังสือ", body=m.body_text))
    assert only_body.subject == "แต่งตั้งคณะทำงาน"


def test_the_subject_the_register_stores_is_normalised_the_same_way():
    m = mail(att("a.pdf"), subject="ขอเชิญประชุมคณะท\u0e4d\u0e32งาน")
    assert extract_facts(m).subject is None  # no เรื่อง: the register takes the whole subject
    assert mail_subject(m) == "ขอเชิญประชุมคณะทำงาน"
    assert mail_subject(mail(subject="ขอเชิญประชุม")) == "ขอเชิญประชุม"


def test_the_desk_search_finds_an_old_style_subject_by_either_spelling():
    from storage.db import Database
    from storage.desk import RegisterQuery, register_page
    from storage.models import Message
    from storage.register import NewLetter, register_letter

    received = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'd.db'}")
        database.create_schema()
        try:
            with database.session() as session:
                session.add(Message(queue_id="q" * 24, received_at=received, mail_from="x@y",
                                    recipients=["saraban.latkrabang"], size=1, sha256="0" * 64, state="done"))
                session.flush()
                register_letter(session, NewLetter(
                    queue_id="q" * 24, unit="saraban.latkrabang", book="general", received_at=received,
                    sender="saraban.dds@bangkok.go.th", raw_sha256="0" * 64, sender_name=None,
                    subject=mail_subject(mail(subject="แต่งตั้งคณะท\u0e4d\u0e32งาน")), facts={}, attachments=[]))
            for term in ("คณะทำงาน", "คณะท\u0e4d\u0e32งาน"):
                with database.session() as session:
                    letters, _ = register_page(session, RegisterQuery(unit="saraban.latkrabang", book="general",
                                                                      year=2569, search=term))
                    assert [x.subject for x in letters] == ["แต่งตั้งคณะทำงาน"], term
        finally:
            database.dispose()


# 9. Format characters (U+200B...) typed or pasted into a subject.

@pytest.mark.parametrize("subject", [
    "ที่ กท 0403/ว 276 ลงวันที่ 22 ธ.ค. 66 เรื่อง\u200b ขอเชิญประชุม",
    "ที่ กท\u200b 0403/ว 276 ลงวันที่ 22 ธ.ค. 66 เรื่อง ขอเชิญประชุม",
    "\ufeffที่ กท 0403/\u200dว 276 ลงวันที่ 22 ธ.ค. 66 เรื่อง ขอเชิญ\u00adประชุม\u2060",
])
def test_format_characters_do_not_spoil_the_fields(subject):
    facts = extract_facts(dated(mail(att("a.pdf"), subject=subject)))
    assert (facts.reference, facts.letter_date, facts.subject) == ("กท 0403/ว 276", dt.date(2023, 12, 22), "ขอเชิญประชุม")


def test_the_reference_readers_drop_format_characters():
    assert find_reference("หนังสือ กท\u200b 0403/ว 276").text == "กท 0403/ว 276"
    assert normalise_reference("กท\u200b.0407/ว\u200c57") == "กท 0407/ว 57"
    assert find_reference_on_line("ที่\u200b กท\u200b 0403/276").text == "กท 0403/276"


# 10. จาก: an encoded display name with a comma.

@pytest.mark.parametrize("from_header", [
    "=?utf-8?b?{}?= <saraban.dds@bangkok.go.th>",
    '"=?utf-8?b?{}?=" <saraban.dds@bangkok.go.th>',
])
def test_an_encoded_display_name_with_a_comma_is_the_senders_name(from_header):
    word = base64.b64encode("สำนักการคลัง, กองบัญชี".encode()).decode()
    raw = f"From: {from_header.format(word)}\r\nSubject: test\r\n\r\nbody\r\n".encode()
    parsed = parse_mail(raw)
    assert parsed.from_address == "saraban.dds@bangkok.go.th"
    assert sender_display_name(parsed) == "สำนักการคลัง, กองบัญชี"


@pytest.mark.parametrize("from_header, name", [
    ("สำนักการคลัง <saraban.dds@bangkok.go.th>", "สำนักการคลัง"),
    ('"Somchai \\"K\\"" <s@dds.bangkok.go.th>', 'Somchai "K"'),
    ("saraban.dds@bangkok.go.th (สำนักการคลัง)", "สำนักการคลัง"),
    ("saraban.dds@bangkok.go.th", None),
])
def test_other_from_shapes_keep_their_names(from_header, name):
    raw = f"From: {from_header}\r\nSubject: test\r\n\r\nbody\r\n".encode()
    assert sender_display_name(parse_mail(raw)) == name


# 12. A four-line เรื่อง, ด่วนที่สุด beside ที่, the date written after เรื่อง.

def test_a_subject_of_four_lines_is_read_whole():
    lines = HEAD + ["เรื่อง ขอความอนุเคราะห์ประชาสัมพันธ์โครงการฝึกอบรมเชิงปฏิบัติการ",
                    "การพัฒนาระบบสารบรรณอิเล็กทรอนิกส์สำหรับเจ้าหน้าที่ของหน่วยงาน",
                    "ในสังกัดกรุงเทพมหานคร ประจำปีงบประมาณ พ.ศ. ๒๕๗๐", "รุ่นที่ ๒", f"เรียน {LAT}", "ด้วยสำนัก..."]
    facts = pdf_facts(lines)
    assert facts.subject == ("ขอความอนุเคราะห์ประชาสัมพันธ์โครงการฝึกอบรมเชิงปฏิบัติการการพัฒนาระบบสารบรรณ"
                             "อิเล็กทรอนิกส์สำหรับเจ้าหน้าที่ของหน่วยงานในสังกัดกรุงเทพมหานคร ประจำปีงบประมาณ "
                             "พ.ศ. 2570 รุ่นที่ 2")
    assert facts.addressee == LAT


def test_urgency_typed_on_the_reference_line_counts():
    tail = ["๑๕ พฤศจิกายน ๒๕๖๙", "เรื่อง ขอเชิญประชุม", f"เรียน {LAT}", "ด้วย"]
    facts = pdf_facts(["ที่ กท ๐๔๐๓/๒๗๖        ด่วนที่สุด"] + tail, "plain")
    assert facts.urgency == "most_urgent" and facts.reference == "กท 0403/276"
    assert facts_from_text("ที่ กท ๐๔๐๓/๒๗๖ ลว. ๘ มี.ค. ๖๗\nเรื่อง ทดสอบ").letter_date == dt.date(2024, 3, 8)


def test_a_date_written_after_the_subject_is_the_letters_date():
    facts = extract_facts(dated(mail(att("a.pdf"), subject="ที่ กท 0403/276 เรื่อง ขอเชิญประชุม ลงวันที่ 22 ธ.ค. 2566")))
    assert (facts.reference, facts.letter_date, facts.subject) == ("กท 0403/276", dt.date(2023, 12, 22), "ขอเชิญประชุม")
    # without the letter's ที่ before it, the phrase is the subject's own
    assert read_inline("เรื่อง ขอส่งสำเนาหนังสือ ลงวันที่ 22 ธ.ค. 2566").subject == "ขอส่งสำเนาหนังสือ ลงวันที่ 22 ธ.ค. 2566"


# Through the daemon: what `register list --json` shows the clerk.

def test_the_register_shows_the_normalised_subject_and_the_comma_name(daemon):
    import email
    import json
    from email.header import Header

    from tests.letters import letter

    typed = "ขอเชิญประชุมคณะท\u0e4d\u0e32งาน\u200b"
    message = email.message_from_bytes(letter(subject=typed, body="แนบหนังสือมาพร้อมนี้\n"))
    del message["From"]
    message["From"] = Header("สำนักการคลัง, กองบัญชี", "utf-8").encode() + " <saraban.dds@bangkok.go.th>"
    daemon.send(message.as_bytes(), "saraban.latkrabang@bangkok.go.th")
    daemon.wait_idle()
    [entry] = daemon.register()
    assert entry["subject"] == "ขอเชิญประชุมคณะทำงาน"  # stored as searched
    assert entry["mail_subject"] == typed  # the mail's own subject is kept as it came
    assert entry["letter_date"] is None and entry["reference"] is None
    shown = json.loads(daemon.cli("register", "show", "saraban.latkrabang", entry["receive_no"], "--json").stdout)
    assert shown["sender_name"] == "สำนักการคลัง, กองบัญชี"
