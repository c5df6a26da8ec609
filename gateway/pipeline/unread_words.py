"""Why a file (or a part of one) could not be read, in words a clerk can act on.

The phrases of `ParsedMail.unread` go into the register's finding (classified_unread:
"part of the letter could not be read (file 2: member could not be unpacked (damaged))")
that the clerk and the secret registrar read. An exception's class name (`error`,
`LZMAError`, `KeyError`) there is Python text shown to a person (session 35's red team):
the log keeps the exception, the finding these words.

The phrases are English; the finding's Thai sentence names them in Thai (`thai_phrase`,
since session 36: the central saraban unit's clerks read the Thai one). Each phrase the
parse writes (gateway/pipeline/parse.py, file_texts.py, outlook.py, scanned_pages.py) is
a place ("file 2", "file 2 member 3", "file 2: file 1" for a file of an attached
message) and a reason; `_REASONS` holds every reason's English shape beside its Thai
(tests/classified/test_unread_thai.py fails for a phrase written without one)."""
from __future__ import annotations

import functools
import re

# What `why_unread` says, and its Thai.
_WHY = {
    "too large or nested too deeply to read": "มีขนาดใหญ่หรือซ้อนกันลึกเกินกว่าที่ระบบจะอ่านได้",
    "not read in time": "ระบบอ่านไม่เสร็จภายในเวลาที่กำหนด",
    "packed in a way the gateway cannot unpack": "บีบอัดด้วยวิธีที่ระบบแตกไฟล์ไม่ได้",
    "a part it names is missing": "ไม่มีส่วนที่ไฟล์อ้างถึง",
    "damaged": "ไฟล์เสียหาย",
}


def why_unread(exc: BaseException) -> str:
    """A few plain English words for what `exc` says of the file that raised it."""
    if isinstance(exc, (MemoryError, RecursionError)):
        return "too large or nested too deeply to read"
    if isinstance(exc, TimeoutError):
        return "not read in time"
    if isinstance(exc, (NotImplementedError, RuntimeError)):
        return "packed in a way the gateway cannot unpack"
    if isinstance(exc, (KeyError, IndexError)):
        return "a part it names is missing"
    return "damaged"


# Why an Outlook winmail.dat was not read whole (outlook.py `Tnef.problem`), after
# "Outlook TNEF file (winmail.dat)".
_TNEF_PROBLEMS = {
    "whose end could not be read": "ที่อ่านส่วนท้ายไม่ได้",
    "files past the first {n}": "ที่มีไฟล์เกิน {n} ไฟล์แรกที่ระบบอ่าน",
    "an Outlook item inside it": "ที่มีรายการของ Outlook ซ้อนอยู่ภายใน",
    "more properties than a letter's TNEF file has": "ที่มีรายการคุณสมบัติมากเกินกว่าไฟล์ TNEF ของหนังสือทั่วไป",
    "more objects than a letter's TNEF file has": "ที่มีส่วนประกอบมากเกินกว่าไฟล์ TNEF ของหนังสือทั่วไป",
    "could not be read ({why})": "ที่อ่านไม่ได้ ({why})",
    "could not be read whole": "ที่อ่านได้ไม่ครบทั้งไฟล์",
}

