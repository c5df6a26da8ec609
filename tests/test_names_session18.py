"""Thai file names as people read them everywhere a letter's file is named (session 18's
red team): the names Thai senders' clients write (raw Windows-874 or UTF-8 bytes, RFC
2047 words in a quoted filename=, RFC 2231 under a wrong label, name= alone), read from
the unit's folder on real Dovecot as a mail client reads them (the message and its
BODYSTRUCTURE), in the S/MIME verdict, in the secret registrar's copy once decrypted,
and saved from the desk by Chromium.

One daemon with the desk, IMAP delivery to Dovecot and a secret registrar serves the
module."""
from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import hashlib
import os
import re
import urllib.parse
import uuid

import pytest

from rules.names import saved_name
from tests.classified.helpers import add_registrar, make_gateway_key, registrar_open
from tests.daemon import Daemon, free_port
from tests.imap_helpers import delivery_config
from tests.letters import make_pdf, outlook_letter, tnef_file
from tests.notices.sink import Sink
from tests.pki import build_pki, make_smime
from tests.test_names_session17 import mailbox  # noqa: F401 - a fixture: the unit's folders on Dovecot
from tests.test_thai_headers import rfc2231
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, Desk, add_users, desk_config
from tests.web.test_desk_browser import letter_id, sign_in

LAT = "saraban.latkrabang@bangkok.go.th"
FOLDER, SECRET = "Saraban/latkrabang", "Saraban/latkrabang/Secret"


def name(n: int) -> str:
    return f"สิ่งที่ส่งมาด้วย_{'๑๒๓๔๕๖๗๘๙'[n]}_สำนักงานเขตลาดกระบัง.pdf"


def percent(data: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte for byte in data)


CP874, UTF8 = (lambda n: name(n).encode("cp874")), (lambda n: name(n).encode())
# The parameters of each file, as the sender's client put them on the wire.
SHAPES = {
    "raw windows-874": b'Content-Disposition: attachment; filename="' + CP874(0) + b'"',
    "2047 windows-874 labelled utf-8": b'Content-Disposition: attachment; filename="=?utf-8?B?'
                                       + base64.b64encode(CP874(1)) + b'?="',
    "2231 x-thai, continued": b"Content-Disposition: attachment;\r\n filename*0*=x-thai''" + percent(CP874(2)[:12])
                              + b";\r\n filename*1*=" + percent(CP874(2)[12:]),
    "2231 utf-8 labelled tis-620": b"Content-Disposition: attachment; filename*=tis-620''" + percent(UTF8(3)),
    "raw windows-874 name= only": None,  # Content-Type: application/pdf; name="..." alone
    "raw utf-8": b'Content-Disposition: attachment; filename="' + UTF8(5) + b'"',
}
SAFE_ALREADY = b"Content-Disposition: attachment; filename*=utf-8''" + percent(UTF8(6))  # Thunderbird's own
SLASHED = "2569/dds\\0403_รายงาน\x07.txt"  # a path and a bell in a raw UTF-8 name
SAVED = "2569_dds_0403_รายงาน.txt"
WINMAIL = ("หนังสือ\u200bแก้ไข.pdf", "สิ่งที่ส่งมาด้วย_๑.pdf")  # a zero-width space hidden in a name
LONG = "รายงานผลการดำเนินงานประจำปี_" * 8 + ".pdf"  # 672 bytes of UTF-8, sent as Thunderbird writes it
STAMPED = name(0).replace(".pdf", ".stamped.pdf")  # the receive stamp's copy of the first PDF


def part(disposition: bytes | None, data: bytes, content_type: bytes = b"application/pdf") -> bytes:
    return (b"Content-Type: " + content_type + b"\r\nContent-Transfer-Encoding: base64\r\n"
            + (disposition + b"\r\n" if disposition else b"") + b"\r\n"
            + base64.encodebytes(data).replace(b"\n", b"\r\n"))


def mail(subject: str, body: bytes, content_type: bytes, more: bytes = b"", **headers: str) -> bytes:
    """A letter whose body, Content-Type and `more` header lines are as given, bytes as
    they go on the wire."""
    head = {"From": "=?utf-8?b?" + base64.b64encode("สำนักการระบายน้ำ".encode()).decode() + "?= <saraban.dds@bangkok.go.th>",
            "To": LAT, "Subject": "=?utf-8?b?" + base64.b64encode(subject.encode()).decode() + "?=",
            "Date": email.utils.formatdate(), "Message-ID": f"<{uuid.uuid4()}@dds.bangkok.go.th>",
            "MIME-Version": "1.0", **headers}
    return ("".join(f"{k}: {v}\r\n" for k, v in head.items())).encode() + more + b"Content-Type: " \
        + content_type + b"\r\n\r\n" + body


