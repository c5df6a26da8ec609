"""Session 19 red team: a file in disguise. Secrecy fails closed whatever a file claims to be.

A file whose name or declared type says one format while its bytes are another went down
the branch of the claimed format and was read as nothing: a ZIP, a PDF, a Word file or a
7z archive named `x.eml` or sent as message/rfc822 (parsed as a message of no text), a PDF
or a ZIP sent as an unnamed text/plain part (read as the body's garbage), a PDF behind a
few stray bytes not named `.pdf`, a forwarded letter (`.eml`) named anything else or
zipped, a file signed as `x.eml.p7m`, UTF-8 text labelled `charset=tis-620`. Each held a
ลับมาก letter and left it ordinary and certain, filed in plain text to the unit's folder.
Now what the bytes are decides how a file is read (`gateway/pipeline/file_texts.py`
`file_kind`), and the name and declared type only when the bytes say nothing.

The pure cases read letters as the DATA check does (classify_raw); one sealing daemon for
the module proves the worst ones over SMTP."""
from __future__ import annotations

import base64
import gzip
import io
import tarfile
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import LATKRABANG, MARKER, assert_sealed_nowhere_plain, sealing_daemon
from tests.classified.test_red_team_session15 import rar4, sevenz
from tests.letters import letter, tnef_file
from tests.pki import build_pki, make_p7m
from tests.secrecy.test_mime_hidden_markings import _docx, _rtf
from tests.test_containers_session18 import deflated
from tests.thai_pdfs import thai_pdf

