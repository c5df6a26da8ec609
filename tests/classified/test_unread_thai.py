"""The Thai sentence of `classified_unread` names what was not read in Thai (session 36).

The finding's phrases (`ParsedMail.unread`: "file 2: member could not be unpacked
(damaged)", "file 1: password-protected PDF") are English, and until session 36 the Thai
sentence the central saraban unit's clerks read listed them so, in English. Now the Thai
sentence gives each in Thai (gateway/pipeline/unread_words.py `thai_phrase`), the English
one keeps the English. Every phrase shape the parse writes has its Thai: the table below
mirrors each site, and `test_every_phrase_written_in_the_source_has_its_thai` reads the
source itself, so a phrase added without Thai fails here."""
from __future__ import annotations

import ast
import io
import itertools
import json
import re
import zipfile
from collections import Counter

import pytest

from gateway.pipeline import file_texts, outlook, parse, scanned_pages
from gateway.pipeline.classified import UNREAD_SHOWN, unread_finding
from gateway.pipeline.parse import MAX_DEPTH, inspect_pdf, parse_mail
from gateway.pipeline.unread_words import _WHY, thai_phrase, why_unread
from tests.classified.helpers import LATKRABANG, db_rows, sealing_daemon
from tests.classified.test_damaged_enclosures_session35 import damaged_zip, truncated_tar
from tests.classified.test_red_team_session14 import COVER
from tests.classified.test_red_team_session15 import file_letter, rar5, sevenz
from tests.letters import letter
from tests.paths import REPO
from tests.secrecy.test_mime_hidden_markings import _zip, file_part, mixed, text_part
from tests.thai_pdfs import thai_pdf

# Latin words the Thai may keep: the names of formats, programs and units a Thai clerk
# sees written so (a Thai sentence names a "ไฟล์ PDF", never a transliteration).
ALLOWED = re.compile(
    r"winmail\.dat|\.msg|\.p7m|OpenDocument|OpenPGP|S/MIME|PowerPoint|Publisher|Outlook|Office|BinHex|base64"
    r"|Unix compress|Visio|Excel|Word|yEnc|TNEF|lzip|zstd|LZ4|CAB|OCR|PDF|XML|XPS|ZIP|RAR|RTF|tar|7z|MB"
    r"|Apple|Pages|Numbers|Keynote|HEIC|AVIF")

MB = file_texts.MAX_UNPACKED // 2**20
# The places a phrase begins with (`what` in parse.py and file_texts.py).
PLACES = ["file 2", "file", "file 2 member 3", "file 2 member 3 member 1", "file 2 part", "file 2 uuencoded",
          "file 2 member 1 part", "a file uuencoded in the body (file 4)", "file 2: file 1",
          "file 2: file 1 member 2"]
WHYS = list(_WHY)
OFFICE = sorted(set(file_texts._OLD_OFFICE.values()))
NOT_UNPACKED = sorted({kind for _, kind in file_texts._NOT_UNPACKED})

