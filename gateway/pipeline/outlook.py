"""Outlook's winmail.dat (TNEF, application/ms-tnef): the files and the body it packs.

Outlook sends a rich-text letter as a plain body and one file, winmail.dat, that holds
the letter's real attachments and its formatted body (MS-OXTNEF). Until session 17 such a
letter was sealed unread as ลับ (uncertain). `read_tnef` unpacks it with tnefparse: each
file inside is then read, registered, verified and stamped as if the sender had attached
it directly (gateway/pipeline/parse.py), or, inside an archive, read as the archive's
members are (file_texts.py). What it cannot read whole is said (`Tnef.problem`) and the
letter stays at least ลับ, uncertain.

tnefparse trusts the counts a file states: a property count of 4,000,000,000 is a loop
that long. `_Guard` bounds, for one call, every loop of the library's and the objects it
cuts (each off a view of the file, not a copy of its rest); the library's own warnings (a
bad checksum, a property it could not decode and skipped) count as not read.
"""
from __future__ import annotations

import builtins
import contextvars
from dataclasses import dataclass, field

from tnefparse import mapi as _mapi
from tnefparse import properties as _props
from tnefparse import tnef as _tnef

from gateway.pipeline import charsets
from gateway.pipeline.unread_words import why_unread

SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78 little-endian (MS-OXTNEF 2.1.3)
MAX_FILES = 100  # as an archive's members (file_texts.MAX_MEMBERS)
# The library's loops together (properties, values, recipients): a letter's winmail.dat
# has a few thousand properties.
MAX_STEPS = 500_000
# Objects (attributes) of one file, those of Outlook items inside it too: a letter's has
# a dozen and four or five a file.
MAX_OBJECTS = 20 + 8 * MAX_FILES


SNIFFED = "application/vnd.ms-tnef"  # libmagic's name for it, the register's content_type


def is_tnef(data: bytes) -> bool:
    return data[:4] == SIGNATURE


@dataclass
class Tnef:
    files: list[tuple[str | None, bytes]] = field(default_factory=list)  # (name, bytes), in the file's order
    texts: list[str] = field(default_factory=list)  # the body Outlook shows: plain, HTML
    rtf: bytes | None = None  # and as Outlook's rich text (file_texts.rtf_text reads it)
    problem: str | None = None  # why not all of it was read (English; the caller says where)


class _TooMuch(BaseException):
    """Past a bound of `_Guard`. A BaseException: tnefparse catches every Exception of a
    property list and reads on, which would leave the rest of the file unread unsaid."""


@dataclass
class _Guard:
    steps: int = 0
    objects: int = 0
    problems: list[str] = field(default_factory=list)


_guard: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar("tnef_guard", default=None)


def _range(*args):
    steps = builtins.range(*args)
    guard = _guard.get()
    if guard is not None:
        guard.steps += len(steps)
        if guard.steps > MAX_STEPS:
            raise _TooMuch("more properties than a letter's TNEF file has")
    return steps


class _Object(_tnef.TNEFObject):
    def __init__(self, data, do_checksum=False):
        guard = _guard.get()
        if guard is not None:
            guard.objects += 1
            if guard.objects > MAX_OBJECTS:
                raise _TooMuch("more objects than a letter's TNEF file has")
        super().__init__(data, do_checksum)
        self.data = bytes(self.data)  # its own bytes: a view of the file, below, until here


class _Tnef(_tnef.TNEF):
    """The library's reader, given a view of the file: it cuts every object off the rest
    of the file (`data[offset:]`), a copy of the rest each time unless it is a view."""

    def __init__(self, data, do_checksum=True):
        super().__init__(memoryview(data) if isinstance(data, bytes) else data, do_checksum)


class _Said:
    """The library's logger: what it warns of (a bad checksum, a property it skipped or
    could not decode, then read on) is kept as why the file was not read whole. Not the
    logging module, which a worker may have switched off (gateway/secrecy/markings.py)."""

    def _keep(self, message, *args, **_kwargs) -> None:
        guard = _guard.get()
        if guard is not None:
            guard.problems.append(str(message)[:200])

    warning = error = exception = critical = _keep

    def __getattr__(self, _name):  # debug, info: nothing to judge
        return lambda *args, **kwargs: None


# The library's module globals, for every call made here: its loops count (`range`), its
# objects are counted as they are cut, from a view of the file (`_Tnef`); what it warns
# of is ours to judge (`_Said`), never shown.
_mapi.range = _range
_tnef.range = _range
_tnef.TNEFObject = _Object
_tnef.TNEF = _Tnef  # an Outlook item inside is read by the same (TNEFAttachment.add_attr)
_mapi.logger = _tnef.logger = _Said()


