"""What kind of file each attachment is, judged by its content (libmagic's sniffed
type, filled in by gateway/pipeline/parse.py), never by the declared Content-Type or
disposition: Gmail and Apple Mail send the letter as `inline`, others label PDFs
`application/octet-stream`.

Which attachment is the cover letter (หนังสือนำ) — the documented heuristic:
  1. the first PDF whose text layer reads as a letter header (a line starting with
     ที่ and a reference number, or both เรื่อง and เรียน lines);
  2. else the first PDF in the order the mail carries them;
  3. else the first other document (image, office file) — so that a letter sent as
     .docx is found and then failed by `allowed_types` as "not a PDF";
  4. else none.
Steps 1 and 2 look only at the letter's own PDFs when it has any: a PDF inside a
message the letter carries (an earlier letter forwarded as an attachment,
`Attachment.forwarded`) is the cover letter only when the letter has no PDF of its own.
Everything else that is a document is an enclosure (สิ่งที่ส่งมาด้วย).
"""
from __future__ import annotations

import io
import re
import zipfile

from rules.model import Attachment, ParsedMail
from rules.names import fitted_name, shown_name
from rules.reference import find_reference_on_line
from rules.thai_text import thai_to_arabic

PDF = "application/pdf"

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/tiff", "image/gif", "image/bmp", "image/webp"})
OFFICE_TYPES = frozenset({
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "text/rtf",
    # libmagic names for old Office files and for OOXML it cannot look into.
    "application/x-ole-storage",
    "application/cdfv2",
    "application/CDFV2",
})
ARCHIVE_TYPES = frozenset({
    "application/zip",
    "application/x-zip-compressed",
    "application/x-rar",
    "application/x-rar-compressed",
    "application/vnd.rar",
    "application/x-7z-compressed",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-lzh-compressed",
    "application/x-arj",
})
ARCHIVE_EXTENSIONS = frozenset({"zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "xz", "lzh", "arj", "cab"})
# Detached signatures and other parts of the mail itself, not files of the letter.
MAIL_PARTS = frozenset({
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-keys",
    "message/delivery-status",
    "message/disposition-notification",
})
EXECUTABLE_TYPES = frozenset({
    "application/x-dosexec",
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/vnd.microsoft.portable-executable",
    "application/x-executable",
    "application/x-pie-executable",
    "application/x-sharedlib",
    "application/x-elf",
    "application/x-mach-binary",
    "application/x-msi",
    "application/x-ms-installer",
    "application/java-archive",
    "application/x-java-archive",
    "application/hta",
    "application/x-ms-shortcut",
    "text/x-shellscript",
    "application/x-shellscript",
    "text/x-python",
    "text/x-script.python",
    "text/x-perl",
    "text/x-php",
    "text/x-msdos-batch",
    "application/x-bat",
    "application/javascript",
    "text/javascript",
    "application/x-javascript",
    "text/vbscript",
    "application/x-powershell",
})
MACRO_TYPES = frozenset({
    "application/vnd.ms-word.document.macroenabled.12",
    "application/vnd.ms-word.template.macroenabled.12",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.ms-excel.template.macroenabled.12",
    "application/vnd.ms-excel.addin.macroenabled.12",
    "application/vnd.ms-excel.sheet.binary.macroenabled.12",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.12",
    "application/vnd.ms-powerpoint.addin.macroenabled.12",
})
EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "com", "scr", "pif", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse",
    "wsf", "wsh", "hta", "msi", "msp", "jar", "sh", "bash", "py", "pl", "php", "lnk",
    "cpl", "dll", "reg", "scf", "inf", "msc", "gadget", "application", "appref-ms",
    "iso", "img", "vhd", "apk", "app", "dmg", "elf", "bin", "run", "command",
})
MACRO_EXTENSIONS = frozenset({"docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppam", "ppsm", "sldm"})
DOCUMENT_EXTENSIONS = frozenset({
    "pdf", "jpg", "jpeg", "png", "tif", "tiff", "gif", "bmp", "doc", "docx", "xls", "xlsx",
    "ppt", "pptx", "odt", "ods", "odp", "rtf",
})
# Types the content of a file with this extension may sniff as. OOXML/ODF files are
# zip containers that older libmagic reports as plain zip.
_OOXML_LIKE = {"application/zip", "application/octet-stream"}
EXTENSION_TYPES: dict[str, set[str]] = {
    "pdf": {PDF},
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "png": {"image/png"},
    "tif": {"image/tiff"},
    "tiff": {"image/tiff"},
    "gif": {"image/gif"},
    "doc": {"application/msword", "application/x-ole-storage", "application/cdfv2", "application/CDFV2"},
    "xls": {"application/vnd.ms-excel", "application/x-ole-storage", "application/cdfv2", "application/CDFV2"},
    "docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"} | _OOXML_LIKE,
    "xlsx": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} | _OOXML_LIKE,
    "pptx": {"application/vnd.openxmlformats-officedocument.presentationml.presentation"} | _OOXML_LIKE,
    "odt": {"application/vnd.oasis.opendocument.text"} | _OOXML_LIKE,
    "ods": {"application/vnd.oasis.opendocument.spreadsheet"} | _OOXML_LIKE,
    "zip": {"application/zip", "application/x-zip-compressed"},
}