# One phrase of each site, as the site writes it ("{what}" a place), by file.
PARSE_SITES = [
    "{what}: could not be read ({why})",                                  # _other_file_texts
    "{what}: Outlook TNEF file (winmail.dat) {tnef}",                     # _container_files
    f"{{what}}: a file past the {MB} MB read",                            # _container_files
    f"{{what}}: a message nested past {MAX_DEPTH} levels",                # _embedded_message
    "{what}: an attached message ({why})",                                # _embedded_message
    "{what}: an S/MIME encrypted file",                                   # _signed_file
    "{what}: an S/MIME signed letter that is not signed data",            # _opaque_signed
    "{what}: an S/MIME letter that could not be opened",                  # _opaque_signed
    "{what}: an S/MIME signed letter without its content",                # _opaque_signed
    "{what}: an S/MIME signed letter that could not be unwrapped",        # _opaque_signed
    "{what}: parts beyond the first ones",                                # folded
    "{what} password-protected",                                          # _read_of_file
    "{what}",                                                             # _read_of_file
    parse._HEADER_CUT, parse._NO_BOUNDARY,                                # _cut_defects
    "a part encrypted with OpenPGP",                                      # _message_as_read
    "a part whose base64 goes on after its padding",                      # _message_as_read
    parse.AMBIGUOUS_DELIMITER,                                            # _message_as_read
    parse.TWO_TRANSFER_ENCODINGS,                                         # _both_transfer_readings
    parse.PAST_PADDING,                                                   # _past_padding_readings
    parse.TWO_CHARSETS,                                                   # _both_charset_readings
    parse.YENC_LONG_LINES,                                                # _yenc_decoded
    "an attached message that could not be decoded",                      # _expand_encoded
    f"a message nested past {MAX_DEPTH} levels",                          # _expand_encoded
    "a body encrypted with OpenPGP",                                      # parse_mail
    "an S/MIME signed letter that is not signed data",                    # _with_signed_letter: _opaque_signed
    "an S/MIME letter that could not be opened",
    "an S/MIME signed letter without its content",
    "an S/MIME signed letter that could not be unwrapped",
    f"a signed letter nested past {MAX_DEPTH} levels",                    # _with_signed_letter
    "an S/MIME signed letter ({why})",                                    # _with_signed_letter
    "a file yEnc- or BinHex-encoded in the body",                         # _body_files
    "a file uuencoded in the body past the size read",                    # _body_files
]
FILE_TEXTS_SITES = [
    "files uuencoded in a text past the first ones",                      # uuencoded
    f"{{what}}: a uuencoded file past the {MB} MB read",                  # _uuencoded_into
    "{what}: encrypted member",                                           # _read_member
    f"{{what}}: member unpacks to {file_texts.MAX_RATIO}+ times its size",
    f"{{what}}: member past the {MB} MB read",
    "{what}: member could not be unpacked ({why})",
    "{what}: member past the limits of what is unpacked",
    "{what}: relationships past the size read",                           # _relationships
    "{what}: an imported part that is not in the file",                   # _office_chunks
    f"{{what}}: an imported part nested past {file_texts.MAX_DEPTH} levels",
    f"{{what}}: embedded objects past the first {file_texts.MAX_MEMBERS}",  # _office_embeddings
    f"{{what}}: an embedded object nested past {file_texts.MAX_DEPTH} levels",
    "{what}: an embedded object that could not be read",                  # _ole_object
    "{what}: an embedded Visio drawing",
    "{what}: password-protected OpenDocument file",                       # _office_texts
    "{what}: an office file whose main part is not in it",                # _office_elsewhere
    "{what}: an office file whose main part could not be read",
    f"{{what}}: {file_texts.IWORK_NOT_READ}",                              # _zip (session 56)
    "{what}: an Excel binary workbook of more records than are read",
    "{what}: an Excel binary workbook part that could not be read whole (damaged)",
    "{what}: an office file with two parts of one name",                  # _office
    f"{{what}}: {file_texts.ENTITIES_PAST_LIMIT}",                         # text_file (session 42)
    f"{{what}}: {file_texts.GLYPHS_PAST_LIMIT}",                           # text_file (session 43)
    f"{{what}}: {file_texts.GLYPHS_WITHOUT_TEXT}",                         # text_file (session 43)
    f"{{what}}: members past the first {file_texts.MAX_PARTS}",            # _office_texts
    f"{{what}}: an archive of more than {file_texts.MAX_ENTRIES} entries",  # _zip, _tar
    "{what}: an archive with entries its directory does not list",
    "{what}: archive or office file could not be opened (damaged)",       # _zip (session 39)
    f"{{what}}: archive nested past {file_texts.MAX_DEPTH} levels",       # _zip, _without_reader, _message, _tnef
    f"{{what}}: members past the first {file_texts.MAX_MEMBERS}",
    "{what}: password-protected PDF",                                     # pdf_texts
    "{what}: PDF",
    "{what}: compound file of a kind not read (Outlook .msg, Visio, Publisher)",  # _old_office
    "{what}: {office} 97-2003 file whose text could not be found",
    "{what}: {office} 97-2003 file past what is read",
    "{what}: {office} 97-2003 file that could not be read (damaged)",  # _old_office (session 39)
    "{what}: compound file (Word, Excel, PowerPoint 97-2003...) cut short (damaged)",
    "{what}: compressed file could not be unpacked ({why})",              # _unpacked
    "{what}: compressed file past the limits of what is unpacked",
    "{what}: compressed file cut short (damaged)",                        # _unpacked (session 39)
    "{what}: tar archive could not be opened ({why})",                    # _tar
    "{what}: tar archive could not be read to its end ({why})",
    "{what}: {kind}",                                                     # _without_reader
    f"{{what}}: messages in archives past the first {file_texts.MAX_ARCHIVED_MESSAGES}",  # _message
    "{what}: a message inside an archive (not read here)",
    "{what}: Outlook TNEF file (winmail.dat) {tnef}",                     # _tnef
    "{what}: a signed or encrypted file (.p7m) that could not be opened",  # _p7m
    f"{{what}}: a file signed more than {file_texts.MAX_SIGNED_LAYERS} times over",
    "{what}: {not_read}",                                                 # _picture_into: scanned_pages.NotRead
    "{what}: RTF past what is read",                                      # _rtf_into
    "{what}: {encrypted}",                                                # _any_file, read_texts: `encrypted`
]
# outlook.py `Tnef.problem`, said after "Outlook TNEF file (winmail.dat)".
TNEF_PROBLEMS = [
    "whose end could not be read",
    f"files past the first {outlook.MAX_FILES}",
    "an Outlook item inside it",
    "more properties than a letter's TNEF file has",                      # _TooMuch, str(exc)
    "more objects than a letter's TNEF file has",                         # _TooMuch, str(exc)
    "could not be read ({why})",
    "could not be read whole",
]
# scanned_pages.py `NotRead`: what file_texts.py `_picture_into` says after the place.
NOT_READ = [
    "a scanned page (no OCR on this machine)", "a scanned picture (no OCR on this machine)",
    "a marking drawn as a picture or outlines (no OCR on this machine)",
    "a scanned page that could not be drawn ({why})", "a scanned picture that could not be drawn ({why})",
    f"a scanned picture not read within {scanned_pages.PICTURES_TIME:.0f} s",
    "a scanned page not read within 30 s", "a scanned page (OCR could not start)",
    "a scanned page (OCR failed, exit 1)", "a scanned page (OCR failed, exit -11)",
    f"a scanned picture of more than {scanned_pages.MAX_PICTURE_PIXELS // 1_000_000} million pixels",
    f"a scanned picture of more than {scanned_pages.MAX_FRAMES} frames",
    scanned_pages.HEIF_NOT_READ,                                          # picture_marking_lines (session 56)
    f"drawings (stamps, pictures, outlines) not read within {scanned_pages.DRAWINGS_TIME:.0f} s",
    f"drawings (stamps, pictures, outlines) past the first {scanned_pages.MAX_DRAWINGS} read",
    "a head or foot drawing paths too heavy to draw (1,200,000 segments)",
    "a page's head or foot that could not be drawn ({why})",
]
ENCRYPTED = ["password-protected Office file", "password-protected 7z archive", "password-protected RAR archive",
             "OpenPGP-encrypted file"]