def _text(value, codepage: str | None) -> str:
    if isinstance(value, str):
        return value.strip("\x00")
    if isinstance(value, (bytes, bytearray)):
        return charsets.decode_bytes(bytes(value), codepage).strip("\x00")
    return ""


def _name(attachment: _tnef.TNEFAttachment, codepage: str | None) -> str | None:
    """The name Outlook shows: the long name (Unicode) when there is one, else the
    8.3 title in the sender's code page (Windows-874 on a Thai Windows)."""
    long = [a.data for a in attachment.mapi_attrs if a.name == _props.MAPI_ATTACH_LONG_FILENAME]
    name = _text(long[0], codepage) if long else _text(attachment._name, codepage)
    return name or None


def read_tnef(data: bytes) -> Tnef:
    """Every file and the body of a TNEF file, as Outlook shows them."""
    from compressed_rtf import decompress

    from rules.markings import html_readings

    out = Tnef()
    guard = _Guard()
    token = _guard.set(guard)
    try:
        parsed = _Tnef(data, do_checksum=True)
        if 6 + sum(obj.length for obj in parsed.objects) != len(data):
            # The library stops short of a last object cut off (or cut to one too short
            # to be one) and says nothing: what was cut may be a file.
            out.problem = "whose end could not be read"
        codepage = parsed.codepage
        for attachment in parsed.attachments:
            if len(out.files) >= MAX_FILES:
                out.problem = f"files past the first {MAX_FILES}"
                break
            if hasattr(attachment, "embed"):
                # An Outlook item attached inside (a forwarded message): not unpacked here.
                out.problem = "an Outlook item inside it"
                continue
            out.files.append((_name(attachment, codepage), bytes(attachment.data or b"")))
        body = parsed.body
        if body:
            out.texts.append(_text(body, codepage))
        if parsed.htmlbody:
            out.texts += html_readings(_text(parsed.htmlbody, codepage))
        if parsed._rtfbody:
            out.rtf = decompress(bytes(parsed._rtfbody) + b"\x00")
    except _TooMuch as exc:
        out.problem = str(exc)
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - hostile file: not read, and said so
        out.problem = f"could not be read ({why_unread(exc)})"
    finally:
        _guard.reset(token)
    if guard.problems and out.problem is None:
        out.problem = "could not be read whole"
    return out


def files_beside(raw: bytes) -> list[tuple[str, bytes]]:
    """The files of every winmail.dat in a letter, as the folder copy carries them beside
    it (gateway/delivery/folder_copy.py): Outlook opens winmail.dat, Thunderbird and the
    web clients do not, so its files go beside it, named as the register names them. The
    winmail.dat stays as it came: the letter as sent, and what the register's hash is of.
    Each name as the sender wrote it (the caller shows it as the register does). For a
    letter whose register lists a winmail.dat (`SNIFFED`): the others are not parsed again."""
    out: list[tuple[str, bytes]] = []
    for data in _leaves(raw):
        if is_tnef(data):
            found = read_tnef(data)
            out += [(name or f"file {n}", inner) for n, (name, inner) in enumerate(found.files, start=1)]
    return out


MAX_SIGNED_DEPTH = 2  # an opaque-signed mail inside another: as deep as the parse reads


def _leaves(raw: bytes, depth: int = 0):
    """The decoded leaves of a message, those inside an S/MIME opaque-signed mail
    (application/pkcs7-mime; smime-type=signed-data, the whole letter or a smime.p7m
    part of it) too: the parse reads that mail's winmail.dat and registers its files,
    yet until session 18 they were not put beside it, and a Thunderbird or webmail clerk
    had the register's files in no readable form. The signed bytes stay as they came:
    the files go beside the signed entity (mime_attach.add_attachment)."""
    import email
    import email.policy

    for part in email.message_from_bytes(raw, policy=email.policy.compat32).walk():
        if part.is_multipart():
            continue
        try:
            data = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - a part the parse read as nothing
            continue
        if not isinstance(data, bytes):
            continue
        if depth < MAX_SIGNED_DEPTH and part.get_content_type() in _PKCS7_MIME \
                and str(part.get_param("smime-type") or "signed-data").lower() == "signed-data":
            content = _signed_content(data)
            if content is not None and b"%PDF-" not in content[:1024]:  # a signed mail, not a signed PDF
                yield from _leaves(content, depth + 1)
                continue
        yield data


_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")


def _signed_content(der: bytes) -> bytes | None:
    try:
        from asn1crypto import cms

        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            return None
        content = info["content"]["encap_content_info"]["content"].native
    except Exception:  # noqa: BLE001 - hostile DER: the parse said it unread
        return None
    return content if isinstance(content, bytes) else None

