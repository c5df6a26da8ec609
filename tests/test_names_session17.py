"""File names and Thai text end to end (session 17's red team): names sent as raw 8-bit
bytes or under a wrong RFC 2231 charset label, names that hide their real extension or
look like another file's, and a 10,000-character name, as the clerk reads them on the
desk in Chromium, in `register show`, and as the register and the folder copy keep them.

One daemon with the desk serves the module (tests/web/conftest.py)."""
from __future__ import annotations

import base64
import email
import json
import os
from urllib.parse import unquote

import pytest

from rules.names import cut, fitted_name, name_from_bytes, saved_name, shown_name
from tests.imap_helpers import delivery_config, folder_messages
from tests.letters import letter, make_pdf
from tests.test_thai_headers import rfc2231
from tests.web.conftest import Desk, browser, running_desk, shot  # noqa: F401 - fixtures
from tests.web.test_desk_browser import letter_id, page, sign_in  # noqa: F401 - page: a fixture

LAT = "saraban.latkrabang@bangkok.go.th"
PLACEHOLDER = b"filename*=utf-8''PLACEHOLDER.pdf"
THAI_NAME = "หนังสือนำ_สำนักงานเขตลาดกระบัง.pdf"
LONG_NAME = "น้ำท่วม" * 1430 + ".pdf"  # 10,014 characters, every cut a chance to split น้ำ
SPOOF = "หนังสือ\u202excod.pdf"  # drawn "หนังสือfdp.docx"
LOOKALIKE = ("2569_dds_0403_57.pdf", "2569_dds_0403_\u200b57.pdf", "2569_dds_0403_\uff15\uff17.pdf")
STACKED = ("ก" + "\u0e49" * 40 + ".pdf", "\u0e48\u0e49\u0e4a.pdf")  # marks piled up; marks alone
LONG_SUBJECT = "น้ำ" * 134  # a notice quotes 300 characters: the 100th น้ำ is cut


def named(subject: str, disposition: bytes, data: bytes | None = None) -> bytes:
    """A letter whose file's Content-Disposition parameters are `disposition`, bytes as
    they go on the wire; the file a PDF of its own unless `data`."""
    raw = letter(subject=subject, files=[("PLACEHOLDER.pdf", data or make_pdf(f"cover {subject}"))])
    assert PLACEHOLDER in raw
    return raw.replace(PLACEHOLDER, disposition)


def with_name(raw: bytes, name: bytes) -> bytes:
    """`raw` (from `named`) with a Content-Type name= of its own on the file."""
    return raw.replace(b"Content-Type: application/pdf\r\n", b'Content-Type: application/pdf; name="' + name + b'"\r\n', 1)


def percent(data: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte for byte in data)


LETTERS = {
    # Raw 8-bit UTF-8 (an SMTPUTF8 client) and raw Windows-874 (an old Thai mailer).
    "raw utf-8": named("ชื่อไฟล์ยูทีเอฟแปด", b'filename="' + THAI_NAME.encode() + b'"'),
    "raw windows-874": named("ชื่อไฟล์ภาษาไทยเก่า", b'filename="' + THAI_NAME.encode("cp874") + b'"'),
    # RFC 2231 under the wrong label: UTF-8 bytes called TIS-620, Windows-874 called UTF-8.
    "utf-8 as tis-620": named("ชื่อไฟล์ป้ายผิดหนึ่ง", b"filename*=tis-620''" + percent(THAI_NAME.encode())),
    "windows-874 as utf-8": named("ชื่อไฟล์ป้ายผิดสอง", b"filename*=utf-8''" + percent(THAI_NAME.encode("cp874"))),
    # RFC 2047 (Outlook, Gmail) under the same wrong label.
    "2047 windows-874 as utf-8": named("ชื่อไฟล์ป้ายผิดสาม", b'filename="=?utf-8?B?'
                                       + base64.b64encode(THAI_NAME.encode("cp874")) + b'?="'),
    # The marking only in the name, as raw UTF-8: the letter is ลับมาก.
    "marked name": named("ส่งเอกสารประกอบการประชุม", b'filename="' + "ลับมาก_2569_dds_0403_57.pdf".encode() + b'"'),
    # filename= and name= disagree: a client that shows name= shows the marking.
    "two names": with_name(named("ส่งรายงานประจำเดือน", b'filename="2569_dds_0403_62.pdf"'),
                           "ลับมาก_2569_dds_0403_62.pdf".encode()),
    "spoof": letter(subject="ชื่อไฟล์กลับทิศ", files=[(SPOOF, make_pdf("spoof")),
                                                     (LOOKALIKE[0], make_pdf("first")),
                                                     (LOOKALIKE[1], make_pdf("second")),
                                                     (LOOKALIKE[2], make_pdf("third")),
                                                     (STACKED[0], make_pdf("stacked")),
                                                     (STACKED[1], make_pdf("marks alone"))]),
    "long subject": letter(subject=LONG_SUBJECT, files=[("2569_dds_0403_60.pdf", make_pdf("long subject"))]),
    # Held (its ".pdf" is no PDF): the quarantine names the file as the register would.
    "held": named("ชื่อไฟล์ในกักกัน", b'filename="' + THAI_NAME.encode("cp874") + b'"', b"not a PDF at all\r\n"),
    "long": named("ชื่อไฟล์ยาวมาก", b"\r\n" + rfc2231(LONG_NAME, "utf-8", pieces=400).encode()),
}


