"""Letters from the seeds, shaped the way real mail clients send them, in the three
charsets Thai mail uses: the gateway reads the same facts from every one."""
from __future__ import annotations

import base64
import datetime as dt
import quopri

import pytest

from gateway.pipeline.dry_run import check_message, dry_run_services
from tests.letters import make_pdf

# (ที่, วันที่, เรื่อง) as printed in the seed letters, and what a clerk writes down.
SEED_LETTERS = [
    ("กท ๐๔๐๓/ว ๒๗๖", "๒๒ ธันวาคม ๒๕๖๖", "แจ้งแนวทางการใช้งานระบบสารบรรณอิเล็กทรอนิกส์ของกรุงเทพมหานคร",
     "กท 0403/ว 276", dt.date(2023, 12, 22), "003"),
    ("กท ๐๔๐๓/ว ๓๒", "๔ มีนาคม ๒๕๖๗", "การติดตามความคืบหน้าการใช้งานระบบสารบรรณอิเล็กทรอนิกส์ของกรุงเทพมหานคร",
     "กท 0403/ว 32", dt.date(2024, 3, 4), "002"),
    ("กท.๐๔๐๗/ว.๕๗", "๑๓ มิถุนายน ๒๕๖๕", "การสมัครขอใช้งานโปรแกรมอีเล็กทรอนิกส์ของกรุงเทพมหานคร",
     "กท 0407/ว 57", dt.date(2022, 6, 13), "000"),
]
CHARSETS = ["utf-8", "tis-620", "windows-874"]
SHAPES = ["outlook", "thunderbird", "gmail", "apple_mail"]
COVER = "2567_BMA_0403_276.pdf"
ENCLOSURE = "2567_BMA_0403_276_1_ตารางแนบ.pdf"


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def text_part(body: str, charset: str, subtype: str = "plain") -> str:
    qp = quopri.encodestring(body.encode(charset).replace(b"\n", b"\r\n")).decode()
    return (f"Content-Type: text/{subtype}; charset=\"{charset}\"\r\n"
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{qp}\r\n")


def pdf_part(name: str, data: bytes, charset: str, shape: str) -> str:
    if shape == "outlook":  # RFC 2047 words inside quoted parameters
        head = (f'Content-Type: application/pdf; name="{word(name, charset)}"\r\n'
                f'Content-Disposition: attachment; filename="{word(name, charset)}"\r\n')
    elif shape == "thunderbird":  # RFC 2231 with continuations
        pct = "".join(f"%{b:02X}" for b in name.encode(charset))
        half = (len(pct) // 6) * 3  # every byte is %XX: split between two escapes
        head = ("Content-Type: application/pdf\r\n"
                f"Content-Disposition: attachment;\r\n filename*0*={charset}''{pct[:half]};\r\n"
                f" filename*1*={pct[half:]}\r\n")
    elif shape == "gmail":  # declared octet-stream, RFC 2047 name
        head = (f'Content-Type: application/octet-stream; name="{word(name, charset)}"\r\n'
                f'Content-Disposition: attachment; filename="{word(name, charset)}"\r\n')
    else:  # Apple Mail: the PDF inline between two text parts
        head = (f"Content-Type: application/pdf; x-unix-mode=0644; name=\"{word(name, charset)}\"\r\n"
                "Content-Disposition: inline\r\n")
    return head + f"Content-Transfer-Encoding: base64\r\n\r\n{b64(data)}\r\n"


def build(shape: str, charset: str, seed: tuple) -> bytes:
    reference, date, subject = seed[:3]
    body = f"ด่วนที่สุด\nที่ {reference}\nวันที่ {date}\nเรื่อง {subject}\nเรียน ผู้อำนวยการเขตลาดกระบัง\n" \
           f"สิ่งที่ส่งมาด้วย ตารางแนบ จำนวน ๑ ฉบับ\n"
    html = "<html><body>" + body.replace("\n", "<br>\n") + "</body></html>"
    cover = make_pdf("cover letter")
    enclosure = make_pdf("enclosure")
    alt = ("Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
           f"--alt\r\n{text_part(body, charset)}--alt\r\n{text_part(html, charset, 'html')}--alt--\r\n")
    if shape == "apple_mail":
        parts = [text_part(body, charset), pdf_part(COVER, cover, charset, shape),
                 pdf_part(ENCLOSURE, enclosure, charset, shape), text_part("\n", charset)]
    elif shape == "thunderbird":
        parts = [text_part(body, charset), pdf_part(COVER, cover, charset, shape),
                 pdf_part(ENCLOSURE, enclosure, charset, shape)]
    else:
        parts = [alt, pdf_part(COVER, cover, charset, shape), pdf_part(ENCLOSURE, enclosure, charset, shape)]
    mixed = "".join(f"--mix\r\n{p}" for p in parts) + "--mix--\r\n"
    return ("From: =?utf-8?B?" + base64.b64encode("สำนักงานเลขานุการปลัดกรุงเทพมหานคร".encode()).decode()
            + "?= <saraban.ops.sec@bangkok.go.th>\r\n"
            "To: saraban.latkrabang@bangkok.go.th\r\n"
            f"Subject: {word('ด่วนที่สุด ' + subject, charset)}\r\n"
            "Message-ID: <shape@ops.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n" + mixed).encode("ascii")


@pytest.fixture(scope="module")
def services():
    """One set of the pipeline's services (PDF reader pool, signature checker) for all."""
    with dry_run_services(None) as built:
        yield built


@pytest.mark.parametrize("seed", SEED_LETTERS, ids=[s[5] for s in SEED_LETTERS])
@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_client_shape_reads_the_same(services, shape, charset, seed):
    report = check_message(build(shape, charset, seed), services)
    facts = report["facts"]
    assert report["subject"] == "ด่วนที่สุด " + seed[2]
    assert facts["reference"] == seed[3]
    assert facts["letter_date"] == seed[4].isoformat()
    assert facts["urgency"] == "most_urgent"
    assert facts["secrecy"] == "none"
    assert facts["kind"] == "circular"
    names = [a["filename"] for a in report["attachments"]]
    assert names == [COVER, ENCLOSURE]
    assert all(a["content_type"] == "application/pdf" for a in report["attachments"])
    assert report["decision"] == "accept", report["findings"]
    assert {f["rule"] for f in report["findings"] if f["verdict"] == "fail"} == set()
