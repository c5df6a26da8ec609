"""Which file is the cover letter (หนังสือนำ) when the letter carries an earlier letter
forwarded as an attachment (message/rfc822), read as the pipeline reads a letter
(gateway/pipeline/parse.py `parse_mail`, the PDFs' text layers included).

Until session 43 the files inside the forwarded message were the letter's own, in mail
order: the forwarded old letter, before the new one, gave the register its ที่, เรื่อง and
date, and the receive stamp (red team deliv43, run_forward_cover.py)."""
from __future__ import annotations

import base64
import datetime as dt
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from gateway.pipeline.parse import parse_mail
from rules.checks.naming import Naming
from rules.extract import extract_facts
from rules.files import cover_letter, documents, enclosures
from rules.model import RuleSettings
from tests.letters import make_pdf
from tests.thai_pdfs import thai_pdf

OLD = thai_pdf(["ที่ กท ๐๓๐๑/๑๒๓๔", "วันที่ ๑๕ มกราคม ๒๕๖๘", "เรื่อง ขอข้อมูลงบประมาณปีเก่า",
                "เรียน ผู้อำนวยการสำนักการระบายน้ำ"])
NEW = thai_pdf(["ที่ กท ๐๔๐๗/ว ๕๗", "วันที่ ๒๒ ธันวาคม ๒๕๖๘", "เรื่อง ขอเชิญประชุมคณะทำงาน",
                "เรียน ผู้อำนวยการเขตลาดกระบัง"])
OLD_NAME, NEW_NAME = "2568_cgd_0301_1234.pdf", "2568_dds_0407_57.pdf"


def _pdf(name: str, data: bytes) -> MIMEApplication:
    part = MIMEApplication(data, "pdf")
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def _message(subject: str, body: str, *parts) -> MIMEMultipart:
    msg = MIMEMultipart("mixed")
    msg["From"] = "saraban.dds@bangkok.go.th"
    msg["To"] = "saraban.latkrabang@bangkok.go.th"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 22 Dec 2025 10:00:00 +0700"
    msg.attach(MIMEText(body, "plain", "utf-8"))
    for part in parts:
        msg.attach(part)
    return msg


def forwarded(inner: MIMEMultipart, name: str = "ขอข้อมูลงบประมาณปีเก่า.eml") -> MIMEMessage:
    """`inner` attached as Thunderbird's "Forward as attachment" attaches it."""
    part = MIMEMessage(inner)
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
    return part


def old_letter(*files) -> MIMEMultipart:
    return _message("ขอข้อมูลงบประมาณปีเก่า", "ส่งหนังสือตามแนบ", *(files or (_pdf(OLD_NAME, OLD),)))


def parsed(*parts, subject: str = "ขอเชิญประชุมคณะทำงาน"):
    body = "เรียน ผู้อำนวยการเขตลาดกระบัง ส่งหนังสือเชิญประชุม พร้อมหนังสือเดิมที่อ้างถึง"
    msg = _message(subject, body, *parts)
    return parse_mail(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), "saraban.dds@bangkok.go.th")


def test_the_new_letter_after_a_forwarded_old_one_is_the_cover_letter():
    """The red team's letter: a short text, the forwarded old letter, then the new one."""
    mail = parsed(forwarded(old_letter()), _pdf(NEW_NAME, NEW))
    assert cover_letter(mail).filename == NEW_NAME
    facts = extract_facts(mail)
    assert (facts.reference, facts.subject, facts.letter_date) == \
        ("กท 0407/ว 57", "ขอเชิญประชุมคณะทำงาน", dt.date(2025, 12, 22))
    assert [(a.filename, a.forwarded) for a in mail.attachments] == [(OLD_NAME, True), (NEW_NAME, False)]
    # The letter's own files first, then the forwarded message's, each in mail order.
    assert [a.filename for a in documents(mail)] == [NEW_NAME, OLD_NAME]
    assert [a.filename for a in enclosures(mail)] == [OLD_NAME]


