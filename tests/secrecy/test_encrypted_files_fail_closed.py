"""A file encrypted to a key or password the gateway does not hold makes the letter at
least ลับ, whatever encrypted it (leak red team, 30 Nov 2026).

Seed 004 (appendix ก) asks that ลับ and ลับมาก letters travel electronically only
encrypted; a sender who does that with the tools at hand protects the Word file with a
password, or encrypts it with OpenPGP or S/MIME to the registrar. A PDF with a password
was already "classified-opaque" (at least ลับ); every other encrypted file was read as
no text, so the letter was *certain* it was ordinary: registered in the general book
with its subject in plain, and filed into the unit's ordinary folder instead of going
to the secret registrar. Each case here was ordinary and certain before, Outlook's
winmail.dat too (not encrypted, but as closed to the gateway: the letter's own files
packed in a format only Outlook opens)."""
from __future__ import annotations

import base64
import struct

import pytest

from gateway.secrecy.markings import classify_raw
from tests.secrecy.test_mime_hidden_markings import LETTER_LINES, _docx, _zip, file_part, mixed, text_part

# `gpg --batch --pinentry-mode loopback --passphrase x --symmetric --armor` of "ลับมาก\n"
# (GnuPG 2.2.40): what an OpenPGP user attaches or pastes into the body.
PGP_MESSAGE = """-----BEGIN PGP MESSAGE-----

jA0ECQMCAO0tBT0u2XD/0lABv0ENBQ0AmrobwY4jedmZ0F2fP1VV472XwQJgkSxB
D6UcSrL1iYSdRvqgqr5B2REElH153J7Ow9kG6iezdmKmCpqjHEqgg8Hk/SpKfE7c
hQ==
=3Usv
-----END PGP MESSAGE-----
"""

# The same, binary (no --armor): what `gpg -c letter.pdf` leaves as letter.pdf.gpg.
PGP_BINARY = base64.b64decode("jA0ECQMCYoQIWypgknP/0lABbqGWQpnoLFsQ5D2QoQxBuvWG2T9fiWS915kxG5HudIRcQM3214Afgf3FHW87MwgxGmQWnwICxfpOoiTAPHVzyL3vXUocyUKeNi4befoWZQ==")

# The head of a winmail.dat (MS-OXTNEF 2.1.3): signature, key, then attTnefVersion.
TNEF = (struct.pack("<IH", 0x223E9F78, 0x01D5) + b"\x01" + struct.pack("<II", 0x00089006, 4)
        + struct.pack("<I", 0x00010000) + struct.pack("<H", 1))


def cfb(streams: dict[str, bytes]) -> bytes:
    """An OLE compound file (MS-CFB version 3) holding `streams` at the top level, each
    padded to 4096 bytes so that none lives in the mini stream: the container Office
    writes a password-protected DOCX/XLSX/PPTX into (streams EncryptionInfo and
    EncryptedPackage, MS-OFFCRYPTO 2.3.4)."""
    sector = 512
    names = list(streams)
    datas = [streams[n].ljust(4096, b"\0") for n in names]
    fat = [0xFFFFFFFD, 0xFFFFFFFE]  # sector 0: the FAT; sector 1: the directory
    starts = []
    for data in datas:
        count = len(data) // sector
        first = len(fat)
        starts.append(first)
        fat += [first + i + 1 for i in range(count - 1)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (sector // 4 - len(fat))
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
              + struct.pack("<I", 0) + b"\xff" * 4 * 108)

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0"
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
                + struct.pack("<III", left, right, child) + b"\0" * 16 + b"\0" * 4 + b"\0" * 16
                + struct.pack("<IQ", start, size))

    none = 0xFFFFFFFF
    directory = entry("Root Entry", 5, none, none, 1, 0xFFFFFFFE, 0)
    for n, (name, data) in enumerate(zip(names, datas), start=1):
        directory += entry(name, 2, none, n + 1 if n < len(names) else none, none, starts[n - 1], len(data))
    directory = directory.ljust(sector, b"\0")
    return header + struct.pack(f"<{sector // 4}I", *fat) + directory + b"".join(datas)


def protected_docx() -> bytes:
    return cfb({"EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00<?xml version=\"1.0\"?><encryption/>",
                "EncryptedPackage": struct.pack("<Q", 12000) + bytes(range(256)) * 16})


def protected_odt() -> bytes:
    """As LibreOffice saves with a password: content.xml is ciphertext, the manifest says so."""
    manifest = (b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
                b'<manifest:encryption-data manifest:checksum-type="urn:oasis:names:tc:opendocument:xmlns:'
                b'manifest:1.0#sha256-1k" manifest:checksum="AAAA"><manifest:algorithm manifest:algorithm-name='
                b'"http://www.w3.org/2001/04/xmlenc#aes256-cbc" manifest:initialisation-vector="AAAA"/>'
                b'</manifest:encryption-data></manifest:file-entry></manifest:manifest>')
    return _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "META-INF/manifest.xml": manifest,
                 "content.xml": bytes(range(256)) * 8})