def expanded(template: str) -> list[str]:
    """Every phrase `template` stands for: each place, reason word, kind..."""
    names = re.findall(r"\{(\w+)\}", template)
    slots = {"what": PLACES, "why": WHYS, "office": OFFICE, "kind": NOT_UNPACKED, "encrypted": ENCRYPTED}
    if "tnef" in names:
        slots["tnef"] = [p for t in TNEF_PROBLEMS for p in expanded(t)]
    if "not_read" in names:
        slots["not_read"] = [p for t in NOT_READ for p in expanded(t)]
    out = []
    for values in itertools.product(*(slots[n] for n in names)):
        phrase = template
        for name, value in zip(names, values):
            phrase = phrase.replace("{" + name + "}", value, 1)
        out.append(phrase)
    return out


ALL = sorted({p for t in PARSE_SITES + FILE_TEXTS_SITES for p in expanded(t)})


def is_thai(english: str) -> str | None:
    """What is wrong with `thai_phrase(english)`, or None when it is Thai."""
    thai = thai_phrase(english)
    if thai == english:
        return f"no Thai for {english!r}"
    if not re.search(r"[\u0e01-\u0e5b]", thai):
        return f"{english!r} -> {thai!r}: no Thai in it"
    latin = re.findall(r"[A-Za-z]+", ALLOWED.sub(" ", thai))
    if latin:
        return f"{english!r} -> {thai!r}: English words {latin}"
    numbers = Counter(re.findall(r"\d[\d,]*", english.replace("97-2003", "")))
    if Counter(re.findall(r"\d[\d,]*", thai.replace("97-2003", ""))) != numbers:
        return f"{english!r} -> {thai!r}: its numbers not kept"
    return None