@pytest.fixture(scope="module")
def mailbox(dovecot) -> tuple:
    """The unit's folders on the session's real Dovecot: (server, user)."""
    user = f"names{os.getpid()}"
    dovecot.add_user(user, "pw-" + user)
    return dovecot, user


@pytest.fixture(scope="module")
def desk(tmp_path_factory, mailbox):
    dovecot, user = mailbox
    with running_desk(tmp_path_factory.mktemp("names"), (("somchai", "clerk", "saraban.latkrabang"),),
                      tuple((raw, LAT) for raw in LETTERS.values()),
                      extra="[signatures]\nstamp = true\n" + delivery_config(dovecot, user, "pw-" + user)) as desk:
        yield desk


def in_the_folder(mailbox, queue_id: str) -> email.message.EmailMessage:
    """The folder copy of one letter as an IMAP client fetches it from Dovecot."""
    [copy] = [m for _, m in folder_messages(*mailbox, "Saraban/latkrabang") if m["X-Saraban-Queue-Id"] == queue_id]
    return copy


def register(desk: Desk) -> dict[str, dict]:
    """`register list --json`, each entry by its mail subject."""
    return {e.get("mail_subject") or e["receive_no"]: e for e in desk.daemon.register()}


def files_on_page(page, desk: Desk, subject: str) -> list[str]:
    page.goto(f"{desk.url}/letters/{letter_id(desk, 'saraban.latkrabang', subject)}")
    return page.locator("table.files a").all_inner_texts()


RAW_OR_MISLABELLED = ("ชื่อไฟล์ยูทีเอฟแปด", "ชื่อไฟล์ภาษาไทยเก่า", "ชื่อไฟล์ป้ายผิดหนึ่ง", "ชื่อไฟล์ป้ายผิดสอง",
                      "ชื่อไฟล์ป้ายผิดสาม")


def test_a_thai_name_sent_raw_or_mislabelled_reads_as_its_sender_wrote_it(page, desk, mailbox):
    """Until session 17 the raw names read as a row of U+FFFD and the mislabelled ones
    as "เธซเธเธฑ..." or "˹ѧ..." on the desk and in the register."""
    entries = register(desk)
    assert {s: [a["filename"] for a in entries[s]["attachments"]] for s in RAW_OR_MISLABELLED} \
        == dict.fromkeys(RAW_OR_MISLABELLED, [THAI_NAME])
    sign_in(page, desk, "somchai")
    assert {s: files_on_page(page, desk, s) for s in RAW_OR_MISLABELLED} == dict.fromkeys(RAW_OR_MISLABELLED, [THAI_NAME])
    # The folder copy keeps the sender's bytes (its signature must verify): a client
    # reads the raw UTF-8 name from Dovecot as the desk shows it.
    copy = in_the_folder(mailbox, entries[RAW_OR_MISLABELLED[0]]["queue_id"])
    assert [p.get_filename() for p in copy.iter_attachments()][0] == THAI_NAME