def base_type(mime: str) -> str:
    """`application/PDF; charset=x` -> `application/pdf`."""
    return mime.split(";", 1)[0].strip().lower()


def extension(att: Attachment) -> str | None:
    name = att.filename or ""
    if "." not in name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]:
        return None
    ext = name.rsplit(".", 1)[1].strip().lower()
    return ext or None


def is_pdf(att: Attachment) -> bool:
    return base_type(att.sniffed_type) == PDF


def is_archive(att: Attachment) -> bool:
    return base_type(att.sniffed_type) in ARCHIVE_TYPES or (
        extension(att) in ARCHIVE_EXTENSIONS and not is_document(att)
    )


def signed_file_name(name: str | None) -> str | None:
    """What a `letter.pdf.p7m` holds, by its name (a client saves it as `letter.pdf`);
    `letter.pdf.pkcs7` and `letter.pdf.p7s` that carry their file likewise."""
    name = name or ""
    lowered = name.lower()
    if lowered in ("smime.p7m", "smime.p7s"):
        return None
    for ending in _SIGNED_ENDINGS:
        if lowered.endswith(ending):
            return name[:-len(ending)]
    return None


_SIGNED_ENDINGS = (".p7m", ".pkcs7", ".p7s")


def is_signed_file(name: str | None, content: bytes) -> bool:
    """Whether a signed .p7m carries a file, read, registered and verified as that file
    (`letter.pdf.p7m`, `บัญชี.zip.p7m`, `x.docx.p7m`), rather than a signed message
    (Outlook's `smime.p7m`, a MIME entity): a PDF, or a name that says which file it is.
    Until session 18 only a PDF was: a ZIP signed so was read as a message (no text), and
    a ลับมาก PDF zipped and signed left the letter ordinary, its signature unverified."""
    if b"%PDF-" in content[:1024]:
        return True
    head = _MIME_HEAD.match(content[:65536])
    if begins_as_message(content):
        return False  # a signed message whose subject has a dot in it ("กท.0403.p7m")
    inner = (signed_file_name(name) or "").rsplit("/", 1)[-1].strip(". ")
    if inner.lower().endswith(".eml"):
        return False
    # Bytes that do not begin as a message does (a ZIP, a Word file) are the file a
    # signing tool saves, whatever the name: `letter.p7m` with a ZIP in it was read as a
    # message of no text until session 19.
    return "." in inner or head is None


# A MIME entity's header block (RFC 5322 fields, folded lines, then the blank line) that
# names its content: what a signed message carries, which no file a sender signs begins with.
_MIME_HEAD = re.compile(rb"(?:[!-9;-~]{1,76}:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*){1,200}\r?\n")
_MIME_FIELD = re.compile(rb"(?im)^(?:content-type|mime-version)[ \t]*:")


def begins_as_message(data: bytes) -> bool:
    """Whether `data` begins as a MIME message does (a header block that names its
    content), whatever the file is called: an attached letter a mail client opens."""
    head = _MIME_HEAD.match(data[:65536])
    return bool(head) and bool(_MIME_FIELD.search(head.group()))


def is_mail_part(att: Attachment) -> bool:
    # `unpacked`: winmail.dat, letter.pdf.p7m, whose files follow them as the letter's own.
    return att.signature_envelope or att.unpacked or base_type(att.sniffed_type) in MAIL_PARTS \
        or base_type(att.declared_type) in MAIL_PARTS


