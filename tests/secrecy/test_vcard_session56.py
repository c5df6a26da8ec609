"""A contact card (vCard, `.vcf`) and a vCalendar 1.0 invitation (`.vcs`) are read as
their programs show them (secrecy red team of session 56).

* A vCard was read as its source: `FN:ลับที่สุด`, `NOTE:ลับมาก` or `TITLE:...` glued the
  property's name to the marking, and Outlook's contact form or Thunderbird's card
  shows the value alone ("ลับที่สุด" as the contact's name, a note "ลับมาก"). A ลับที่สุด
  card was taken with a 250 and filed in plaintext; a ลับมาก one registered ordinary.
* vCard 2.1 (what Outlook's "Save as vCard" and phones export) and vCalendar 1.0 (Outlook's
  "Save as vCalendar") write Thai values quoted-printable,
  `SUMMARY;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=E0=B8=A5=E0=B8=B1...`: read as its
  `=E0=B8` codes, a ลับมาก invitation so saved was ordinary.
* An invitation's categories (Outlook's coloured categories, Thunderbird's Category
  field) were not read either."""
from __future__ import annotations

import io
import quopri
import zipfile

import pytest

from gateway.pipeline import file_texts
from gateway.secrecy.markings import classify_raw
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
COVER = ("2569_dds_0403_57.pdf", make_pdf("cover letter"))
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\nขอส่งรายชื่อผู้ประสานงานตามไฟล์แนบ\n"


def _qp(text: str, codec: str = "utf-8") -> str:
    # vCard 2.1's quoted-printable: every byte of Thai as =XX, long values cut by soft breaks.
    return quopri.encodestring(text.encode(codec)).decode("ascii").replace("\n", "\r\n")


def card(lines: list[str], version: str = "3.0") -> bytes:
    return ("\r\n".join(["BEGIN:VCARD", f"VERSION:{version}", *lines, "END:VCARD"]) + "\r\n").encode("utf-8")


def _zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(name, data)
    return out.getvalue()


def _reading(name: str, data: bytes) -> tuple[str, str, bool]:
    found = classify_raw(letter(subject="ขอส่งรายชื่อผู้ประสานงาน", body=BODY, files=[COVER, (name, data)]))
    return found.level, found.where, found.certain


ORDINARY = ["N:ใจดี;สมชาย;;นาย;", "FN:นายสมชาย ใจดี", "ORG:สำนักงานเขตลาดกระบัง;ฝ่ายปกครอง",
            "TITLE:หัวหน้าฝ่ายปกครอง", "TEL;TYPE=WORK:02-326-9000", "EMAIL:saraban.latkrabang@bangkok.go.th",
            "ADR;TYPE=WORK:;;ถนนลาดกระบัง;ลาดกระบัง;กรุงเทพมหานคร;10520;ประเทศไทย",
            "NOTE:ติดต่อในเวลาราชการ\\, กลับบ้าน ๑๖.๓๐ น."]


@pytest.mark.parametrize(("line", "word", "level"), [
    ("FN:ลับที่สุด", "ลับที่สุด", "top_secret"),
    ("NOTE:ลับมาก", "ลับมาก", "secret"),
    ("TITLE:ลับมาก", "ลับมาก", "secret"),
    ("ORG:ลับที่สุด;ฝ่ายปกครอง", "ลับที่สุด", "top_secret"),
    ("N:ลับมาก;;;;", "ลับมาก", "secret"),
    ("CATEGORIES:งาน,ลับมาก", "ลับมาก", "secret"),
    ("item1.X-ABLabel:ลับมาก", "ลับมาก", "secret"),  # Apple's grouped property
    ("NOTE;LANGUAGE=th:ชั้นความลับ: ลับมาก", "ลับมาก", "secret"),
])
@pytest.mark.parametrize("wrap", ["attached", "zipped"])
def test_a_marking_a_contact_card_shows_is_read(line, word, level, wrap):
    data = card([*ORDINARY[:2], line, *ORDINARY[2:]])
    name, data = ("contact.vcf", data) if wrap == "attached" else ("2569_dds_0403_57_1.zip", _zipped("c.vcf", data))
    assert _reading(name, data) == (level, "file 2", True)


@pytest.mark.parametrize("codec", ["utf-8", "cp874"])
def test_a_vcard_21_value_in_quoted_printable_is_decoded(codec):
    label = "UTF-8" if codec == "utf-8" else "TIS-620"
    long_note = "ชั้นความลับ " + "ข้อมูลติดต่อผู้ประสานงาน " * 3
    lines = [f"FN;CHARSET={label};ENCODING=QUOTED-PRINTABLE:{_qp('นายสมชาย ใจดี', codec)}",
             f"NOTE;CHARSET={label};QUOTED-PRINTABLE:{_qp(long_note, codec)}",  # soft line breaks
             f"TITLE;CHARSET={label};ENCODING=QUOTED-PRINTABLE:{_qp('ลับมาก', codec)}"]
    assert "=\r\n" in lines[1]
    data = card(lines, "2.1")
    assert _reading("somchai.vcf", data) == ("secret", "file 2", True)
    shown = file_texts.vcard_text(data.decode())
    assert "นายสมชาย ใจดี" in shown.splitlines() and long_note in shown.splitlines()