def mixed(subject: str, parts: list[bytes], **headers: str) -> bytes:
    boundary = uuid.uuid4().hex.encode()
    text = f"ที่ กท ๐๔๐๓/ว ๒๗๖\r\nเรื่อง {subject}\r\nเรียน ผู้อำนวยการเขตลาดกระบัง\r\n".encode()
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in [
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text, *parts])
    return mail(subject, body + b"--" + boundary + b"--\r\n", b'multipart/mixed; boundary="' + boundary + b'"',
                **headers)


def shapes_letter() -> bytes:
    parts = [part(d, make_pdf(f"file {n}")) if d else
             part(None, make_pdf(f"file {n}"), b'application/pdf; name="' + CP874(n) + b'"')
             for n, d in enumerate(SHAPES.values())]
    parts.append(part(SAFE_ALREADY, make_pdf("file 6")))
    parts.append(part(b'Content-Disposition: attachment; filename="' + SLASHED.encode() + b'"',
                      "เลขที่,เรื่อง\r\n1,น้ำท่วม\r\n".encode(), b"text/plain; charset=utf-8"))
    parts.append(part(b"Content-Disposition: attachment;\r\n" + rfc2231(LONG, "utf-8", pieces=9).encode(),
                      make_pdf("long")))
    return mixed("ชื่อไฟล์หลายแบบ", parts)


def single_part_letter() -> bytes:
    """The whole message is the PDF, its name raw Windows-874 (an old Thai mailer)."""
    return mail("ไฟล์เดียวทั้งฉบับ", base64.encodebytes(make_pdf("single")).replace(b"\n", b"\r\n"),
                b"application/pdf", b"Content-Transfer-Encoding: base64\r\n"
                b'Content-Disposition: attachment; filename="' + CP874(7) + b'"\r\n')