# --------------------------------------------------------------------------- the table


def test_every_phrase_shape_of_every_site_is_thai():
    wrong = [w for p in ALL if (w := is_thai(p))]
    assert not wrong, "\n".join(wrong[:40])
    # A message attached inside another says its phrases after its own place
    # (parse.py `folded`): those are Thai as well.
    wrong = [w for p in ALL if (w := is_thai(f"file 3: {p}"))]
    assert not wrong, "\n".join(wrong[:40])


@pytest.mark.parametrize("english, thai", [
    ("file 2: member could not be unpacked (damaged)", "ไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (ไฟล์เสียหาย)"),
    ("file 1: password-protected PDF", "ไฟล์ที่ 1: ไฟล์ PDF ที่ติดรหัสผ่าน"),
    ("a body encrypted with OpenPGP", "เนื้อความที่เข้ารหัสด้วย OpenPGP"),
    ("file 3: archive nested past 8 levels", "ไฟล์ที่ 3: แฟ้มบีบอัดที่ซ้อนกันเกิน 8 ชั้น"),
    ("file 2: 7z archive", "ไฟล์ที่ 2: แฟ้มบีบอัด 7z"),
    ("file 2 member 3: encrypted member", "ไฟล์ย่อยที่ 3 ในไฟล์ที่ 2: ไฟล์ย่อยที่ติดรหัสผ่าน"),
    ("file 2: file 1 password-protected", "ไฟล์ที่ 1 ในไฟล์ที่ 2 ติดรหัสผ่าน"),
    ("file 2: file 1", "ไฟล์ที่ 1 ในไฟล์ที่ 2"),
    ("file 2: file 1: member could not be unpacked (packed in a way the gateway cannot unpack)",
     "ไฟล์ที่ 1 ในไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (บีบอัดด้วยวิธีที่ระบบแตกไฟล์ไม่ได้)"),
    ("file 1: Outlook TNEF file (winmail.dat) could not be read whole",
     "ไฟล์ที่ 1: ไฟล์ Outlook แบบ TNEF (winmail.dat) ที่อ่านได้ไม่ครบทั้งไฟล์"),
    ("file 2: Excel 97-2003 file past what is read", "ไฟล์ที่ 2: ไฟล์ Excel 97-2003 ที่ยาวเกินส่วนที่ระบบอ่าน"),
    ("a file uuencoded in the body (file 3) password-protected",
     "ไฟล์ที่ 3 (แปลงรหัสฝังไว้ในเนื้อความ) ติดรหัสผ่าน"),
])
def test_the_thai_of_the_phrases_a_clerk_sees_most(english, thai):
    assert thai_phrase(english) == thai


def test_every_word_why_unread_says_has_its_thai():
    import lzma
    import zlib

    for exc in (MemoryError(), RecursionError(), TimeoutError(), NotImplementedError(), RuntimeError(), KeyError(),
                IndexError(), zlib.error(), lzma.LZMAError(), zipfile.BadZipFile(), ValueError(), OSError()):
        assert why_unread(exc) in _WHY, exc
    assert set(WHYS) == set(_WHY)