def test_a_scanned_letter_of_the_senders_own_is_the_cover_letter_not_a_forwarded_one_that_reads():
    """The new letter scanned (no letter in its text layer): still this letter's, so the
    forwarded one's ที่ is not taken for it; the register reads the Subject instead."""
    scan = "2568_dds_0407_57.pdf"
    mail = parsed(forwarded(old_letter()), _pdf(scan, make_pdf("scanned page")),
                  subject="ที่ กท 0407/ว 57 เรื่อง ขอเชิญประชุมคณะทำงาน")
    assert cover_letter(mail).filename == scan
    facts = extract_facts(mail)
    assert (facts.reference, facts.subject) == ("กท 0407/ว 57", "ขอเชิญประชุมคณะทำงาน")


def test_a_letter_whose_only_pdf_is_in_the_forwarded_message_is_read_from_it_as_before():
    mail = parsed(forwarded(old_letter()), subject="ส่งต่อหนังสือ")
    assert cover_letter(mail).filename == OLD_NAME
    facts = extract_facts(mail)
    assert (facts.reference, facts.subject, facts.letter_date) == \
        ("กท 0301/1234", "ขอข้อมูลงบประมาณปีเก่า", dt.date(2025, 1, 15))


def test_an_own_office_file_does_not_outweigh_the_forwarded_pdf():
    """No PDF of its own (its letter sent as .docx, which allowed_types refuses): the
    forwarded PDF is the cover letter, as before."""
    docx = MIMEApplication(b"PK\x03\x04" + b"\x00" * 64, "octet-stream")
    docx.add_header("Content-Disposition", "attachment", filename="2568_dds_0407_57.docx")
    mail = parsed(forwarded(old_letter()), docx)
    assert cover_letter(mail).filename == OLD_NAME


def test_a_forwarded_message_sent_base64_encoded_and_one_forwarded_inside_it_are_both_forwarded():
    """The parser reads an encoded message/rfc822 part as its client shows it, and a
    letter forwarded twice is two messages deep: their files are never the letter's own."""
    twice = forwarded(_message("ต่อ", "ส่งต่อ", forwarded(old_letter())))
    encoded = forwarded(old_letter(_pdf("2568_cgd_0301_1235.pdf", OLD)))
    encoded.replace_header("Content-Type", "message/rfc822")
    payload = encoded.get_payload(0).as_bytes()
    encoded.set_payload(base64.encodebytes(payload).decode("ascii"))
    encoded["Content-Transfer-Encoding"] = "base64"
    mail = parsed(twice, encoded, _pdf(NEW_NAME, NEW))
    assert [(a.filename, a.forwarded) for a in mail.attachments] == \
        [(OLD_NAME, True), ("2568_cgd_0301_1235.pdf", True), (NEW_NAME, False)]
    assert extract_facts(mail).reference == "กท 0407/ว 57"


def test_a_letter_without_a_forwarded_message_is_read_as_before():
    """The enclosure sent first, the cover letter second: the one that reads as a letter."""
    mail = parsed(_pdf("2568_dds_0407_57_1.pdf", make_pdf("a map")), _pdf(NEW_NAME, NEW))
    assert not any(a.forwarded for a in mail.attachments)
    assert cover_letter(mail).filename == NEW_NAME
    assert [a.filename for a in documents(mail)] == ["2568_dds_0407_57_1.pdf", NEW_NAME]


def _naming(mail):
    return [(f.verdict, f.attachment) for f in Naming().check(mail, extract_facts(mail), RuleSettings())]


def test_a_forwarded_letters_file_names_are_not_held_to_the_new_letters_reference():
    """"the number in 2568_cgd_0301_1234.pdf does not agree with the letter's reference
    กท 0407/ว 57": the sender was told to rename the old letter someone else named."""
    assert _naming(parsed(forwarded(old_letter()), _pdf(NEW_NAME, NEW))) == [("pass", None)]
    # The letter's own enclosure is still held to it.
    wrong = parsed(forwarded(old_letter()), _pdf(NEW_NAME, NEW), _pdf("2568_dds_0407_58_1.pdf", make_pdf("a map")))
    assert _naming(wrong) == [("fail", "2568_dds_0407_58_1.pdf")]


def test_the_forwarded_letter_that_is_the_cover_letter_is_still_named_by_the_rule():
    misnamed = old_letter(_pdf("old letter.pdf", OLD))
    assert ("fail", "old letter.pdf") in _naming(parsed(forwarded(misnamed)))