# Every reason a phrase gives, after its place (or alone), and its Thai. `{n}` is a
# number, kept; `{why}` what `why_unread` says; `{office}` Word, Excel or PowerPoint;
# `{tnef}` one of `_TNEF_PROBLEMS`.
_REASONS = {
    # parse.py
    "could not be read ({why})": "อ่านไม่ได้ ({why})",
    "Outlook TNEF file (winmail.dat) {tnef}": "ไฟล์ Outlook แบบ TNEF (winmail.dat) {tnef}",
    "a file past the {n} MB read": "มีไฟล์ภายในขนาดเกิน {n} MB ที่ระบบอ่าน",
    "a message nested past {n} levels": "อีเมลที่ซ้อนกันเกิน {n} ชั้น",
    "an attached message ({why})": "อีเมลที่แนบมาอ่านไม่ได้ ({why})",
    "an S/MIME encrypted file": "ไฟล์ที่เข้ารหัสแบบ S/MIME",
    "an S/MIME signed letter that is not signed data":
        "หนังสือแบบ S/MIME ที่ระบุว่าลงลายมือชื่อแต่ภายในไม่ใช่ข้อมูลที่ลงลายมือชื่อ",
    "an S/MIME letter that could not be opened": "หนังสือแบบ S/MIME ที่เปิดไม่ได้",
    "an S/MIME signed letter without its content": "หนังสือลงลายมือชื่อแบบ S/MIME ที่ไม่มีเนื้อหาอยู่ภายใน",
    "an S/MIME signed letter that could not be unwrapped": "หนังสือลงลายมือชื่อแบบ S/MIME ที่แกะเนื้อหาออกมาไม่ได้",
    "an S/MIME signed letter ({why})": "หนังสือลงลายมือชื่อแบบ S/MIME ที่อ่านไม่ได้ ({why})",
    "a signed letter nested past {n} levels": "หนังสือลงลายมือชื่อที่ซ้อนกันเกิน {n} ชั้น",
    "parts beyond the first ones": "ส่วนของอีเมลที่เกินจำนวนที่ระบบอ่าน",
    "a header block cut short by a line the parser could not read":
        "ส่วนหัวของอีเมลที่ขาดตอนเพราะมีบรรทัดที่ระบบอ่านไม่ได้",
    "a multipart whose boundary was not found": "อีเมลหลายส่วนที่หาเส้นแบ่งส่วนไม่พบ",
    "a part encrypted with OpenPGP": "ส่วนที่เข้ารหัสด้วย OpenPGP",
    "a part whose base64 goes on after its padding": "ส่วนที่มีข้อมูล base64 ต่อท้ายหลังจุดสิ้นสุด",
    "a part with two different transfer encodings, which mail programs read differently":
        "ส่วนของอีเมลที่ระบุวิธีเข้ารหัสสำหรับส่งไว้สองแบบ ซึ่งโปรแกรมอีเมลแต่ละโปรแกรมอ่านไม่ตรงกัน",
    "a part with two different charsets, which mail programs read differently":
        "ส่วนของอีเมลที่ระบุชุดอักขระไว้สองแบบ ซึ่งโปรแกรมอีเมลแต่ละโปรแกรมอ่านไม่ตรงกัน",
    "a MIME boundary line with more text after it, which mail programs read differently":
        "เส้นแบ่งส่วนของอีเมลที่มีข้อความอื่นต่อท้าย ซึ่งโปรแกรมอีเมลแต่ละโปรแกรมแบ่งส่วนไม่ตรงกัน",
    "an attached message that could not be decoded": "อีเมลที่แนบมาซึ่งแปลงรหัสกลับไม่ได้",
    "a body encrypted with OpenPGP": "เนื้อความที่เข้ารหัสด้วย OpenPGP",
    "a file yEnc- or BinHex-encoded in the body": "ไฟล์ที่แปลงรหัสแบบ yEnc หรือ BinHex ไว้ในเนื้อความ",
    "a yEnc-encoded part with lines longer than mail programs read whole":
        "ส่วนของอีเมลที่แปลงรหัสแบบ yEnc ซึ่งมีบรรทัดยาวเกินกว่าที่โปรแกรมอีเมลอ่านได้ครบ",
    "a file uuencoded in the body past the size read": "ไฟล์ที่แปลงรหัสไว้ในเนื้อความซึ่งมีขนาดเกินที่ระบบอ่าน",
    # file_texts.py: text files, ZIP members, office files
    "files uuencoded in a text past the first ones": "ไฟล์ที่แปลงรหัสไว้ในข้อความซึ่งเกินจำนวนที่ระบบอ่าน",
    "a uuencoded file past the {n} MB read": "ไฟล์ที่แปลงรหัสไว้ในข้อความซึ่งมีขนาดเกิน {n} MB ที่ระบบอ่าน",
    "encrypted member": "ไฟล์ย่อยที่ติดรหัสผ่าน",
    "member unpacks to {n}+ times its size": "ไฟล์ย่อยที่แตกออกแล้วใหญ่กว่าขนาดบีบอัดตั้งแต่ {n} เท่าขึ้นไป",
    "member past the {n} MB read": "ไฟล์ย่อยที่มีขนาดเกิน {n} MB ที่ระบบอ่าน",
    "member could not be unpacked ({why})": "แตกไฟล์ย่อยไม่ได้ ({why})",
    "member past the limits of what is unpacked": "ไฟล์ย่อยที่เกินขีดจำกัดที่ระบบแตกไฟล์",
    "relationships past the size read": "ข้อมูลการเชื่อมโยงภายในไฟล์ซึ่งมีขนาดเกินที่ระบบอ่าน",
    "an imported part that is not in the file": "ส่วนที่ไฟล์นำเข้ามาแต่ไม่มีอยู่ในไฟล์",
    "an imported part nested past {n} levels": "ส่วนที่ไฟล์นำเข้ามาซึ่งซ้อนกันเกิน {n} ชั้น",
    "embedded objects past the first {n}": "วัตถุที่ฝังไว้ซึ่งเกิน {n} รายการแรกที่ระบบอ่าน",
    "an embedded object nested past {n} levels": "วัตถุที่ฝังไว้ซึ่งซ้อนกันเกิน {n} ชั้น",
    "an embedded object that could not be read": "วัตถุที่ฝังไว้ซึ่งอ่านไม่ได้",
    "an embedded Visio drawing": "ภาพวาด Visio ที่ฝังไว้",
    "password-protected OpenDocument file": "ไฟล์ OpenDocument ที่ติดรหัสผ่าน",
    "an office file whose main part is not in it": "ไฟล์ Office ที่ไม่มีส่วนเนื้อหาหลัก",
    "an office file whose main part could not be read": "ไฟล์ Office ที่อ่านส่วนเนื้อหาหลักไม่ได้",
    "an office file with two parts of one name": "ไฟล์ Office ที่มีส่วนประกอบชื่อซ้ำกัน",
    "an Apple Pages, Numbers or Keynote document, whose text is not read":
        "เอกสาร Apple Pages, Numbers หรือ Keynote ซึ่งระบบอ่านข้อความในไฟล์ไม่ได้",
    "an Excel binary workbook of more records than are read": "ไฟล์ Excel แบบไบนารี ที่มีจำนวนระเบียนข้อมูลเกินกว่าที่ระบบอ่าน",
    "an Excel binary workbook part that could not be read whole (damaged)":
        "ไฟล์ Excel แบบไบนารี ที่มีส่วนประกอบซึ่งอ่านได้ไม่ครบ (ไฟล์เสียหาย)",
    "XML entities that expand past the size read": "ไฟล์ XML ที่มีเอนทิตีซึ่งขยายแล้วมีขนาดเกินที่ระบบอ่าน",
    "an XPS page of more runs of text than are read": "หน้าเอกสาร XPS ที่มีข้อความจำนวนช่วงเกินกว่าที่ระบบอ่าน",
    "an XPS page that draws text by glyph index alone, without its Unicode":
        "หน้าเอกสาร XPS ที่วาดข้อความด้วยเลขรูปอักษรเท่านั้น ไม่มีรหัสยูนิโค้ดของข้อความ",
    # file_texts.py: archives
    "an archive of more than {n} entries": "แฟ้มบีบอัดที่มีรายการเกิน {n} รายการ",
    "an archive with entries its directory does not list": "แฟ้มบีบอัดที่มีไฟล์ซึ่งไม่อยู่ในสารบัญของแฟ้ม",
    "archive nested past {n} levels": "แฟ้มบีบอัดที่ซ้อนกันเกิน {n} ชั้น",
    "members past the first {n}": "ไฟล์ย่อยที่เกิน {n} ไฟล์แรกที่ระบบอ่าน",
    "compressed file could not be unpacked ({why})": "แตกไฟล์บีบอัดไม่ได้ ({why})",
    "compressed file past the limits of what is unpacked": "ไฟล์บีบอัดที่เกินขีดจำกัดที่ระบบแตกไฟล์",
    "compressed file cut short (damaged)": "ไฟล์บีบอัดที่ขาดหายไปบางส่วน (ไฟล์เสียหาย)",
    "archive or office file could not be opened (damaged)": "เปิดแฟ้มบีบอัดหรือไฟล์ Office ไม่ได้ (ไฟล์เสียหาย)",
    "tar archive could not be opened ({why})": "เปิดแฟ้มบีบอัด tar ไม่ได้ ({why})",
    "tar archive could not be read to its end ({why})": "อ่านแฟ้มบีบอัด tar ไม่ได้จนจบ ({why})",
    "messages in archives past the first {n}": "อีเมลในแฟ้มบีบอัดที่เกิน {n} ฉบับแรกที่ระบบอ่าน",
    "a message inside an archive (not read here)": "อีเมลที่อยู่ในแฟ้มบีบอัด (ไม่ได้อ่านในขั้นตอนนี้)",
    # file_texts.py `_NOT_UNPACKED`: kinds no reader here unpacks
    "7z archive": "แฟ้มบีบอัด 7z",
    "RAR archive": "แฟ้มบีบอัด RAR",
    "CAB archive": "แฟ้มบีบอัด CAB",
    "zstd file": "ไฟล์บีบอัด zstd",
    "lzip file": "ไฟล์บีบอัด lzip",
    "LZ4 file": "ไฟล์บีบอัด LZ4",
    "Unix compress file": "ไฟล์บีบอัดแบบ Unix compress",
    # file_texts.py `encrypted`
    "password-protected Office file": "ไฟล์ Office ที่ติดรหัสผ่าน",
    "password-protected 7z archive": "แฟ้มบีบอัด 7z ที่ติดรหัสผ่าน",
    "password-protected RAR archive": "แฟ้มบีบอัด RAR ที่ติดรหัสผ่าน",
    "OpenPGP-encrypted file": "ไฟล์ที่เข้ารหัสด้วย OpenPGP",
    # file_texts.py: PDFs, old Office, signed files, RTF
    "password-protected PDF": "ไฟล์ PDF ที่ติดรหัสผ่าน",
    "PDF": "ไฟล์ PDF ที่ระบบอ่านไม่ได้",
    "compound file of a kind not read (Outlook .msg, Visio, Publisher)":
        "ไฟล์ชนิดที่ระบบไม่อ่าน (Outlook .msg, Visio, Publisher)",
    "{office} 97-2003 file whose text could not be found": "ไฟล์ {office} 97-2003 ที่หาข้อความไม่พบ",
    "{office} 97-2003 file past what is read": "ไฟล์ {office} 97-2003 ที่ยาวเกินส่วนที่ระบบอ่าน",
    "{office} 97-2003 file that could not be read (damaged)": "ไฟล์ {office} 97-2003 ที่อ่านไม่ได้ (ไฟล์เสียหาย)",
    "compound file (Word, Excel, PowerPoint 97-2003...) cut short (damaged)":
        "ไฟล์ Word, Excel หรือ PowerPoint 97-2003 ที่ขาดหายไปบางส่วน (ไฟล์เสียหาย)",
    "a signed or encrypted file (.p7m) that could not be opened":
        "ไฟล์ที่ลงลายมือชื่อหรือเข้ารหัส (.p7m) ซึ่งเปิดไม่ได้",
    "a file signed more than {n} times over": "ไฟล์ที่ลงลายมือชื่อซ้อนกันเกิน {n} ชั้น",
    "RTF past what is read": "ไฟล์ RTF ที่ยาวเกินส่วนที่ระบบอ่าน",
    # scanned_pages.py `NotRead` (file_texts.py `_picture_into` says it after the place)
    "a scanned picture (no OCR on this machine)": "ภาพสแกน (เครื่องนี้ไม่มีโปรแกรมอ่านตัวอักษร OCR)",
    "a scanned page (no OCR on this machine)": "หน้าที่สแกน (เครื่องนี้ไม่มีโปรแกรมอ่านตัวอักษร OCR)",
    "a marking drawn as a picture or outlines (no OCR on this machine)":
        "เครื่องหมายที่วาดเป็นภาพหรือเส้นโครงร่าง (เครื่องนี้ไม่มีโปรแกรมอ่านตัวอักษร OCR)",
    "a scanned picture of more than {n} million pixels": "ภาพสแกนที่มีขนาดเกิน {n} ล้านพิกเซล",
    "a scanned picture of more than {n} frames": "ภาพสแกนที่มีเกิน {n} เฟรม",
    "a scanned picture that could not be drawn ({why})": "ภาพสแกนที่แสดงผลไม่ได้ ({why})",
    "a scanned picture in a format not read (HEIC or AVIF, a phone's camera)":
        "ภาพสแกนหรือภาพถ่ายหน้าหนังสือในรูปแบบที่ระบบอ่านไม่ได้ (HEIC หรือ AVIF จากกล้องโทรศัพท์)",
    "a scanned page that could not be drawn ({why})": "หน้าที่สแกนซึ่งแสดงผลไม่ได้ ({why})",
    "a scanned picture not read within {n} s": "ภาพสแกนที่อ่านไม่เสร็จภายใน {n} วินาที",
    "a scanned page not read within {n} s": "หน้าที่สแกนซึ่งอ่านไม่เสร็จภายใน {n} วินาที",
    "a scanned page (OCR could not start)": "หน้าที่สแกน (โปรแกรม OCR เริ่มทำงานไม่ได้)",
    "a scanned page (OCR failed, exit {n})": "หน้าที่สแกน (โปรแกรม OCR ทำงานไม่สำเร็จ รหัส {n})",
    "drawings (stamps, pictures, outlines) not read within {n} s":
        "ภาพวาด (ตราประทับ รูปภาพ เส้นกรอบ) ที่อ่านไม่เสร็จภายใน {n} วินาที",
    "drawings (stamps, pictures, outlines) past the first {n} read":
        "ภาพวาด (ตราประทับ รูปภาพ เส้นกรอบ) ที่เกิน {n} รายการแรกที่ระบบอ่าน",
    "a head or foot drawing paths too heavy to draw ({n} segments)":
        "ภาพวาดที่หัวหรือท้ายกระดาษซึ่งมีเส้นมากเกินกว่าจะแสดงผลได้ ({n} ส่วน)",
    "a page's head or foot that could not be drawn ({why})": "หัวหรือท้ายกระดาษที่แสดงผลไม่ได้ ({why})",
}

