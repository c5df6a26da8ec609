"""Classified letters marked the ways an attacker (or an odd mail client) marks them:
each case is a whole message carrying the ASCII marker in its subject and body, so a
search of every file the gateway wrote shows whether any of it stayed in plaintext."""
from __future__ import annotations

import base64
import re
import uuid
from email.header import Header

from tests.classified.helpers import MARKER
from tests.letters import SEED_DATE, SEED_REFERENCE, letter, make_pdf, outlook_letter, tnef_file
from tests.signatures.test_archives_session16 import zipped

GARUDA = "/usr/share/fonts/truetype/tlwg/Garuda.ttf"
SUBJECT = f"แผนรักษาความปลอดภัย {MARKER}"
BODY = f"ที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนรักษาความปลอดภัย {MARKER}\nเรียน ผู้อำนวยการเขตลาดกระบัง\n\nเนื้อความ {MARKER}\n"


def thai_pdf(top: str = "", bottom: str = "", pages: int = 1, marked_page: int | None = None) -> bytes:
    """A real Thai PDF (Garuda embedded, HarfBuzz shaping) with `top` and `bottom`
    printed where the regulation puts a classification: centred at the top and the
    bottom of each page (or only of `marked_page`)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("Garuda", fname=GARUDA)
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(False)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Garuda", size=14)
        marked = marked_page is None or marked_page == n
        if top and marked:
            pdf.set_xy(10, 10)
            pdf.cell(190, 8, top, align="C")
        pdf.set_xy(20, 30)
        pdf.multi_cell(170, 8, f"ที่ กท 0403/ว 276\nเรื่อง ขอเชิญประชุม\nเรียน ผู้อำนวยการเขตลาดกระบัง\n"
                               f"หน้า {n} ข้อความของหนังสือ")
        if bottom and marked:
            pdf.set_xy(10, 280)
            pdf.cell(190, 8, bottom, align="C")
    return bytes(pdf.output())


def _mid() -> str:
    return f"<{uuid.uuid4()}@dds.bangkok.go.th>"


def _replace_subject(raw: bytes, line: bytes) -> bytes:
    return re.sub(rb"Subject: [^\r\n]*(\r\n[ \t][^\r\n]*)*", lambda _m: line, raw, count=1)


def _html_only(html: str, subject: str = SUBJECT, pdf: bytes | None = None) -> bytes:
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    msg = MIMEMultipart("mixed")
    msg["From"] = "saraban.dds@bangkok.go.th"
    msg["To"] = "saraban.latkrabang@bangkok.go.th"
    msg["Subject"] = Header(subject, "utf-8")
    msg["Message-ID"] = _mid()
    msg.attach(MIMEText(html, "html", "utf-8"))
    part = MIMEApplication(pdf or make_pdf("cover letter"), "pdf")
    part.add_header("Content-Disposition", "attachment", filename="2569_dds_0403_57.pdf")
    msg.attach(part)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def nested(depth: int, subject_word: str = "ลับ") -> bytes:
    """A letter inside `depth` nested multiparts (~68 KB for 1,000): the stdlib parser
    and the S/MIME check both recurse past Python's limit on it."""
    subject = base64.b64encode(f"{subject_word} {SUBJECT}".encode()).decode()
    head = ("From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            f"Subject: =?utf-8?B?{subject}?=\r\nMessage-ID: {_mid()}\r\nMIME-Version: 1.0\r\n")
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    inner = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{BODY}\r\n"
    closing = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + inner + closing).encode("utf-8")


def _plain(subject: str = SUBJECT, body: str = BODY, headers: dict | None = None,
           files: list | None = None) -> bytes:
    return letter(subject=subject, body=body, extra_headers=headers, message_id=_mid(),
                  files=files if files is not None else [("2569_dds_0403_57.pdf", make_pdf("cover letter"))])


