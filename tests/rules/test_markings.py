"""Urgency and classification: markings stand alone; ลับ inside a word is not one."""
import pytest

from rules.markings import classify_secrecy_text, secrecy_in_letter, secrecy_in_subject, urgency_in_letter, urgency_in_subject


@pytest.mark.parametrize("subject, secrecy", [
    ("ลับ ขอส่งรายงานการสอบสวน", "confidential"),
    ("ลับมาก ที่ กท 0403/ว 276", "secret"),
    ("ลับที่สุด เรื่อง แผนป้องกันภัย", "top_secret"),
    ("[ลับที่สุด] แผนป้องกันภัย", "top_secret"),
    ("(ลับมาก) รายงาน", "secret"),
    ("ด่วนที่สุด ลับ ที่ กท 0403/ว 276", "confidential"),
    ("=?UTF-8?B?4Lil4Lix4Lia4LiX4Li14LmI4Liq4Li44LiUIOC5geC4nOC4mQ==?=", "top_secret"),  # RFC 2047 "ลับที่สุด แผน"
    # ลับ inside other words, or quoted in running text: not a marking
    ("การรักษาความลับของทางราชการ", "none"),
    ("ขอเชิญประชุมที่สำนักงานเขตลับแล", "none"),
    ("ขอส่งคืนหนังสือกลับ", "none"),
    ("สลับวันประชุม", "none"),
    ("ข้อมูลข่าวสารลับชั้นลับที่สุด", "none"),        # seed 004
    ("ข้อมูลข่าวสารลับ “ชั้นลับที่สุด”", "none"),     # seed 003
    ("ชั้น “ลับ” และ “ลับมาก”", "none"),              # seed 002
    ("แจ้งแนวทางการใช้งานระบบสารบรรณอิเล็กทรอนิกส์", "none"),
    ("", "none"),
])
def test_classify_secrecy_text(subject, secrecy):
    assert classify_secrecy_text(subject) == secrecy


@pytest.mark.parametrize("subject, urgency", [
    ("ด่วน ขอเชิญประชุม", "urgent"),
    ("ด่วนมาก ขอเชิญประชุม", "very_urgent"),
    ("ด่วนที่สุด ที่ กท ๐๔๐๓/ว ๒๗๖", "most_urgent"),
    ("[ด่วนที่สุด] แจ้งแนวทาง", "most_urgent"),
    ("แจ้งเรื่องด่วนของฝ่าย", "none_marked"),
])
def test_urgency_in_subject(subject, urgency):
    assert urgency_in_subject(subject) == ("normal" if urgency == "none_marked" else urgency)


@pytest.mark.parametrize("head, urgency, secrecy", [
    ("ด่วนที่สุด\nบันทึกข้อความ", "most_urgent", "none"),           # seed 003
    ("ด่วนที่สุด บันทึกข้อความ\nฝ่ายการศึกษา", "most_urgent", "none"),  # seed 000
    ("ลับ\nด่วนมาก\nบันทึกข้อความ", "very_urgent", "confidential"),
    ("ลับมาก ด่วน\nบันทึกข้อความ", "urgent", "secret"),
    ("บันทึกข้อความ\n(ลับ)", "normal", "confidential"),
    ("ขอเรียนว่าเป็นเรื่องด่วนที่สุด และเป็นความลับ", "normal", "none"),  # prose
    ("ส่วนราชการ สำนักงานเขตลับแล", "normal", "none"),
    # Word's Windows Thai fonts: tone marks as Private Use Area glyphs in the text layer
    ("ลับที\uf70aสุด\nด\uf70aวนที\uf70aสุด\nบันทึกข้อความ", "most_urgent", "top_secret"),
    # right-aligned beside the sender's block: extraction keeps one space of the gap
    ("สำนักงานเขตบางรัก ด่วนที่สุด\nที่ กท ๐๔๐๓/ว ๒๗๖", "most_urgent", "none"),
    ("สำนักงานเขตบางรัก      ลับมาก\nที่ กท ๐๔๐๓/ว ๒๗๖", "normal", "secret"),
    ("ที่ กท ๐๔๐๓/ว ๒๗๖ ลับ ด่วน\nเรื่อง ขอเชิญประชุม", "urgent", "confidential"),
    # ending a line glued to a word, quoted, or doubled: not a marking
    ("เรื่อง การรักษาความลับ\nเรียน ผู้อำนวยการ", "normal", "none"),
    ("เรื่อง ขอส่งคืนหนังสือกลับ", "normal", "none"),
    ("เรื่อง การจัดชั้น “ลับ”", "normal", "none"),
    ("เขาเดิน ลับ ๆ", "normal", "none"),
])
def test_markings_in_letter_head(head, urgency, secrecy):
    assert urgency_in_letter(head) == urgency
    assert secrecy_in_letter(head) == secrecy