def signed_inner() -> bytes:
    """The signed entity of an S/MIME letter: a text and a PDF whose name is raw Windows-874."""
    boundary = b"signed-inner"
    return (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--' + boundary + b"\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "เรื่อง หนังสือลงนาม\r\n".encode() + b"--" + boundary + b"\r\n"
            + part(b'Content-Disposition: attachment; filename="' + CP874(8) + b'"', make_pdf("signed"))
            + b"--" + boundary + b"--\r\n")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build_pki(tmp_path_factory.mktemp("pki18"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, mailbox, pki):
    """The daemon, its desk and notice sink, the registrar's key, and every letter of the
    module dealt with: (Desk, registrar (key, cert), {what: queue id})."""
    dovecot, user = mailbox
    sink = Sink(free_port()).start()
    web_port = free_port()
    config = desk_config(tmp_path_factory.mktemp("names18"), sink, web_port, extra=(
        f'[signatures]\ntrust_roots = "{pki.roots_pem}"\nrevocation_dir = "{pki.revocation_dir}"\n'
        '[rules.policy]\nallowed_types = "warn"\nno_document = "warn"\n'
        + delivery_config(dovecot, user, "pw-" + user)))
    daemon = Daemon(config)
    try:
        make_gateway_key(daemon)
        registrar = add_registrar(daemon, "saraban.latkrabang", "lat registrar")
        add_users(config, ("somchai", "clerk", "saraban.latkrabang"))
        daemon.start()
        sent = {
            "shapes": daemon.send(shapes_letter(), LAT),
            "single": daemon.send(single_part_letter(), LAT),
            "signed": daemon.send(make_smime(pki, inner=signed_inner(), headers={
                "From": "saraban.dds@bangkok.go.th", "To": LAT, "Subject": "S/MIME",
                "Message-ID": f"<{uuid.uuid4()}@dds.bangkok.go.th>"}), LAT),
            "outlook": daemon.send(outlook_letter(tnef_file([(n, make_pdf(n)) for n in WINMAIL]), to=LAT,
                                                  subject="ไฟล์ในวินเมล"), LAT),
            "secret": daemon.send(mixed("ลับ ส่งรายชื่อผู้เข้าประชุม", [
                part(b'Content-Disposition: attachment; filename="' + CP874(0) + b'"', make_pdf("secret"))]), LAT),
        }
        daemon.wait_idle(120)
        yield Desk(daemon, sink, f"http://127.0.0.1:{web_port}"), registrar, sent
    finally:
        daemon.stop()
        sink.stop()


def fetched(mailbox, where: str) -> list[tuple[bytes, bytes]]:
    """(message, BODYSTRUCTURE) of each message in a folder, as an IMAP client FETCHes them
    (a name Dovecot cannot quote, raw 8-bit, comes as a literal inside the structure)."""
    dovecot, user = mailbox
    conn = dovecot.imap(user)
    try:
        conn.select(f'"{where}"', readonly=True)
        _, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
        messages = [item[1] for item in data if isinstance(item, tuple)]
        _, data = conn.uid("FETCH", "1:*", "(BODYSTRUCTURE)")
        text = b"".join(b"".join(item) if isinstance(item, tuple) else item + b"\n" for item in data)
        structures = [line for line in text.split(b"\n") if line]
        assert len(structures) == len(messages)
        return list(zip(messages, structures))
    finally:
        conn.logout()


@pytest.fixture(scope="module")
def folder(gateway, mailbox) -> dict[str, tuple[bytes, bytes]]:
    """The unit's folder once every copy is filed: queue id -> (message, BODYSTRUCTURE)."""
    return {re.search(rb"X-Saraban-Queue-Id: (\S+)", raw)[1].decode(): (raw, structure)
            for raw, structure in fetched(mailbox, FOLDER)}


def in_the_folder(folder: dict, queue_id: str) -> tuple[email.message.EmailMessage, bytes]:
    raw, structure = folder[queue_id]
    return email.message_from_bytes(raw, policy=email.policy.default), structure


def structure_names(structure: bytes) -> list[str]:
    """The file names of a BODYSTRUCTURE's parts (disposition filename, else Content-Type
    name), as Roundcube reads them: RFC 2231 pieces joined, then decoded."""
    names = []
    for params in re.findall(rb'\("(?:attachment|inline)" \(((?:"[^"]*" ?)+)\)\)', structure):
        values = re.findall(rb'"([^"]*)" "([^"]*)"', params)
        pieces = [(k.decode().lower(), v) for k, v in values if k.lower().startswith(b"filename")]
        joined = b"".join(v for _, v in pieces)
        if any(k.endswith("*") for k, _ in pieces):
            charset, _, text = joined.decode("ascii").split("'", 2)
            names.append(urllib.parse.unquote(text, encoding=charset))
        else:
            names.append(joined.decode("utf-8", "replace"))
    return names


def test_every_name_shape_reads_as_the_register_reads_it_in_the_clerks_folder(gateway, folder):
    """A raw Windows-874 name, Windows-874 under a utf-8 RFC 2047 label, x-thai and
    mislabelled RFC 2231 reached the clerk's mail client as "˹ѧ���..." or "เธซเธ...":
    the folder copy kept the sender's parameters while the register read them right."""
    desk, _, sent = gateway
    [entry] = [e for e in desk.daemon.register() if e["queue_id"] == sent["shapes"]]
    expected = [name(n) for n in range(7)]
    assert [a["filename"] for a in entry["attachments"]] == [*expected, SLASHED, LONG]
    copy, structure = in_the_folder(folder, sent["shapes"])
    files = list(copy.iter_attachments())
    assert [p.get_filename() for p in files] == [*expected, SAVED, saved_name(LONG), STAMPED]
    # The long name in at most the 255 bytes a file system holds, still a PDF.
    assert len(saved_name(LONG).encode()) <= 255 and saved_name(LONG).endswith("….pdf")
    assert [p["content-type"].params.get("name") for p in files][4] == expected[4]
    # Dovecot's BODYSTRUCTURE (what Roundcube and K-9 list before they fetch a file)
    # names them the same: no 8-bit byte left in a parameter.
    assert structure_names(structure) == [*expected[:4], *expected[5:], SAVED, saved_name(LONG), STAMPED]
    # Only headers changed: every file's bytes are the ones the register holds.
    assert [hashlib.sha256(p.get_content()).hexdigest() for p in files[:7]] \
        == [a["sha256"] for a in entry["attachments"][:7]]
    # A name a client reads right already is left as the sender wrote it.
    assert SAFE_ALREADY in folder[sent["shapes"]][0]


def test_a_single_part_letters_raw_name_reads_in_the_folder(gateway, folder):
    desk, _, sent = gateway
    copy, _ = in_the_folder(folder, sent["single"])
    assert [p.get_filename() for p in copy.iter_attachments()][0] == name(7)


def test_a_name_inside_a_signed_part_is_kept_and_the_verdict_names_it(gateway, folder):
    """The S/MIME verdict named the signed files with the email package's get_filename:
    a raw Windows-874 name read as U+FFFDs in `covers` (and an RFC 2047 one as
    "=?utf-8?B?...?="). The signed entity reaches the folder byte for byte."""
    desk, _, sent = gateway
    [entry] = [e for e in desk.daemon.register() if e["queue_id"] == sent["signed"]]
    [verdict] = [s for a in entry["attachments"] for s in a["signatures"] if s["kind"] == "smime"]
    assert verdict["indication"] == "TOTAL_PASSED" and verdict["covers"] == [name(8)]
    copy, _ = in_the_folder(folder, sent["signed"])
    assert any(f"covers {name(8)}" in v for v in copy.get_all("X-Saraban-Signature"))
    assert signed_inner() in folder[sent["signed"]][0]  # the name inside the signature is not rewritten


def test_the_files_of_a_winmail_dat_are_named_in_thai_in_the_folder(gateway, folder):
    """A guard: winmail.dat's files go beside it in the folder copy, named in Thai (the
    long name Outlook writes in Unicode), the zero-width space dropped (saved_name)."""
    desk, _, sent = gateway
    copy, _ = in_the_folder(folder, sent["outlook"])
    names = [p.get_filename() for p in copy.iter_attachments()]
    assert names[:3] == ["winmail.dat", "หนังสือแก้ไข.pdf", "สิ่งที่ส่งมาด้วย_๑.pdf"], names


def test_the_secret_registrar_reads_the_files_names_in_the_note(gateway, mailbox):
    """The letter inside the registrar's copy is the sender's bytes (evidence): its raw
    Windows-874 name read "˹ѧ..." in the registrar's client and was named nowhere else."""
    desk, (key, cert), sent = gateway
    copy = next(r for r, _ in fetched(mailbox, SECRET) if sent["secret"].encode() in r)
    entity = email.message_from_bytes(registrar_open(copy, key, cert), policy=email.policy.default)
    note = next(p for p in entity.walk() if p.get_content_type() == "text/plain").get_content()
    assert f"ไฟล์ (file): {name(0)}" in note


def test_the_desk_saves_a_thai_name_with_a_path_in_it_under_one_name(gateway):
    """`quote()` left the `/` of a name as it was in filename*= (RFC 8187 allows none);
    the name saved keeps the Thai and gets `_` for each separator, the bell dropped."""
    desk, _, sent = gateway
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(accept_downloads=True).new_page()
            sign_in(page, desk, "somchai")
            page.goto(f"{desk.url}/letters/{letter_id(desk, 'saraban.latkrabang', 'ชื่อไฟล์หลายแบบ')}")
            href = page.locator("table.files a").nth(7).get_attribute("href")
            disposition = page.context.request.get(desk.url + href).headers["content-disposition"]
            assert "/" not in disposition.split("filename*=")[1]
            with page.expect_download() as download:
                page.evaluate("href => { window.location = href }", href)
            assert download.value.suggested_filename == SAVED
        finally:
            browser.close()


def test_a_saved_name_is_one_name_a_file_system_holds():
    assert saved_name("2569/dds\\0403.pdf") == "2569_dds_0403.pdf"
    assert saved_name("..") == "file" and saved_name("./") == "._"
    long = saved_name("น้ำท่วม" * 100 + ".pdf")
    assert len(long.encode()) <= 255 and long.endswith("….pdf") and long.startswith("น้ำท่วม")


def test_a_copy_whose_names_every_client_reads_keeps_its_bytes():
    """Thunderbird's RFC 2231, Outlook's RFC 2047 in name=, an ASCII name: the copy is the
    same bytes; a forwarded message inside keeps its own raw name (a message of its own)."""
    from gateway.delivery.part_names import clean_names
    from tests.letters import letter

    for style in ("rfc2231", "rfc2047", "inline"):
        raw = letter(files=[(name(0), make_pdf("a")), ("2569_dds_0403_57.pdf", make_pdf("b"))], filename_style=style)
        assert clean_names(raw) == raw, style
    forwarded = mixed("ส่งต่อ", [b"Content-Type: message/rfc822\r\n\r\n" + single_part_letter()])
    assert clean_names(forwarded) == forwarded
    assert clean_names(signed_inner()) != signed_inner()  # the same entity unsigned is cleaned