def top_secret_cases() -> dict[str, bytes]:
    """ลับที่สุด (top secret) marked every way issue 12 found accepted, and more."""
    word_b64 = base64.b64encode(f"ลับที่สุด {SUBJECT}".encode()).decode()
    filler = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"a" * 70) for i in range(3700))  # ~290 KB
    after_filler = _plain()
    after_filler = _replace_subject(after_filler, b"X-Moved: subject below")
    after_filler = after_filler.replace(b"MIME-Version", filler + f"Subject: =?utf-8?B?{word_b64}?=\r\n".encode()
                                        + b"MIME-Version", 1)
    return {
        "raw 8-bit UTF-8 subject": _replace_subject(_plain(), f"Subject: ลับที่สุด {SUBJECT}".encode()),
        "X-Secrecy: top-secret": _plain(headers={"X-Secrecy": "top-secret"}),
        "X-Saraban-Secrecy: ลับที่สุด": _plain(headers={"X-Saraban-Secrecy": "ลับที่สุด"}),
        "X-Classification: 004 (e-CMS)": _plain(headers={"X-Classification": "004"}),
        "Sensitivity: Top-Secret": _plain(headers={"Sensitivity": "Top-Secret"}),
        "X-Sensitivity: ลับที่สุด": _plain(headers={"X-Sensitivity": "ลับที่สุด"}),
        "msip_labels Name=Top Secret": _plain(headers={
            "msip_labels": "MSIP_Label_0f1e_Enabled=true; MSIP_Label_0f1e_Name=Top Secret; MSIP_Label_0f1e_ContentBits=2"}),
        "RFC 2231-style =?utf-8*th?B?": _replace_subject(_plain(), f"Subject: =?utf-8*th?B?{word_b64}?=".encode()),
        "subject after 290 KB of headers": after_filler,
        "zero-width space inside": _plain(subject=f"ลับ\u200bที่สุด {SUBJECT}"),
        "word joiner and BOM inside": _plain(subject=f"ลับ\u2060ที่\ufeffสุด {SUBJECT}"),
        "space inside ลับ ที่สุด": _plain(subject=f"ลับ ที่สุด {SUBJECT}"),
        "tone mark before vowel ลับท่ีสุด": _plain(subject=f"ลับท\u0e48\u0e35สุด {SUBJECT}"),
        "only in the body (top)": _plain(body="ลับที่สุด\n" + BODY),
        "only in the body (bottom)": _plain(body=BODY + "\n" * 3 + "ลับที่สุด\n"),
        "only in the HTML part": _html_only(f"<html><body><center><b>&#3621;&#3633;&#3610;ที่สุด</b></center>"
                                            f"<p>{BODY.replace(chr(10), '<br>')}</p></body></html>"),
        "only in the PDF (top and bottom of the page)": _plain(files=[
            ("2569_dds_0403_57.pdf", thai_pdf("ลับที่สุด", "ลับที่สุด"))]),
        "only at the bottom of page 3 of an enclosure": _plain(files=[
            ("2569_dds_0403_57.pdf", make_pdf("cover letter")),
            ("2569_dds_0403_57_1.pdf", thai_pdf(bottom="ลับที่สุด", pages=4, marked_page=3))]),
        # Outlook's rich-text mail: the letter's PDF inside winmail.dat (read since session 17).
        "only in the PDF inside winmail.dat": outlook_letter(
            tnef_file([("2569_dds_0403_57.pdf", thai_pdf("ลับที่สุด", "ลับที่สุด"))]), subject=SUBJECT, message_id=_mid()),
        **_session33_cases(),
        **_session34_cases(),
        **_session37_cases(),
        **_session38_cases(),
        # Session 35: pages 201 to n-20 of a long PDF were not read
        # (tests/secrecy/test_middle_pages.py).
        "only on page 230 of a 260-page PDF": _plain(files=[("2569_dds_0403_57.pdf", thai_pdf(
            "ลับที่สุด", "ลับที่สุด", pages=260, marked_page=230))]),
    }