# --- issue 12: markings that cannot be dodged -------------------------------------

import base64  # noqa: E402

from rules.markings import (  # noqa: E402
    SECRECY_HEADERS, classification_of_headers, decode_header_text, normalise_thai, read_classification,
    secrecy_in_label,
)
from rules.model import Attachment, ParsedMail  # noqa: E402


@pytest.mark.parametrize("subject, secrecy", [
    ("ลับ\u200bที่สุด แผน", "top_secret"),       # zero-width space inside
    ("ลับ\u2060ที่\ufeffสุด แผน", "top_secret"),  # word joiner, BOM
    ("ลับ ที่สุด แผน", "top_secret"),             # a typist's space
    ("ลับท\u0e48\u0e35สุด แผน", "top_secret"),    # tone mark typed before the vowel
    ("ลับ มาก รายงาน", "secret"),
    ("ลับเรื่อง แผนป้องกัน", "confidential"),      # no space after the marking
    ("[TOP SECRET] plan", "top_secret"),
    ("ลับ ๆ ล่อ ๆ อยู่หน้าบ้าน", "none"),          # the idiom "furtively"
    ("ลับๆ ล่อๆ", "none"),
    ("ลับแล", "none"), ("ลับมีดให้คม", "none"), ("Secret Santa party", "none"),
])
def test_normalised_subject_markings(subject, secrecy):
    assert classify_secrecy_text(subject) == secrecy


def test_normalise_thai_reorders_and_removes_invisible_characters():
    assert normalise_thai("ลับท\u0e48\u0e35สุด") == "ลับที่สุด"
    assert normalise_thai("ล\u200bับ\u00adมาก") == "ลับมาก"


def test_a_subject_reads_the_same_however_often_and_in_whatever_order_it_is_read():
    """Short texts' normal forms are kept (the subject is read three or four times a
    letter); each reading must still be the text's own, long or short, first or later."""
    from rules import markings

    long_subject = "ลับมาก " + "ก" * 5000 + " ด่วนที่สุด"
    subjects = ["ลับท\u0e48\u0e35สุด เรื่องงบประมาณ", "ลับ เรื่องงบประมาณ", "ลับแล", "ด\u0e48วนมาก ขอเชิญประชุม",
                "ด่วนมาก ขอเชิญประชุม", long_subject, "Secret Santa party", "ล\u200bับ\u00adมาก"]
    fresh = {}
    for subject in subjects:
        markings._normalised_kept.cache_clear()  # noqa: SLF001
        fresh[subject] = (normalise_thai(subject), secrecy_in_subject(subject), urgency_in_subject(subject))
    for _round in range(3):
        for subject in subjects + subjects[::-1]:
            assert (normalise_thai(subject), secrecy_in_subject(subject), urgency_in_subject(subject)) == fresh[subject]
    assert fresh[long_subject][1:] == ("secret", "most_urgent")
    markings._normalised_kept.cache_clear()  # noqa: SLF001
    normalise_thai(long_subject)
    assert markings._normalised_kept.cache_info().currsize == 0  # noqa: SLF001 - not held
    assert fresh[subjects[0]][1] == "top_secret" and fresh[subjects[3]][2] == "very_urgent"


@pytest.mark.parametrize("value, text", [
    ("=?utf-8*th?B?" + base64.b64encode("ลับที่สุด".encode()).decode() + "?=", "ลับที่สุด"),
    ("=?UTF-8?Q?=E0=B8=A5=E0=B8=B1=E0=B8=9A?= =?UTF-8?Q?=E0=B8=A1=E0=B8=B2=E0=B8=81?=", "ลับมาก"),
    ("ลับ".encode().decode("utf-8", "surrogateescape").encode("utf-8").decode("ascii", "surrogateescape"), "ลับ"),
    ("=?x-unknown?B?" + base64.b64encode("ลับ".encode()).decode() + "?=", "ลับ"),
])
def test_decode_header_text_reads_what_clients_send(value, text):
    assert decode_header_text(value) == text