def test_a_quoted_printable_soft_break_also_folded_is_joined():
    # "=" CRLF, and the next line begins with a space as RFC 2425 folds: both are breaks.
    encoded = _qp("ลับมาก")
    folded = encoded[:12] + "=\r\n " + encoded[12:]  # between two codes, as encoders break
    data = card([f"TITLE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{folded}"], "2.1")
    assert "ลับมาก" in file_texts.vcard_text(data.decode()).splitlines()
    assert _reading("somchai.vcf", data) == ("secret", "file 2", True)


def test_a_card_typed_text_vcard_without_a_name_is_read_by_its_type():
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: contact\r\n"
           b"Message-ID: <vcard@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + BODY.encode() + b"\r\n--BB\r\nContent-Type: text/x-vcard; charset=utf-8\r\n\r\n"
           + card(["FN:ลับมาก"]) + b"\r\n--BB--\r\n")
    found = classify_raw(raw)
    assert (found.level, found.certain) == ("secret", True)


def test_an_ordinary_card_stays_ordinary_and_its_picture_is_not_read():
    assert _reading("somchai.vcf", card(ORDINARY)) == ("none", "", True)
    assert _reading("somchai.vcf", card(ORDINARY, "2.1")) == ("none", "", True)
    # A base64 picture's letters are no text a person reads.
    photo = card([*ORDINARY, "PHOTO;ENCODING=b;TYPE=JPEG:4Lil4Lix4Lia4Lih4Liy4LiB"])
    assert _reading("somchai.vcf", photo) == ("none", "", True)
    # ลับ inside a word, as everywhere: a place named ลับแล, a note about keeping secrets.
    words = card([*ORDINARY, "ADR:;;;ลับแล;อุตรดิตถ์;;", "NOTE:ไม่เปิดเผยความลับของทางราชการ"])
    assert _reading("somchai.vcf", words) == ("none", "", True)


def _calendar(lines: list[str], version: str = "2.0") -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", f"VERSION:{version}", "BEGIN:VEVENT", "DTSTART:20261210T090000",
                         *lines, "END:VEVENT", "END:VCALENDAR"]) + "\r\n").encode("utf-8")


def test_a_vcalendar_10_title_in_quoted_printable_is_decoded():
    data = _calendar([f"SUMMARY;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{_qp('ลับมาก ประชุมแผนรักษาความปลอดภัย')}",
                      f"LOCATION;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:{_qp('ห้องประชุม ๑')}"], "1.0")
    assert _reading("meeting.vcs", data) == ("secret", "file 2", True)
    ordinary = _calendar([f"SUMMARY;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{_qp('ประชุมประจำเดือน')}"], "1.0")
    assert _reading("meeting.vcs", ordinary) == ("none", "", True)


def test_an_invitations_categories_are_read():
    assert _reading("invite.ics", _calendar(["SUMMARY:ประชุม", "CATEGORIES:งานสารบรรณ,ลับที่สุด"]))[0] == "top_secret"
    assert _reading("invite.ics", _calendar(["SUMMARY:ประชุม", "CATEGORIES:งานสารบรรณ"]))[0] == "none"


def test_over_smtp_a_top_secret_card_is_refused_and_a_secret_one_sealed(tmp_path):
    """A contact card is no enclosure the rules take (allowed_types): a letter with one
    is held for the clerk. Held as what it is: sealed when its card is marked, the
    reason then kept for the secret registrar; in plain, as before, when it is not."""
    from tests.classified.helpers import MARKER, assert_held_sealed, db_rows, sealing_daemon

    held = "select subject, reasons from quarantine where queue_id = ?"
    with sealing_daemon(tmp_path / "gw") as d:
        top = letter(subject="ขอส่งรายชื่อผู้ประสานงาน", body=BODY,
                     files=[COVER, ("contact.vcf", card(["FN:นายสมชาย ใจดี", "NOTE:ลับที่สุด"]))])
        code, text = d.data_reply(top, LAT)
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)

        secret = letter(subject=f"ขอส่งรายชื่อผู้ประสานงาน {MARKER}", body=f"{BODY}{MARKER}\n",
                        files=[COVER, ("contact.vcf", card(["FN:นายสมชาย ใจดี", "TITLE:ลับมาก", f"NOTE:{MARKER}"]))])
        qid = d.send(secret, LAT)
        assert_held_sealed(d, qid)

        # The honest near-miss: a business card with the sender's own details, held in
        # plain for its file type as before, its subject and reason readable by the clerk.
        ordinary = letter(subject="ขอส่งรายชื่อผู้ประสานงาน", body=BODY, files=[COVER, ("contact.vcf", card(ORDINARY))])
        qid = d.send(ordinary, LAT)
        d.wait_idle()
        [(subject, reasons)] = db_rows(d, held, qid)
        assert subject == "ขอส่งรายชื่อผู้ประสานงาน" and "contact.vcf" in reasons, reasons
        assert not (d.data_dir / "secret" / qid).exists()