SECRET = ["ลับมาก", "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน"]
ORDINARY = ["ที่ กท ๐๔๐๗/๕๘", "เรื่อง ขอเชิญประชุม"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build_pki(tmp_path_factory.mktemp("pki"))


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


def part(data: bytes, ctype: str = "application/octet-stream", disposition: str | None = "attachment",
         filename: str | None = None, encoding: str = "base64") -> bytes:
    """One MIME part as a sender's client (or a hostile one) writes it."""
    head = f"Content-Type: {ctype}\r\n"
    if disposition is not None:
        head += f"Content-Disposition: {disposition}" + (f'; filename="{filename}"' if filename else "") + "\r\n"
    head += f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    return head.encode() + (base64.encodebytes(data) if encoding == "base64" else data)


def mail(*parts: bytes, subject: str = "ขอส่งเอกสาร") -> bytes:
    out = (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LATKRABANG.encode() + b"\r\nSubject: =?utf-8?b?"
           + base64.b64encode(subject.encode()) + b"?=\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n--BB\r\n'
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "เรียน ผู้อำนวยการเขต\r\n".encode())
    for p in parts:
        out += b"\r\n--BB\r\n" + p
    return out + b"\r\n--BB--\r\n"


def tarred(members: list[tuple[str, bytes]]) -> bytes:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return packed.getvalue()


def forwarded(lines: list[str], subject: str = "ขอส่งเอกสาร") -> bytes:
    """An .eml as a client saves a letter: its body base64 (no marking in its bytes)."""
    return letter(subject=subject, body="\n".join(lines) + "\n", files=[])


def carriers(pki, lines: list[str]) -> dict[str, bytes]:
    """The same words in each format a letter's file comes in."""
    pdf = thai_pdf(lines)
    return {
        "pdf": pdf,
        "zip": deflated([("2569.pdf", pdf)]),
        "tar.gz": gzip.compress(tarred([("2569.pdf", pdf)])),
        "winmail.dat": tnef_file([("2569.pdf", pdf)]),
        "p7m": make_p7m(pki, pdf),
        "eml": forwarded(lines),
        "docx": _docx(lines),
        "rtf": _rtf(lines),
    }


# Names and types each carrier was sent under, that made it go down another format's
# branch on main (each was ('none', True) there for every carrier it does not name).
DISGUISES = {
    "named x.eml": dict(filename="x.eml"),
    "typed message/rfc822": dict(ctype="message/rfc822", filename="x"),
    "typed message/rfc822, no name": dict(ctype="message/rfc822", disposition=None),
    "unnamed text/plain": dict(ctype="text/plain; charset=utf-8", disposition=None),
    "inline text/plain": dict(ctype="text/plain; charset=utf-8", disposition="inline"),
    "unnamed text/html": dict(ctype="text/html; charset=utf-8", disposition=None),
}


@pytest.fixture(scope="module")
def secret_carriers(pki) -> dict[str, bytes]:
    return carriers(pki, SECRET)


@pytest.mark.parametrize("disguise", DISGUISES)
@pytest.mark.parametrize("carrier", ["pdf", "zip", "tar.gz", "winmail.dat", "p7m", "docx", "rtf"])
def test_a_file_named_or_typed_a_message_or_a_body_is_read_as_what_its_bytes_are(secret_carriers, carrier,
                                                                                 disguise):
    """A ลับมาก letter in each format, named `x.eml`, sent as message/rfc822, or as the
    letter's unnamed text part: ordinary and certain on main, in plain text."""
    assert reading(mail(part(secret_carriers[carrier], **DISGUISES[disguise]))) == ("secret", True)


def test_a_forwarded_letter_is_read_whatever_it_is_called_or_zipped(secret_carriers):
    """An attached letter (`.eml`) read as a message by its bytes: named `x.pdf`, `x.bin`
    or nothing, and inside a ZIP, a tar or a signed file (on main a message was known by
    its name or type only, and never inside an archive: its base64 body unread)."""
    eml = secret_carriers["eml"]
    for disguise in (dict(filename="x.pdf", ctype="application/pdf"), dict(filename="x.bin"), dict(),
                     dict(filename="x.txt", ctype="text/plain")):
        assert reading(mail(part(eml, **disguise))) == ("secret", True), disguise
    for container in (deflated([("fw.eml", eml)]), deflated([("fw.bin", eml)]), tarred([("fw.eml", eml)])):
        assert reading(mail(part(container, filename="letters.zip"))) == ("secret", True)
    # Its Subject is read as an attached letter's is (a header, not text of the body).
    marked = forwarded(ORDINARY, subject="ลับมาก แผนการปฏิบัติงาน")
    assert reading(mail(part(deflated([("fw.eml", marked)]), filename="letters.zip"))) == ("secret", True)


def test_a_pdf_behind_stray_bytes_is_read_whatever_it_is_called(secret_carriers):
    """A viewer opens a PDF whose header follows a few bytes; named `.pdf` it was read,
    named anything else (or nothing) it was not, at the top or inside a ZIP."""
    behind = b"\x00junk bytes\r\n" + secret_carriers["pdf"]
    for disguise in (dict(filename="x.bin"), dict(), dict(filename="x.zip", ctype="application/zip"),
                     dict(ctype="text/plain; charset=utf-8", disposition=None)):
        assert reading(mail(part(behind, **disguise))) == ("secret", True), disguise
    assert reading(mail(part(deflated([("x.bin", behind)]), filename="letters.zip"))) == ("secret", True)
    # A text that only quotes a PDF's header is still a text (no PDF's end): ordinary.
    quoted = "ไฟล์ต้องขึ้นต้นด้วย %PDF-1.7 ตามมาตรฐาน\n".encode()
    assert reading(mail(part(quoted, filename="howto.bin"))) == ("none", True)


def test_a_file_signed_under_a_message_name_is_read_as_the_file_it_carries(pki, secret_carriers):
    """`x.eml.p7m` carrying a ZIP, or an encrypted file: parsed as a message of no text on
    main (ordinary, certain); now the ZIP's PDF is read, the encrypted file uncertain."""
    assert reading(mail(part(make_p7m(pki, secret_carriers["zip"]), filename="x.eml.p7m"))) == ("secret", True)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert = x509.load_pem_x509_certificate(pki.valid.cert_path.read_bytes())
    sealed = pkcs7.PKCS7EnvelopeBuilder().set_data(secret_carriers["pdf"]).add_recipient(cert).encrypt(
        serialization.Encoding.DER, [])
    assert reading(mail(part(make_p7m(pki, sealed), filename="x.eml.p7m"))) == ("confidential", False)
    assert reading(mail(part(sealed, filename="x.eml"))) == ("confidential", False)


@pytest.mark.parametrize("data", [sevenz(False), rar4(False)], ids=["7z", "rar"])
def test_an_unreadable_archive_named_a_message_keeps_the_letter_uncertain(data):
    """A 7z or RAR archive (nothing here unpacks it) named `x.eml` or sent as
    message/rfc822 was parsed as an empty message: ordinary, certain. It is ลับ, uncertain."""
    for disguise in (dict(filename="x.eml"), dict(ctype="message/rfc822", filename="x"),
                     dict(ctype="text/plain; charset=utf-8", disposition=None)):
        assert reading(mail(part(data, **disguise))) == ("confidential", False), disguise


def test_a_text_file_is_read_by_its_bytes_as_well_as_by_its_label():
    """UTF-8 Thai labelled `charset=tis-620` reads as mojibake by its label and as Thai in
    the editor that opens the saved file: ordinary on main, now read both ways."""
    text = "\n".join(SECRET).encode()
    html = ("<html><body>" + "".join(f"<p>{line}</p>" for line in SECRET) + "</body></html>").encode()
    for data in (text, html):
        assert reading(mail(part(data, ctype="text/plain; charset=tis-620", filename="x.txt"))) == ("secret", True)


def test_a_text_sent_as_an_attached_message_is_read_as_the_text_it_is():
    """An HTML file or a UTF-16 text (no header line: no message) sent as message/rfc822:
    parsed as a message of one unreadable line on main, ordinary."""
    html = ("<html><body>" + "".join(f"<p>{line}</p>" for line in SECRET) + "</body></html>").encode()
    for data in (html, "\n".join(SECRET).encode("utf-16")):
        assert reading(mail(part(data, ctype="message/rfc822", filename="x.eml"))) == ("secret", True)


def test_a_file_named_or_typed_signed_is_read_as_what_it_is(secret_carriers, pki):
    """A ZIP or a Word file named `.p7m` or typed application/pkcs7-mime is not a signed
    file: on main 'a signed letter that could not be unwrapped' (ลับ, uncertain, for an
    ordinary one too); now read as what it is, both ways."""
    ordinary = carriers(pki, ORDINARY)
    for carrier in ("zip", "docx", "tar.gz", "pdf"):
        for disguise in (dict(filename="x.p7m"), dict(ctype="application/pkcs7-mime", filename="x")):
            assert reading(mail(part(secret_carriers[carrier], **disguise))) == ("secret", True), (carrier, disguise)
            assert reading(mail(part(ordinary[carrier], **disguise))) == ("none", True), (carrier, disguise)


def test_ordinary_files_of_every_format_stay_ordinary_under_any_name(pki):
    """The other direction: no flood of false 'uncertain'. Each format, ordinary, under
    its own name, as octet-stream with no name, and under another format's name."""
    ordinary = carriers(pki, ORDINARY)
    names = {"pdf": "x.pdf", "zip": "x.zip", "tar.gz": "x.tar.gz", "winmail.dat": "winmail.dat", "p7m": "x.pdf.p7m",
             "eml": "x.eml", "docx": "x.docx", "rtf": "x.rtf"}
    for carrier, data in ordinary.items():
        for disguise in (dict(filename=names[carrier]), dict(), dict(filename="x.pdf", ctype="application/pdf"),
                         dict(filename="x.eml")):
            assert reading(mail(part(data, **disguise))) == ("none", True), (carrier, disguise)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with sealing_daemon(tmp_path_factory.mktemp("disguise19") / "gw") as d:
        yield d


def test_over_smtp_secret_letters_in_disguise_are_sealed(gateway):
    """The worst of the matrix, sent: a forwarded ลับมาก letter zipped, a ลับมาก PDF sent as
    an attached message, and one behind stray bytes as `x.bin`. On main each was registered
    in the general book and filed in plain text into the unit's folder. Now each is in the
    secret book, sealed, its subject nowhere in plain: not in the unit's folder, the data
    directory or the log."""
    pdf = thai_pdf(["ลับมาก", "ที่ กท ๐๔๐๗/๕๗", f"เรื่อง แผน {MARKER}"])
    files = {
        "eml zipped": part(deflated([("fw.eml", forwarded(["ลับมาก", f"เรื่อง แผน {MARKER}"]))]),
                           filename="letters.zip"),
        "pdf as message": part(pdf, ctype="message/rfc822", filename="2569.eml"),
        "pdf behind bytes": part(b"\x00\r\n" + pdf, filename="2569.bin"),
    }
    queued = {name: gateway.send(mail(p, subject=f"ขอส่งแผน {MARKER}"), LATKRABANG) for name, p in files.items()}
    gateway.wait_idle(timeout=120)
    assert_sealed_nowhere_plain(gateway, queued)