def smime_enveloped(content: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    from tests.secrecy.certs import make_cert

    _key, cert = make_cert("registrar latkrabang")
    return (pkcs7.PKCS7EnvelopeBuilder().set_data(content).add_recipient(cert)
            .encrypt(serialization.Encoding.DER, []))


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


ENCRYPTED = {
    "a Word file saved with a password": lambda: file_part(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "2569_dds_0403_57.docx",
        protected_docx()),
    "the same, sent as octet-stream": lambda: file_part("application/octet-stream", "enclosure.docx",
                                                         protected_docx()),
    "an OpenDocument file saved with a password": lambda: file_part(
        "application/vnd.oasis.opendocument.text", "2569_dds_0403_57.odt", protected_odt()),
    "a password-protected Word file inside a ZIP": lambda: file_part(
        "application/zip", "letters.zip", _zip({"2569_dds_0403_57.docx": protected_docx()})),
    "an S/MIME encrypted file attached": lambda: file_part(
        'application/pkcs7-mime; smime-type=enveloped-data', "smime.p7m", smime_enveloped("ลับมาก".encode())),
    "an S/MIME encrypted file without its smime-type": lambda: file_part(
        "application/octet-stream", "letter.pdf.p7m", smime_enveloped("%PDF-1.4 ลับมาก".encode())),
    "an OpenPGP message attached": lambda: file_part("application/octet-stream", "letter.pdf.asc",
                                                      PGP_MESSAGE.encode()),
    "a binary OpenPGP file attached": lambda: file_part("application/octet-stream", "letter.pdf.gpg", PGP_BINARY),
    # Outlook's rich-text mail packs the letter's files into winmail.dat (MS-OXTNEF):
    # read since session 17 (tests/test_containers_session17.py), but one cut short may
    # have lost a file.
    "an Outlook winmail.dat cut short": lambda: file_part("application/ms-tnef", "winmail.dat", TNEF + b"\x02\x0f\x80"),
}


@pytest.mark.parametrize("case", sorted(ENCRYPTED))
def test_an_encrypted_file_makes_the_letter_at_least_confidential(case):
    raw = mixed(text_part(), ENCRYPTED[case]())
    assert reading(raw) == ("confidential", False), case


def test_a_pgp_mime_letter_and_an_inline_pgp_body_are_at_least_confidential():
    pgp_mime = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
                b"Subject: =?utf-8?B?" + base64.b64encode("ขอส่งแผนการปฏิบัติงาน".encode()) + b"?=\r\n"
                b"MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";"
                b" boundary=EE\r\n\r\n--EE\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
                b"--EE\r\nContent-Type: application/octet-stream; name=encrypted.asc\r\n\r\n"
                + PGP_MESSAGE.replace("\n", "\r\n").encode() + b"--EE--\r\n")
    assert reading(pgp_mime) == ("confidential", False)
    inline = mixed(text_part(("เรียน ผู้อำนวยการเขตลาดกระบัง\r\n" + PGP_MESSAGE).encode()))
    assert reading(inline) == ("confidential", False)


def test_files_that_are_not_encrypted_leave_the_letter_ordinary():
    word = _docx(LETTER_LINES)
    old_word = cfb({"WordDocument": "ขอส่งแผน".encode("utf-16-le"), "1Table": b"\0" * 64})
    for part in (file_part("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx", word),
                 file_part("application/msword", "a.doc", old_word),
                 file_part("text/plain; charset=utf-8", "readme.txt", "ขอส่งแผนการปฏิบัติงาน".encode())):
        assert reading(mixed(text_part(), part)) == ("none", True)


def test_over_smtp_a_letter_with_a_password_protected_word_file_is_sealed(tmp_path):
    from tests.classified.helpers import MARKER, db_rows, files_containing, log_lines_containing, maildir, sealing_daemon
    from tests.letters import letter, make_pdf

    with sealing_daemon(tmp_path / "gw") as d:
        raw = letter(subject=f"ขอส่งแผนรักษาความปลอดภัย {MARKER}", body=f"เรียน ผู้อำนวยการเขตลาดกระบัง\n{MARKER}\n",
                     files=[("2569_dds_0403_57.pdf", make_pdf("cover letter")),
                            ("2569_dds_0403_57_1.docx", protected_docx())])
        qid = d.send(raw, "saraban.latkrabang@bangkok.go.th")
        d.wait_idle()
        # The unit's policy holds a .docx that is no ZIP; held or registered, it is sealed.
        assert db_rows(d, "select count(*) from letters where queue_id = ? and book = 'general'", qid) == [(0,)]
        assert db_rows(d, "select state, subject from quarantine where queue_id = ?", qid) == [("held", None)]
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        assert maildir(d, "latkrabang") == []  # not the unit's ordinary folder
    assert files_containing(d.data_dir, MARKER) == []
    assert log_lines_containing(d, MARKER) == []