_OUTLOOK_IMAGE = re.compile(r"^image\d{3}\.(?:png|jpe?g|gif)$", re.IGNORECASE)


def is_decoration(att: Attachment) -> bool:
    """An image shown inside the HTML body (signature logo), not a file of the letter:
    inline, an image, and either nameless or named the way Outlook names them."""
    return (
        (att.disposition or "").lower() == "inline"
        and base_type(att.sniffed_type) in IMAGE_TYPES
        and (att.filename is None or bool(_OUTLOOK_IMAGE.match(att.filename)))
    )


def is_document(att: Attachment) -> bool:
    """A file that can be a letter or an enclosure: PDF, image or office document."""
    t = base_type(att.sniffed_type)
    return t == PDF or t in IMAGE_TYPES or t in OFFICE_TYPES


def letter_files(mail: ParsedMail) -> list[Attachment]:
    """The attachments that are files of the letter (not signatures, not logos)."""
    return [a for a in mail.attachments if not is_mail_part(a) and not is_decoration(a)]


def documents(mail: ParsedMail) -> list[Attachment]:
    """Non-empty document files: the letter's own, then those of the messages it carries
    (forwarded letters), each in mail order. A forwarded letter comes wherever the
    sender's client put it, often before the new letter it is attached to."""
    found = [a for a in letter_files(mail) if is_document(a) and a.size > 0]
    return [a for a in found if not a.forwarded] + [a for a in found if a.forwarded]


def looks_like_letter(text: str | None) -> bool:
    if not text:
        return False
    lines = [line.strip() for line in thai_to_arabic(text).splitlines()]
    if any(find_reference_on_line(line) for line in lines):
        return True
    has_subject = any(re.match(r"^เรื่อง\s", line) for line in lines)
    has_addressee = any(re.match(r"^(?:กราบ)?เรียน\s", line) for line in lines)
    return has_subject and has_addressee


def cover_letter(mail: ParsedMail) -> Attachment | None:
    """The cover letter (หนังสือนำ), by the heuristic in the module docstring."""
    docs = documents(mail)
    pdfs = [a for a in docs if is_pdf(a)]
    # Any PDF of the letter's own could be it (a scan reads as no letter at all), so a
    # forwarded letter's text never outweighs it: that letter was registered where it
    # was sent, and this one would carry its ที่, เรื่อง and stamp.
    pdfs = [a for a in pdfs if not a.forwarded] or pdfs
    for att in pdfs:
        if looks_like_letter(att.pdf_text):
            return att
    if pdfs:
        return pdfs[0]
    return docs[0] if docs else None


def enclosures(mail: ParsedMail) -> list[Attachment]:
    cover = cover_letter(mail)
    return [a for a in documents(mail) if a is not cover]


def zip_member_names(att: Attachment) -> list[str] | None:
    """Names inside a zip, from its central directory (nothing is decompressed);
    None when it is not a zip we can read."""
    try:
        with zipfile.ZipFile(io.BytesIO(att.data)) as zf:
            return [info.filename for info in zf.infolist()]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return None


def has_vba_macros(att: Attachment) -> bool:
    """Office files that carry a VBA project, whatever their name says."""
    data = att.data
    if data[:4] == b"PK\x03\x04":
        names = zip_member_names(att) or []
        return any(n.lower().endswith("vbaproject.bin") for n in names)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # OLE2 (.doc/.xls)
        return "_VBA_PROJECT".encode("utf-16-le") in data or b"_VBA_PROJECT" in data
    return False


# Characters of a file name a finding quotes: a 10,000-character name was quoted whole
# in each finding, on the desk and in the folder copy's X-Saraban-Finding headers.
SHOWN_NAME_LENGTH = 200


def display_name(att: Attachment) -> str:
    """The file name as safe text for messages (`rules.names.shown_name`: nothing hidden
    in it; at most SHOWN_NAME_LENGTH characters, its extension kept); a file without a
    name by its place, counted from 1 as a clerk counts the files ("#4": the fourth)."""
    if not att.filename:
        return f"#{att.index + 1}"
    return fitted_name(shown_name(att.filename), SHOWN_NAME_LENGTH)