def test_a_phrase_of_a_shape_it_does_not_know_is_kept_as_it_is_never_dropped():
    for english in ("file 2: a reason session 99 added", "something new", "", ": ", "file 2: ", "file 2:",
                    "file 2 member x: damaged", "file 1: Outlook TNEF file (winmail.dat) a new problem",
                    "file 2: could not be read (a new word)", "file 2: {n} {why}", "\x00file 2"):
        assert thai_phrase(english) == english or is_thai(english) is None, english
    assert thai_phrase("file 2: a reason session 99 added") == "file 2: a reason session 99 added"
    assert thai_phrase("file 2: could not be read (a new word)") == "file 2: could not be read (a new word)"


def test_the_finding_gives_the_thai_in_the_thai_sentence_and_the_english_in_the_english_one():
    unread = ["file 2: member could not be unpacked (damaged)", "file 3: password-protected PDF",
              "a body encrypted with OpenPGP", "file 4: a reason no table knows"]
    finding = unread_finding(unread)
    assert "(ไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (ไฟล์เสียหาย); ไฟล์ที่ 3: ไฟล์ PDF ที่ติดรหัสผ่าน; " \
           "เนื้อความที่เข้ารหัสด้วย OpenPGP; file 4: a reason no table knows)" in finding.message_th
    assert "(file 2: member could not be unpacked (damaged); file 3: password-protected PDF; " \
           "a body encrypted with OpenPGP; file 4: a reason no table knows)" in finding.message_en
    many = unread_finding([f"file {n}: 7z archive" for n in range(1, UNREAD_SHOWN + 4)])
    assert many.message_th.count("แฟ้มบีบอัด 7z") == UNREAD_SHOWN and "; +3)" in many.message_th
    assert many.message_en.count("7z archive") == UNREAD_SHOWN and "; +3)" in many.message_en


# --------------------------------------------------------------------------- the real parse


def _password_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(thai_pdf(["ลับ", "บันทึกข้อความ"]))))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _deep_zip(depth: int) -> bytes:
    data = b"x"
    for _ in range(depth):
        data = _zip({"inner.zip": data})
    return data


def _encrypted_member_zip() -> bytes:
    data = bytearray(_zip({"a.txt": "ตาราง " * 50}))
    for at in (6, data.rfind(b"PK\x01\x02") + 8):  # the general-purpose flag, local and central
        data[at] |= 1
    return bytes(data)


def _eml(raw: bytes) -> bytes:
    """A letter carrying a forwarded one as a file (`fwd.eml`, octet-stream): read as an
    attached message (parse.py `_embedded_message`), its phrases after its place."""
    return mixed(text_part(), file_part("application/octet-stream", "fwd.eml", raw))