_OFFICE = {"Word": "Word", "Excel": "Excel", "PowerPoint": "PowerPoint"}
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"


def _compiled(table: dict[str, str]) -> list[tuple[re.Pattern, str]]:
    """Each English shape as a pattern whose `{n}`, `{why}`... are named groups."""
    slots = {"n": _NUMBER, "why": "|".join(map(re.escape, _WHY)), "office": "|".join(_OFFICE), "tnef": ".+"}
    out = []
    for english, thai in table.items():
        pattern = "".join(f"(?P<{piece[1:-1]}>{slots[piece[1:-1]]})" if piece[1:-1] in slots else re.escape(piece)
                          for piece in re.split(r"(\{\w+\})", english))
        out.append((re.compile(pattern + r"\Z"), thai))
    return out


@functools.cache
def _patterns(table: str) -> list[tuple[re.Pattern, str]]:
    """Compiled at the first reason put in Thai, not at import: ~100 patterns, which
    every process importing the pipeline (a `quarantine list`, a check worker) paid for."""
    return _compiled({"reasons": _REASONS, "tnef": _TNEF_PROBLEMS}[table])


def _thai_of(compiled: list[tuple[re.Pattern, str]], english: str) -> str | None:
    for pattern, thai in compiled:
        found = pattern.match(english)
        if found is None:
            continue
        slots = found.groupdict()
        if "tnef" in slots:
            slots["tnef"] = _thai_of(_patterns("tnef"), slots["tnef"])
            if slots["tnef"] is None:
                return None
        if "why" in slots:
            slots["why"] = _WHY[slots["why"]]
        return thai.format(**slots)
    return None