@pytest.mark.parametrize("value, secrecy", [
    ("top-secret", "top_secret"), ("TOP SECRET", "top_secret"), ("004", "top_secret"), ("4", "top_secret"),
    ("003", "secret"), ("002", "confidential"), ("001", "none"), ("Company-Confidential", "confidential"),
    ("Private", "none"), ("Personal", "none"), ("ชั้นลับที่สุด", "top_secret"), ("LAB THI SUT", "top_secret"),
    ("unclassified", "none"), ("VER=2018.1, NS=gov.au, SEC=SECRET", "secret"),
    ("MSIP_Label_1_Enabled=true; MSIP_Label_1_Name=Confidential; MSIP_Label_1_ContentBits=2", "confidential"),
    ("ＴＯＰ ＳＥＣＲＥＴ", "top_secret"),
])
def test_secrecy_in_label(value, secrecy):
    assert secrecy_in_label(value) == secrecy


def test_every_listed_header_is_read_and_every_occurrence_counts():
    for name in SECRECY_HEADERS:
        value = "ลับที่สุด แผน" if name in ("Subject", "Keywords") else "top-secret"
        found = classification_of_headers([(name, value)])
        assert (found.level, found.where) == ("top_secret", f"header {name}"), name
    two = classification_of_headers([("X-Secrecy", "none"), ("X-Secrecy", "ลับมาก")])
    assert two.level == "secret"


def _mail(body="", html="", attachments=(), truncated=False) -> ParsedMail:
    return ParsedMail("เรื่อง", "a@b", None, "a@b", None, None, (), body, html, tuple(attachments), truncated=truncated)


def _att(index=0, pages=(), encrypted=False, n_pages=1, error=None) -> Attachment:
    return Attachment(index, "a.pdf", "application/pdf", "attachment", b"%PDF", "application/pdf", "0" * 64,
                      pdf_encrypted=encrypted, pdf_pages=n_pages, pdf_error=error, pdf_page_texts=tuple(pages))


def test_read_classification_reads_body_bottom_html_and_each_page():
    prose = "\n".join(f"ข้อความบรรทัดที่ {n}" for n in range(40))
    assert read_classification(_mail(body=prose + "\nลับมาก")).level == "secret"
    assert read_classification(_mail(body=prose[:200] + "\nลับ ขอส่ง\n" + prose)).level == "none"  # mid-letter prose
    assert read_classification(_mail(html="<center>&#3621;&#3633;&#3610;</center><p>x</p>")).level == "confidential"
    found = read_classification(_mail(attachments=[_att(1, pages=["หน้า 1", "หน้า 2\nลับที่สุด"])]))
    assert (found.level, found.where, found.certain) == ("top_secret", "file 2 page 2", True)


def _named(filename: str) -> Attachment:
    return Attachment(0, filename, "application/pdf", "attachment", b"%PDF", "application/pdf", "0" * 64, pdf_pages=1)


def test_a_marking_in_a_file_name_counts_but_a_word_containing_it_does_not():
    found = read_classification(_mail(attachments=[_named("ลับมาก_2569_dds_0403_1.pdf")]))
    assert (found.level, found.where) == ("secret", "file 1 name")
    assert read_classification(_mail(attachments=[_named("2569_ลับที่สุด.pdf")])).level == "top_secret"
    for word in ("สลับหน้า_2569.pdf", "กลับบ้าน.pdf", "ความลับทางราชการ_คู่มือ.pdf"):
        assert read_classification(_mail(attachments=[_named(word)])).level == "none", word


def test_what_cannot_be_read_is_at_least_confidential():
    for mail in (_mail(truncated=True), _mail(attachments=[_att(encrypted=True, n_pages=None)]),
                 _mail(attachments=[_att(error="the PDF could not be read within 20 s")])):
        found = read_classification(mail)
        assert (found.level, found.certain) == ("confidential", False)
    assert read_classification(_mail(attachments=[_att(error="PdfReadError: EOF marker not found")])).level == "none"


def test_a_list_of_the_levels_mid_letter_is_a_mention_not_a_marking():
    prose = "\n".join(f"ข้อ {n} ข้อความของหนังสือเวียน" for n in range(20))
    listing = "ชั้นความลับมี 3 ชั้น ได้แก่\nลับที่สุด\nลับมาก\nลับ\n"
    assert secrecy_in_letter(prose + "\n" + listing + prose) == "none"
    assert secrecy_in_letter(prose + "\nลับที่สุด\n" + prose) == "top_secret"  # one alone still is