def test_a_held_letters_raw_windows874_name_reads_the_same_in_the_quarantine(page, desk):
    """`quarantine show` and the desk's quarantine page read the held message's names
    with the email package alone: a raw Windows-874 name was a row of U+FFFD there."""
    [entry] = [e for e in json.loads(desk.daemon.cli("quarantine", "list", "--json").stdout)
               if e["subject"] == "ชื่อไฟล์ในกักกัน"]
    shown = desk.daemon.cli("quarantine", "show", str(entry["id"])).stdout
    assert f"  {THAI_NAME}  " in shown
    sign_in(page, desk, "somchai")
    page.goto(f"{desk.url}/quarantine/{entry['id']}")
    assert page.locator("main ul a").all_inner_texts() == [THAI_NAME]


def test_a_marking_in_a_raw_utf8_name_or_in_name_makes_the_letter_secret(desk):
    """"ลับมาก_2569_....pdf" sent as raw UTF-8 was registered as an ordinary letter, its
    name unreadable, its plaintext filed into the unit's folder; so was one whose
    Content-Type name= said ลับมาก where its filename= did not."""
    entries = desk.daemon.register()
    assert not [e for e in entries if e.get("mail_subject") in ("ส่งเอกสารประกอบการประชุม", "ส่งรายงานประจำเดือน")]
    assert [e["secrecy"] for e in entries if e["book"] != "general"] == ["secret", "secret"]


def test_a_name_that_hides_its_extension_or_looks_like_another_shows_what_it_is(page, desk, shot, mailbox):
    """U+202E drew "หนังสือ\\u202excod.pdf" as "หนังสือfdp.docx" on the letter's page, and
    a zero-width space made two different files' names look the same."""
    sign_in(page, desk, "somchai")
    shown = files_on_page(page, desk, "ชื่อไฟล์กลับทิศ")
    shot(page)
    assert shown == ["หนังสือ\\u202excod.pdf", LOOKALIKE[0], "2569_dds_0403_\\u200b57.pdf",
                     "2569_dds_0403_\\uff15\\uff17.pdf",
                     "ก\u0e49\u0e49\u0e49" + "\\u0e49" * 37 + ".pdf", "\\u0e48\\u0e49\\u0e4a.pdf"]
    # The written-out name wraps in its cell: the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # The download is saved under the name without the override (no file manager draws
    # it reversed), and the PDF opens as a PDF.
    href = page.locator("table.files a").first.get_attribute("href")
    response = page.context.request.get(desk.url + href)
    disposition = response.headers["content-disposition"]
    assert response.headers["content-type"] == "application/pdf"
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "หนังสือxcod.pdf"
    # The finding names the file the same way, and so does `register show`.
    body = page.locator("main").inner_text()
    assert "[หนังสือ\\u202excod.pdf]" in body
    entry = register(desk)["ชื่อไฟล์กลับทิศ"]
    out = desk.daemon.cli("register", "show", "saraban.latkrabang", entry["receive_no"]).stdout
    assert "2569_dds_0403_\\u200b57.pdf" in out and "หนังสือ\\u202excod.pdf" in out
    # The stamped letter the folder copy carries is named without the override too (the
    # sender's own part is kept byte for byte); the desk names it as it names the file.
    assert "หนังสือ\\u202excod.stamped.pdf" in page.locator("p.stamped").inner_text()
    copy = in_the_folder(mailbox, entry["queue_id"])
    assert copy["X-Saraban-Stamp"] == "stamped: หนังสือxcod.stamped.pdf"
    # Since session 50 the copy's part names are those the download is saved under
    # (part_names.py): the override and the zero-width space gone, the file's bytes kept.
    names = [part.get_filename() for part in copy.iter_attachments()]
    assert names == ["หนังสือxcod.pdf", LOOKALIKE[0], LOOKALIKE[0], LOOKALIKE[2], *STACKED,
                     "หนังสือxcod.stamped.pdf"]