# A place: where the file sits ("what" in parse.py and file_texts.py): "file 2", an
# archive's member ("file 2 member 3"), a file embedded in an office file ("... part"),
# uuencoded in a text file ("... uuencoded"), or uuencoded in the body.
_BASE = re.compile(r"file (\d+)|file|a file uuencoded in the body \(file (\d+)\)")
_STEP = re.compile(r" member (\d+)| part| uuencoded")


def _place(text: str) -> list[str] | None:
    """The Thai of each step of a place, outermost first; None when `text` is no place."""
    base = _BASE.match(text)
    if base is None:
        return None
    if base[1]:
        steps = [f"ไฟล์ที่ {base[1]}"]
    elif base[2]:
        steps = [f"ไฟล์ที่ {base[2]} (แปลงรหัสฝังไว้ในเนื้อความ)"]
    else:
        steps = ["ไฟล์"]
    at = base.end()
    while at < len(text):
        step = _STEP.match(text, at)
        if step is None:
            return None
        steps.append(f"ไฟล์ย่อยที่ {step[1]}" if step[1] else
                     "ไฟล์ที่ฝังไว้" if step[0] == " part" else "ไฟล์ที่แปลงรหัสฝังไว้ในข้อความ")
        at = step.end()
    return steps


def _thai(phrase: str) -> str | None:
    segments = phrase.split(": ")
    steps: list[str] = []
    # "file 2: file 1: member could not be unpacked (damaged)": a file of a message
    # attached as file 2, places outermost first, then the reason.
    while segments and (place := _place(segments[0])) is not None:
        steps += place
        segments.pop(0)
    reason = ": ".join(segments)
    where = " ใน".join(reversed(steps))  # "ไฟล์ย่อยที่ 1 ในไฟล์ที่ 2": the innermost first
    if not reason:
        return where or None
    if len(segments) == 1 and reason.endswith(" password-protected"):
        place = _place(reason[:-len(" password-protected")])  # parse.py `_read_of_file`: a PDF's
        if place is not None:
            return " ใน".join(reversed(steps + place)) + " ติดรหัสผ่าน"
    said = _thai_of(_patterns("reasons"), reason)
    if said is None:
        return None
    return f"{where}: {said}" if where else said


def thai_phrase(phrase: str) -> str:
    """A phrase of `ParsedMail.unread` in official Thai ("file 2: member could not be
    unpacked (damaged)" is "ไฟล์ที่ 2: แตกไฟล์ย่อยไม่ได้ (ไฟล์เสียหาย)"), numbers, file
    numbers and the places of nested files kept; a phrase of a shape it does not know
    comes back as it is (English, never dropped: the finding still names that file)."""
    try:
        return _thai(phrase) or phrase
    except Exception:  # noqa: BLE001 - a finding's words: never a reason to fail the letter
        return phrase