def test_a_marking_ending_a_line_counts_only_in_the_head_and_the_foot():
    prose = [f"บรรทัดที่ {n} ของเนื้อความ" for n in range(1, 25)]
    mid = prose[:12] + ["ตามที่ได้แจ้งไว้ในหนังสือ ลับ"] + prose[12:]
    assert secrecy_in_letter("\n".join(mid)) == "none"  # running prose mid-page
    assert secrecy_in_letter("\n".join(prose + ["จึงเรียนมาเพื่อโปรดพิจารณา ลับที่สุด"])) == "top_secret"


# Text layers as producers damaged them (a helper's study of 13,925 PDFs, docs/secrecy.md
# "Where in the letter"), each read exactly as pypdf or PDFium returned it.
_DAMAGED_HEADS = [
    # LibreOffice and fpdf2 with Noto Looped Thai: marks placed by moving back read with a gap.
    ("สำ \x03นั กง\x03นเขตบ\x03งรั ก\nกรุ งเทพฯ\nลั บมาก\nคำ าสั ่ง", "secret", "normal"),
    ("สำนั กงานเขตบางรั ก\nกรุ งเทพฯ\nลั บมาก\nคำสั่", "secret", "normal"),
    ("กรุ งเทพฯ\nลั บที ่ สุ ด\nคำสั่ง", "top_secret", "normal"),
    ("กรุ งเทพฯ\nด่ วนมาก\nคำสั่ง", "none", "very_urgent"),
    # Chromium (Skia) with Sarabun or Noto Sans Thai: the ่ drawn over ี has no Unicode.
    ("สํานักงานเขตบางรัก ฝ\x00ายปกครอง\nกรุงเทพฯ\nลับที\x00สุด\nคําสั\x00งสํานักงาน", "top_secret", "normal"),
    ("สํานักงานเขตบางรัก ฝ\x00ายปกครอง\nกรุงเทพฯ\nด่วนที\x00สุด\nคําสั\x00ง", "none", "most_urgent"),
    # poppler's writer (pdftocairo -pdf) of a LibreOffice letter: า read as U+FFFD.
    ("ลับม\ufffdก\n- ๒ -\nทั\ufffdงนี\ufffd ฝ่ \ufffdยโยธ\ufffdจะดำ\ufffdเนินก\ufffdร", "secret", "normal"),
    ("สำนักงานเขตบางรัก\nลับที\ufffdสุด\nเรื่อง ขอเชิญประชุม", "top_secret", "normal"),
    # poppler's writer of a Noto Looped letter: both kinds at once, and more unknown
    # glyphs in the line than are guessed at, outside the marking.
    ("สำ\ufffdนั กง\ufffdนเขตบ\ufffdงรั ก ฝ่ \ufffdยปกครอง ลั บที \ufffdสุ ด\nเรื่อง", "top_secret", "normal"),
    # A font's own map to a Private Use Area code (not one of Windows fonts' Thai marks).
    ("กรุงเทพฯ\nลับที\ue000สุด\nคำสั่ง", "top_secret", "normal"),
    ("กรุงเทพฯ\nด่วนม\uf8ffก\nคำสั่ง", "none", "very_urgent"),
    # At the end of a head line, with its gap.
    ("สำนั กงานเขตบางรั ก ลั บมาก\nเรื่อง ขอเชิญประชุม", "secret", "normal"),
]


@pytest.mark.parametrize("head, secrecy, urgency", _DAMAGED_HEADS)
def test_a_marking_a_producer_damaged_in_the_text_layer_is_read(head, secrecy, urgency):
    assert (secrecy_in_letter(head), urgency_in_letter(head)) == (secrecy, urgency)


@pytest.mark.parametrize("head", [
    "เรื่อง ขอเชิญประชุม\nลบ\nลาบ\nลูบ",  # words with ล...บ, no damage: not guessed at
    "ความล\x00บ\nกล\x00บ\nสล\x00บ",  # glued to the word before: ความลับ, กลับ, สลับ
    "ด้วน\nกลั บบ้าน",  # a real word; a gap closed makes กลับ, still a word
    "ล\x00\x00\x00\x00บ",  # a line of garbage is not guessed at
    "เรื่อง ขอเชิญประชุม ที่ ลบ\x00",
])
def test_undoing_a_producers_damage_finds_no_marking_that_was_not_printed(head):
    assert (secrecy_in_letter(head), urgency_in_letter(head)) == ("none", "normal")