def test_a_ten_thousand_character_name_keeps_its_extension_and_whole_letters(page, desk):
    """The register cut a long name at its column's 1,024 characters: the ".pdf" was lost
    (the file downloaded as no type at all) and the last น้ำ lost its marks."""
    [entry] = [e for e in desk.daemon.register() if e.get("mail_subject") == "ชื่อไฟล์ยาวมาก"]
    [stored] = [a["filename"] for a in entry["attachments"]]
    assert stored == "น้ำท่วม" * 145 + "น้ำ" + "….pdf"  # 1,024 characters
    sign_in(page, desk, "somchai")
    [link] = files_on_page(page, desk, "ชื่อไฟล์ยาวมาก")
    assert link == stored
    # Each finding about it quotes 200 characters of it, not 10,000.
    quoted = page.locator("ul.findings li small").all_inner_texts()
    assert quoted and all(q == "[" + "น้ำท่วม" * 27 + "น้ำท่ว" + "….pdf]" for q in quoted)
    href = page.locator("table.files a").first.get_attribute("href")
    disposition = page.context.request.get(desk.url + href).headers["content-disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]).endswith("….pdf")


def test_a_long_thai_subject_is_quoted_in_the_notice_cut_between_whole_letters(desk):
    """The acknowledgement quotes 300 characters of เรื่อง: cut after the น้ of the 100th
    น้ำ, it read "น้…" (another vowel) in the sender's mail."""
    [ack] = desk.daemon.wait_for(lambda: [
        m for m in desk.sink.messages() if LONG_SUBJECT[:30] in (m.message.get_body(("plain",)).get_content())],
        what="the acknowledgement quoting the long subject")
    text = ack.message.get_body(("plain",)).get_content()
    assert "น้ำ" * 99 + "…" in text and "น้…" not in text


# --- the rules, without a daemon ---------------------------------------------------------

@pytest.mark.parametrize("data,label,expected", [
    (THAI_NAME.encode(), None, THAI_NAME),
    (THAI_NAME.encode("cp874"), None, THAI_NAME),
    (THAI_NAME.encode(), "tis-620", THAI_NAME),
    (THAI_NAME.encode(), "windows-874", THAI_NAME),
    (THAI_NAME.encode("cp874"), "utf-8", THAI_NAME),
    (THAI_NAME.encode().replace(b".pdf", b"\xff.pdf"), "utf-8", THAI_NAME.replace(".pdf", "\ufffd.pdf")),  # a stray byte
    (THAI_NAME.encode("cp874"), "x-thai", THAI_NAME),
    (THAI_NAME.encode("tis-620"), "tis-620", THAI_NAME),
    ("café.pdf".encode("latin-1"), "iso-8859-1", "café.pdf"),
    ("ลับ.pdf".encode("utf-16-le"), "utf-16-le", "ลับ.pdf"),
])
def test_name_from_bytes(data, label, expected):
    assert name_from_bytes(data, label) == expected


def test_a_cut_never_splits_a_thai_letter_from_its_marks():
    assert cut("น้ำท่วม", 1) == "" and cut("น้ำท่วม", 2) == "" and cut("น้ำท่วม", 3) == "น้ำ"
    assert cut("น้ำท่วม", 4) == "น้ำ" and cut("น้ำท่วม", 5) == "น้ำท่" and cut("น้ำท่วม", 6) == "น้ำท่ว"
    assert cut("เกม", 1) == ""  # not a leading vowel without its consonant
    assert fitted_name("ก" * 2000 + ".docx", 1024) == "ก" * 1018 + "….docx"
    assert fitted_name("ก" * 2000, 100) == "ก" * 99 + "…"
    assert fitted_name("short.pdf", 100) == "short.pdf" and fitted_name(None, 10) is None


def test_shown_and_saved_names():
    assert shown_name("a\u200bb\u00a0c\r\n\x1b") == "a\\u200bb\\u00a0c\\u000d\\u000a\\u001b"
    assert shown_name(THAI_NAME) == THAI_NAME and shown_name("a b.pdf") == "a b.pdf"
    assert shown_name("๒๕๖๙_\U0001d7d3.pdf") == "๒๕๖๙_\\U0001d7d3.pdf"
    assert saved_name(SPOOF) == "หนังสือxcod.pdf"
    assert saved_name('a\r\nBcc: x@y"; b.pdf') == 'a  Bcc: x@y"; b.pdf'
    assert saved_name("\u202e\u200b") == "file"
    assert json.dumps(saved_name("\x00")) == '"file"'


def test_a_programs_extension_in_name_is_a_program_whatever_filename_says():
    from gateway.pipeline.parse import parse_mail
    from rules.checks.executable import Executable
    from rules.model import LetterFacts, RuleSettings

    raw = with_name(named("x", b'filename="2569_dds_0403_62.pdf"'), b"2569_dds_0403_62.pdf.js")
    [finding] = Executable().check(parse_mail(raw), LetterFacts(), RuleSettings())
    assert finding.verdict == "fail" and "program" in finding.message_en