def _session33_cases() -> dict[str, bytes]:
    """The shapes an adversarial pass found read as ordinary (session 32;
    tests/secrecy/test_marking_shapes_session33.py reads each and a variation)."""
    from tests.secrecy.test_marking_shapes_session33 import _uu, docx

    def with_file(name: str, data: bytes) -> bytes:
        return _plain(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), (name, data)])
    return {
        "HTML without </head>": _html_only(f"<html><head><title>หนังสือราชการ</title><body><p align=center>ลับที่สุด</p>"
                                           f"<p>{BODY.replace(chr(10), '<br>')}</p></body></html>"),
        "label-first head line of the PDF": _plain(files=[
            ("2569_dds_0403_57.pdf", thai_pdf("ชั้นความลับ: ลับที่สุด   ชั้นความเร็ว: ด่วนที่สุด"))]),
        "(ชั้นลับที่สุด) in the subject": _plain(subject=f"(ชั้นลับที่สุด) {SUBJECT}"),
        "DOCX with the ns0: prefix": with_file("แผน.docx", docx(["ลับที่สุด", "บันทึกข้อความ", f"เรื่อง {MARKER}"], "ns0")),
        "PDF uuencoded in the body": _plain(body=BODY + "\n" + _uu("2569_dds_0403_58.pdf", thai_pdf("ลับที่สุด")).decode()),
    }


def _session34_cases() -> dict[str, bytes]:
    """A ลับที่สุด a typed page draws without text (tests/secrecy/test_band_drawings.py)."""
    from tests.secrecy.test_band_drawings import TYPED, _picture, outline_ops, picture_ops, with_drawing

    return {
        "a stamp picture pasted into the PDF's page": _plain(files=[("2569_dds_0403_57.pdf", with_drawing(
            TYPED, picture_ops("Stamp", 230, 770, 140, 55), {"/Stamp": _picture("ลับที่สุด")}))]),
        "the PDF's marking converted to outlines": _plain(files=[("2569_dds_0403_57.pdf", with_drawing(
            TYPED, b"0.8 0 0 rg\n" + outline_ops("ลับที่สุด", 230, 790, 36) + b"\nf"))]),
    }


def _session37_cases() -> dict[str, bytes]:
    """A ลับที่สุด only where an office application shows it beside the text
    (tests/secrecy/test_office_visible_session37.py)."""
    from tests.secrecy.test_office_visible_session37 import commented, workbook

    def with_file(name: str, data: bytes) -> bytes:
        return _plain(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), (name, data)])
    return {
        "an XLSX sheet's tab name": with_file("รายชื่อ.xlsx", workbook(["รายชื่อ", "ลับที่สุด"])),
        "a DOCX comment": with_file("แผน.docx", commented("ลับที่สุด")),
    }


def _session38_cases() -> dict[str, bytes]:
    """A ลับที่สุด an HTML body shows on one line, split inside its first syllable by an
    element the browser does not show (tests/secrecy/test_html_hidden_session38.py): read
    as no marking, certain, before session 38."""
    lines = f"<p>{BODY.replace(chr(10), '<br>')}</p>"
    return {
        "HTML split by a closed <dialog>": _html_only(f"<html><body><div>ลั<dialog>x</dialog>บที่สุด</div>{lines}"
                                                      "</body></html>"),
        "HTML split by a paragraph in a hidden span": _html_only(
            f'<html><body><div>ลั<span style="display:none"><p>x</p></span>บที่สุด</div>{lines}</body></html>'),
        "HTML split by a paragraph a sheet colours transparent": _html_only(
            f"<html><head><style>div p{{color:rgba(0,0,0,0)}}</style></head><body><div>ลั<p>x</p>บที่สุด</div>"
            f"{lines}</body></html>"),
        **_session38_office_cases(),
    }