def test_a_text_of_thousands_of_damaged_lines_is_not_guessed_at_line_by_line(monkeypatch):
    """Guessing reads a line up to 6**3 times (~10 ms): a hostile body of 5,000 damaged
    lines would have held the DATA check, then a pipeline runner, for minutes. Only a
    bounded number of lines is guessed at; the marking on the first is still read."""
    import rules.markings as markings

    calls = []
    normalise = markings._thai_order
    monkeypatch.setattr(markings, "_thai_order", lambda text: calls.append(1) or normalise(text))
    body = "\n".join(["ล\x00\x00บ\x00 เรื่อง"] * 5000)
    assert secrecy_in_letter(body) == "confidential"
    # Each line at most twice (as read, its gaps closed), 20 lines guessed at.
    assert len(calls) <= 2 * 5000 + markings._MAX_GUESSED_LINES * 6 ** 3


def test_only_the_lines_that_may_hold_a_marking_are_normalised(monkeypatch):
    """A page of Thai prose with a marking at its head: the marking's line is read
    (normalised), the prose is not normalised at all (it cannot read as a marking), and
    the prose's lines still count as lines: a marking at the foot is found as the foot."""
    import rules.markings as markings

    normalised = []
    normalise = markings._thai_order
    monkeypatch.setattr(markings, "_thai_order", lambda text: normalised.append(text) or normalise(text))
    prose = ["กรุงเทพมหานครขอเชิญประชุมคณะกรรมการพิจารณางบประมาณประจำปี ครั้งที่ %d" % i for i in range(200)]
    assert secrecy_in_letter("\n".join(["ลับมาก"] + prose)) == "secret"
    assert normalised == ["ลับมาก"]
    normalised.clear()
    # Mid-page the same line would be a list of levels' item; at the foot it is a marking.
    assert secrecy_in_letter("\n".join(prose + ["ลับมาก"])) == "secret"
    assert secrecy_in_letter("\n".join(prose[:20] + ["ลับ เรื่อง", "ด่วน"] + prose[20:])) == "none"


def test_a_stray_mark_before_a_marking_does_not_hide_it():
    """A viewer draws a stray tone mark at the start of a line on a dotted circle, and
    the marking after it as printed."""
    assert secrecy_in_letter("\u0e48ลับมาก\nเรื่อง ขอความอนุเคราะห์") == "secret"
    # Not only on a text's first line (before, normalising the whole text left it there).
    assert secrecy_in_letter("บันทึกข้อความ\n\u0e48ลับมาก\nเรื่อง ขอความอนุเคราะห์") == "secret"


@pytest.mark.parametrize("hidden", ["\u034f", "\ufe00", "\ufe0f", "\u115f", "\u3164", "\U000e0041", "\u180b"])
def test_a_character_drawn_as_nothing_does_not_hide_a_marking(hidden):
    """Default-ignorable characters outside category Cf (a combining grapheme joiner, a
    variation selector, a Hangul filler, a tag) are drawn as nothing: the reader sees
    ลับที่สุด."""
    marked = f"ล{hidden}ับที่สุด"
    assert secrecy_in_subject(f"{marked} แผนการ") == "top_secret"
    assert secrecy_in_letter(f"{marked}\nเรื่อง ขอความอนุเคราะห์") == "top_secret"


@pytest.mark.parametrize("space", ["\u2009", "\u2003", "\u3000", "\u202f", "\u2002", "\u200a", "\u1680"])
def test_any_kind_of_space_between_syllables_is_one_marking(space):
    """A thin, em or ideographic space between ลับ and ที่สุด is a space to a reader:
    ลับที่สุด, not ลับ followed by a word (which read as ลับ: sealed where it must be
    refused)."""
    assert secrecy_in_subject(f"ลับ{space}ที่สุด แผนการ") == "top_secret"
    assert secrecy_in_letter(f"ลับ{space}ที่สุด\nเรื่อง ขอความอนุเคราะห์") == "top_secret"
    assert secrecy_in_letter(f"บันทึกข้อความ\nลับ{space}มาก\nเรื่อง") == "secret"


@pytest.mark.parametrize("line", ["ลับที่สุด.", "ลับที่สุด:", "{ลับที่สุด}", "［ลับที่สุด］", "「ลับที่สุด」",
                                  "•ลับที่สุด", "#ลับที่สุด", "=ลับที่สุด=", "“ลับที่สุด”", "(ชั้นลับที่สุด)",
                                  "『ลับที่สุด』", "~ ลับที่สุด ~", "ชั้นความลับ: ลับที่สุด"])