# A letter of each kind, and the Thai of what the real parse says of it.
REAL = {
    "damaged zip member": (file_letter("a.zip", damaged_zip(zipfile.ZIP_DEFLATED)),
                           "ไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (ไฟล์เสียหาย)"),
    "tar cut short": (file_letter("a.tar", truncated_tar()), "ไฟล์ที่ 2: อ่านแฟ้มบีบอัด tar ไม่ได้จนจบ (ไฟล์เสียหาย)"),
    "damaged gzip": (file_letter("a.txt.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 200),
                     "ไฟล์ที่ 2: แตกไฟล์บีบอัดไม่ได้ (ไฟล์เสียหาย)"),
    "7z": (file_letter("a.7z", sevenz(False)), "ไฟล์ที่ 2: แฟ้มบีบอัด 7z"),
    "7z with a password": (file_letter("a.7z", sevenz(True)), "ไฟล์ที่ 2: แฟ้มบีบอัด 7z ที่ติดรหัสผ่าน"),
    "rar with a password": (file_letter("a.rar", rar5("files")), "ไฟล์ที่ 2: แฟ้มบีบอัด RAR ที่ติดรหัสผ่าน"),
    "encrypted zip member": (file_letter("a.zip", _encrypted_member_zip()), "ไฟล์ที่ 2: ไฟล์ย่อยที่ติดรหัสผ่าน"),
    "password pdf zipped": (file_letter("a.zip", _zip({"a.pdf": _password_pdf()})),
                            "ไฟล์ย่อยที่ 1 ในไฟล์ที่ 2: ไฟล์ PDF ที่ติดรหัสผ่าน"),
    "zip nested deep": (
        file_letter("a.zip", _deep_zip(file_texts.MAX_DEPTH + 3)),
        f"ไฟล์ย่อยที่ 1 ในไฟล์ย่อยที่ 1 ในไฟล์ที่ 2: แฟ้มบีบอัดที่ซ้อนกันเกิน {file_texts.MAX_DEPTH} ชั้น"),
    "openpgp body": (
        letter(subject="เรื่อง ทดสอบ", body=f"{file_texts.PGP_ARMOR}\n\nhQEMA\n-----END PGP MESSAGE-----\n"),
        "เนื้อความที่เข้ารหัสด้วย OpenPGP"),
    "forwarded letter with a 7z": (_eml(file_letter("b.7z", sevenz(False))), "ไฟล์ที่ 2 ในไฟล์ที่ 1: แฟ้มบีบอัด 7z"),
    "forwarded letter with a password pdf": (_eml(letter(files=[("x.pdf", _password_pdf())])),
                                             "ไฟล์ที่ 1 ในไฟล์ที่ 1 ติดรหัสผ่าน"),
    "zipped forwarded letter with a damaged zip": (
        file_letter("a.zip", _zip({"fwd.eml": file_letter("b.zip", damaged_zip(zipfile.ZIP_DEFLATED))})),
        "ไฟล์ที่ 2 ในไฟล์ย่อยที่ 1 ในไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (ไฟล์เสียหาย)"),
}


@pytest.mark.parametrize("case", REAL)
def test_what_the_real_parse_says_is_thai(case):
    raw, thai = REAL[case]
    mail = parse_mail(raw, "", inspect_pdf)
    assert mail.unread, case
    wrong = [w for p in mail.unread if (w := is_thai(p))]
    assert not wrong, wrong
    assert thai_phrase(mail.unread[0]) == thai, mail.unread
    finding = unread_finding(mail.unread)
    assert thai in finding.message_th and mail.unread[0] in finding.message_en
    assert not [p for p in mail.unread if p in finding.message_th], finding.message_th


# --------------------------------------------------------------------------- the source

SOURCES = {"gateway/pipeline/parse.py": parse, "gateway/pipeline/file_texts.py": file_texts,
           "gateway/pipeline/outlook.py": outlook, "gateway/pipeline/scanned_pages.py": scanned_pages}
# What is written without a literal: parse.py `_read_of_file`'s bare place, and outlook.py's
# `problem = str(exc)` (a _TooMuch's words, read from its `raise`).
BARE = {("gateway/pipeline/parse.py", "what"), ("gateway/pipeline/outlook.py", "str(exc)"),
        ("gateway/pipeline/parse.py", "AMBIGUOUS_DELIMITER"),
        ("gateway/pipeline/parse.py", "TWO_TRANSFER_ENCODINGS"),
        ("gateway/pipeline/parse.py", "PAST_PADDING"),
        ("gateway/pipeline/parse.py", "TWO_CHARSETS"),
        ("gateway/pipeline/parse.py", "YENC_LONG_LINES"),  # their phrases are in the list above
        ("gateway/pipeline/parse.py", "_HEADER_CUT"),  # its assignment is read (`_literals`)
        ("gateway/pipeline/scanned_pages.py", "HEIF_NOT_READ")}
# Numbers a phrase takes from a local variable (a limit's value comes from the module).
LOCAL_NUMBERS = {"timeout", "done.returncode", "weight"}


def _literals(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """(literal, site) of every phrase written into an `unread` list, a `problem`, a
    `NotRead` or `_TooMuch`, or a reason `_opaque_signed` or `encrypted` returns."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append" \
                and ast.unparse(node.func.value).split(".")[-1] == "unread":
            out.append((node.args[0], "unread"))
        elif isinstance(node, ast.BinOp) and ast.unparse(node.left).endswith(".unread") \
                and isinstance(node.right, ast.Tuple):
            out += [(e, "unread") for e in node.right.elts]
        elif isinstance(node, ast.Assign) and ast.unparse(node.targets[0]).split(".")[-1] == "problem":
            out.append((node.value, "problem"))
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                and ast.unparse(node.exc.func) in ("NotRead", "_TooMuch"):
            out.append((node.exc.args[0], ast.unparse(node.exc.func)))
        elif isinstance(node, ast.FunctionDef) and node.name in ("encrypted", "_opaque_signed"):
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    value = ret.value.elts[1] if isinstance(ret.value, ast.Tuple) else ret.value
                    out += [(leaf, node.name) for leaf in _branches(value)
                            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)]
        elif isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) in ("_HEADER_CUT", "_NO_BOUNDARY"):
            out.append((node.value, "unread"))  # parse.py `_cut_defects`
    return out


def _branches(value: ast.AST) -> list[ast.AST]:
    """What a returned expression can be: `a if c else b` either."""
    return _branches(value.body) + _branches(value.orelse) if isinstance(value, ast.IfExp) else [value]


def _phrases(node: ast.AST, samples: dict, module) -> list[str]:
    """Every phrase an (f-)string literal writes, its placeholders each what `samples`
    says it can be, or the module's limit, or a number."""
    if isinstance(node, ast.Constant):
        return [node.value]
    pieces: list[list[str]] = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            pieces.append([value.value])
            continue
        expression = ast.unparse(value.value)
        spec = "".join(c.value for c in value.format_spec.values) if value.format_spec else ""
        if expression in samples:
            pieces.append(samples[expression])
        elif expression in LOCAL_NUMBERS:
            pieces.append([format(30, spec)])
        else:
            try:
                number = eval(expression, vars(module))  # noqa: S307 - a limit: MAX_DEPTH, MAX_UNPACKED // 2**20
            except Exception:  # noqa: BLE001
                number = None
            assert isinstance(number, (int, float)), (
                f"a placeholder {{{expression}}} this test does not know: say what it can be (`samples`, "
                "LOCAL_NUMBERS) and give its phrases their Thai (gateway/pipeline/unread_words.py)")
            pieces.append([format(number, spec)])
    return ["".join(p) for p in itertools.product(*pieces)]


def _shape(phrase: str) -> str:
    return re.sub(r"\d[\d,.]*", "N", phrase)


def test_every_phrase_written_in_the_source_has_its_thai():
    sites: dict[str, list] = {}
    bare = set()
    for path, module in SOURCES.items():
        for node, site in _literals(ast.parse((REPO / path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                sites.setdefault((path, site), []).append((node, module))
            else:
                bare.add((path, ast.unparse(node)))
    assert bare == BARE, f"a phrase written without a literal this test cannot read: {bare - BARE}"

    # scanned_pages.py's `what` is what `_tesseract` and `_drawn` are called with.
    scanned: dict[str, list[str]] = {}
    tree = ast.parse((REPO / "gateway/pipeline/scanned_pages.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("_tesseract", "_drawn"):
            scanned.setdefault(ast.unparse(node.func), []).extend(
                a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    raised_in = {id(raised): f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                 for raised in ast.walk(f)}
    assert set(scanned) == {"_tesseract", "_drawn"}

    def said(*keys, samples=None) -> list[str]:
        def what(node, module):
            if module is scanned_pages:
                return scanned.get(raised_in.get(id(node)), [])
            return PLACES
        return [p for key in keys for node, module in sites.get(key, ())
                for p in _phrases(node, samples or {"what": what(node, module), "why_unread(exc)": WHYS}, module)]

    # What the placeholders that carry another phrase stand for, read from the source too.
    alone = said(("gateway/pipeline/parse.py", "_opaque_signed"))
    problem = alone + said(("gateway/pipeline/parse.py", "problem"))
    samples = {
        "what": PLACES, "why_unread(exc)": WHYS, "_OLD_OFFICE[main]": OFFICE, "kind": NOT_UNPACKED,
        "found.problem": said(("gateway/pipeline/outlook.py", "problem"), ("gateway/pipeline/outlook.py", "_TooMuch")),
        "problem": problem,
        "found": said(("gateway/pipeline/file_texts.py", "encrypted")),
        "exc": said(("gateway/pipeline/scanned_pages.py", "NotRead")),
        "ENTITIES_PAST_LIMIT": [file_texts.ENTITIES_PAST_LIMIT],
        "GLYPHS_PAST_LIMIT": [file_texts.GLYPHS_PAST_LIMIT],
        "GLYPHS_WITHOUT_TEXT": [file_texts.GLYPHS_WITHOUT_TEXT],
        "IWORK_NOT_READ": [file_texts.IWORK_NOT_READ],
    }
    assert len(samples["found.problem"]) >= 7 and len(set(samples["found"])) == 4 and len(samples["exc"]) >= 10
    phrases = set(alone)  # `_with_signed_letter` says an `_opaque_signed` problem alone
    for path in SOURCES:
        phrases |= set(said((path, "unread"), samples=samples))
    assert len(phrases) > 500, len(phrases)  # the walk found the sites
    wrong = [w for p in sorted(phrases) if (w := is_thai(p))]
    assert not wrong, "\n".join(wrong[:40])
    # And the table above mirrors every shape the source writes.
    mirrored = {_shape(p) for p in ALL}
    missing = sorted({_shape(p) for p in phrases} - mirrored)
    assert not missing, missing[:20]


def test_no_other_module_writes_a_phrase_of_the_finding():
    """A phrase written in a module the source test does not read would have no Thai."""
    writes = re.compile(r"\bunread\.append\(|\bunread \+= |\.unread \+ \(")
    found = {str(p.relative_to(REPO)) for p in (REPO / "gateway").rglob("*.py")
             if writes.search(p.read_text(encoding="utf-8"))}
    assert found <= set(SOURCES), found - set(SOURCES)


# --------------------------------------------------------------------------- over SMTP


def test_over_smtp_the_register_finding_names_the_unread_files_in_thai_and_in_english(tmp_path):
    """Through the daemon: the sealed letter's register finding gives the clerk each
    unread file's reason in Thai in the Thai sentence, in English in the English one."""
    raw = letter(subject="ขอส่งแผนการปฏิบัติงาน", body="เรียน ผู้อำนวยการเขตลาดกระบัง\n",
                 files=[("2569_dds_0403_57.pdf", COVER), ("2569_dds_0403_57_1.zip", damaged_zip(zipfile.ZIP_DEFLATED)),
                        ("2569_dds_0403_57_2.zip", _zip({"a.pdf": _password_pdf()}))])
    with sealing_daemon(tmp_path / "gw") as d:
        qid = d.send(raw, LATKRABANG)
        d.wait_idle(timeout=120)
        (book, findings), = db_rows(d, f"select book, findings from letters where queue_id = '{qid}'")
    assert book == "secret"
    [unread] = [f for f in json.loads(findings) if f["rule"] == "classified_unread"]
    assert "ไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (ไฟล์เสียหาย)" in unread["message_th"], unread
    assert "ไฟล์ย่อยที่ 1 ในไฟล์ที่ 3: ไฟล์ PDF ที่ติดรหัสผ่าน" in unread["message_th"], unread
    assert "file 2: member could not be unpacked (damaged)" in unread["message_en"], unread
    assert "file 3 member 1: password-protected PDF" in unread["message_en"], unread
    # No English phrase left in the Thai sentence.
    assert not re.findall(r"[A-Za-z]+", ALLOWED.sub(" ", unread["message_th"])), unread["message_th"]