def _session38_office_cases() -> dict[str, bytes]:
    """A ลับที่สุด Excel prints in red at the top of the page (`&KFF0000`, read as
    "FF0000ลับที่สุด" until session 38; tests/secrecy/test_office_session38.py)."""
    from tests.secrecy.test_office_session38 import book, sheet

    return {"an XLSX page header in red": _plain(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")),
                                                        ("ตาราง.xlsx", book(sheet(head="&amp;C&amp;KFF0000ลับที่สุด")))])}


def _sheet_after_a_hundred_parts(level: str) -> bytes:
    """An XLSX of 101 sheets with `level` on sheet 101 only (not read until session 38:
    the sheets were cut at 100, the file read as ordinary and certain)."""
    from tests.secrecy.test_office_session38 import book, inline, sheet

    sheets = {f"xl/worksheets/sheet{n}.xml": sheet() for n in range(2, 101)}
    sheets["xl/worksheets/sheet101.xml"] = sheet(inline(level))
    return _plain(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")), ("ตาราง.xlsx", book(sheet(), sheets))])


def classified_cases() -> dict[str, tuple[str, bytes]]:
    """ลับ / ลับมาก marked where issue 12 found them stored in plaintext, with the
    level a person reading the letter would give it."""
    return {
        "X-Saraban-Secrecy only": ("confidential", _plain(headers={"X-Saraban-Secrecy": "ลับ"})),
        "ลับเรื่อง with no space": ("confidential", _plain(subject=f"ลับเรื่อง {SUBJECT}")),
        "ลับมาก in a raw 8-bit subject": ("secret", _replace_subject(_plain(), f"Subject: ลับมาก {SUBJECT}".encode())),
        "only in the HTML part": ("secret", _html_only(f"<div style='text-align:center'>ลับมาก</div><p>{BODY}</p>")),
        "only in an enclosure PDF": ("confidential", _plain(files=[
            ("2569_dds_0403_57.pdf", make_pdf("cover letter")),
            ("2569_dds_0403_57_1.pdf", thai_pdf("ลับ", "ลับ"))])),
        "1,000 nested multiparts": ("confidential", nested(1000)),
        # Session 17: in a PDF inside Outlook's winmail.dat; in a signed PDF (.p7m) zipped.
        "only in the PDF inside winmail.dat": ("secret", outlook_letter(
            tnef_file([("2569_dds_0403_57.pdf", thai_pdf("ลับมาก"))]), subject=SUBJECT, message_id=_mid())),
        "only in a signed PDF (.p7m) inside a ZIP": ("secret", _plain(files=[
            ("2569_dds_0403_57.pdf", make_pdf("cover letter")),
            ("ส่งมา.zip", zipped([("2569_dds_0403_57_1.pdf.p7m", _signed_data(thai_pdf("ลับมาก", "ลับมาก")))]))])),
        # Session 38: on sheet 101 of an XLSX.
        "only on sheet 101 of an XLSX": ("secret", _sheet_after_a_hundred_parts("ลับมาก")),
    }


def _signed_data(content: bytes) -> bytes:
    """CMS signed-data carrying `content` (a .p7m), signed by no one: only what it carries
    is read for the markings (its signature is the signature step's)."""
    from asn1crypto import cms

    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
        "version": "v1", "digest_algorithms": [], "encap_content_info": {"content_type": "data", "content": content},
        "signer_infos": []})}).dump()


ORDINARY = "ORDINARY-LETTER-7731"  # in the letters that are rightly kept in plaintext


def idiom_letter() -> bytes:
    """`ลับ ๆ ล่อ ๆ` (furtively) starting the body: not a marking."""
    return _plain(subject=SUBJECT.replace(MARKER, ORDINARY),
                  body=f"ลับ ๆ ล่อ ๆ อยู่หน้าสำนักงาน ขอให้ตรวจสอบ {ORDINARY}\n" + BODY.replace(MARKER, ORDINARY))