def test_a_line_of_a_marking_alone_counts_whatever_decorates_it(line):
    """At the head of a letter, and mid-page too (a line of nothing but a marking)."""
    assert secrecy_in_letter(f"บันทึกข้อความ\n{line}\nเรื่อง ขอความอนุเคราะห์") == "top_secret"
    prose = ["ข้อความในหนังสือราชการบรรทัดหนึ่ง"] * 12
    assert secrecy_in_letter("\n".join(prose + [line] + prose)) == "top_secret"


@pytest.mark.parametrize("line", ["ความลับ", "ชั้นความลับ", "กลับบ้าน", "ลับ ๆ ล่อ ๆ", "ลับแล", "ชั้น “ลับ” ของหนังสือ"])
def test_words_and_mentions_stay_what_they_are_alone_on_a_line(line):
    prose = ["ข้อความในหนังสือราชการบรรทัดหนึ่ง"] * 12
    assert secrecy_in_letter("\n".join(prose + [line] + prose)) == "none"


@pytest.mark.parametrize("markup, level", [
    ("<div>ลับม<span>าก</span></div><p>เรื่อง ขอความอนุเคราะห์</p>", "secret"),
    ("ลับมา<!-- a comment -->ก<br>เรื่อง ขอความอนุเคราะห์", "secret"),
    ("<p>ลับ\nที่สุด</p><p>เรื่อง ขอความอนุเคราะห์</p>", "top_secret"),
    ("<b>ลับ</b>ที่สุด<br>เรื่อง", "top_secret"),
    ("<p>ลับ<font color=red>ที่</font>สุด</p>", "top_secret"),
    ("<pre>ลับ\nที่สุด</pre>", "confidential"),  # <pre> keeps its lines: ลับ, then a word
    ("<script>var s = 'ลับที่สุด'</script><p>เรื่อง</p>", "none"),
])
def test_html_reads_as_a_browser_lays_it_out(markup, level):
    """An inline tag or a comment inside a marking is nothing (a browser shows ลับมาก), a
    line break in the source is a space; block elements start lines."""
    assert read_classification(_mail(html=markup)).level == level


def test_encoded_words_split_inside_a_thai_character_read_whole():
    """Clients split a long Thai header into RFC 2047 words in the middle of a
    character's UTF-8 bytes; a mail client shows it whole, and so does the reading
    (Keywords and the labels are read from the raw header, not mail-parser's subject)."""
    import base64

    data = "ลับที่สุด แผนงาน".encode()
    value = " ".join(f"=?utf-8?b?{base64.b64encode(data[i:i + 4]).decode()}?=" for i in range(0, len(data), 4))
    assert decode_header_text(value) == "ลับที่สุด แผนงาน"
    assert classification_of_headers([("Keywords", value)]).level == "top_secret"
    assert classification_of_headers([("X-Classification", value)]).level == "top_secret"


@pytest.mark.parametrize("markup, level", [
    ("<p>ลับ<span style='display:none'>xx</span>มาก</p><p>เรื่อง</p>", "secret"),
    ("<p>ลับ<span hidden>xx</span>ที่สุด</p><p>เรื่อง</p>", "top_secret"),
    ("<p>ลับ<span style='font-size:0px'>xx</span>ที่สุด</p><p>เรื่อง</p>", "top_secret"),
    ("<p>ลับ<b style='color:red; opacity: 0'>xx</b>มาก</p>", "secret"),
    ("<p>ลับ<span style='visibility: hidden'>x</span>มาก</p>", "secret"),
    ("<p style='display:none'>ลับที่สุด</p><p>เรื่อง</p>", "top_secret"),  # hidden, still read: fail closed
    # Since session 36 an inline element's text may be hidden by a style sheet the reading
    # does not work out (`span{display:none!important}` beats the inline style): read
    # across it, failing closed. Text that is no element's stays: ลับxxมาก is no marking.
    ("<p>ลับ<span style='font-size:10px'>xx</span>มาก</p>", "secret"),
    ("<p>ลับxxมาก</p>", "none"),
])
def test_text_a_browser_hides_inside_a_marking_does_not_break_it(markup, level):
    """Read twice: all the text, and only what a browser shows (an element hidden by its
    own style or `hidden` attribute dropped); a marking in either counts."""
    assert read_classification(_mail(html=markup)).level == level
