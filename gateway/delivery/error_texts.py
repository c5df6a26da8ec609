"""A stored delivery error (`outbox.last_error`, "Type: message" as the delivery runner
keeps it) in words for the person who reads it at the desk or the terminal.

The message part is Python's or a library's text: a path on our disk, a repr, a remote
server's words. People are told what failed and its class, in Thai and English; the
exception itself stays in the log (delivery_retry / delivery_dead). Of the message,
only a remote mail server's reply is shown, cleaned: its code and text, ASCII, one
line, bounded."""
from __future__ import annotations

import re

from gateway.notices.sanitize import clean_text

# (class name patterns, Thai, English): the first that matches the exception's name.
_CLASSES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # Connected, but the answer never finished (a stuck server): gateway/service/deadline.py,
    # and an IMAP command past its deadline (see _STUCK).
    (re.compile(r"^DeadlinePassed$"),
     "เครื่องแม่ข่ายปลายทางรับการเชื่อมต่อแต่ไม่ตอบให้เสร็จภายในเวลาที่กำหนด",
     "the server took the connection but did not finish answering in time (stuck)"),
    # A relay's or smarthost's certificate the gateway does not trust (a name it does not
    # carry, a CA not in ca_file), a TLS handshake that failed, STARTTLS not offered:
    # until the red team of 7 Dec 2026 each read "could not reach the server (network)",
    # and a sysadmin looked for a network fault that was a certificate or a setting.
    # (IMAP's are in words already: gateway/intake/imap_session.py `in_plain_words`.)
    (re.compile(r"^(SSLCertVerificationError|CertificateError)$"),
     "ใบรับรอง TLS ของเครื่องแม่ข่ายปลายทางตรวจสอบไม่ผ่าน จึงไม่ได้ส่ง (ตรวจ ca_file และชื่อเครื่อง)",
     "the server's TLS certificate is not accepted, so nothing was sent (check ca_file and the host name)"),
    (re.compile(r"^SSLError$"),  # its kin SSLEOFError, SSLZeroReturnError: a connection that ended (below)
     "การเข้ารหัส (TLS) กับเครื่องแม่ข่ายปลายทางล้มเหลว (ตรวจพอร์ตและค่า tls / starttls)",
     "TLS with the server failed (check the port and tls / starttls)"),
    (re.compile(r"^SMTPNotSupportedError$"),
     "เครื่องแม่ข่ายปลายทางไม่รองรับสิ่งที่การตั้งค่ากำหนดไว้ จึงไม่ได้ส่ง",
     "the server does not offer what the configuration requires, so nothing was sent"),
    (re.compile(r"^(Connection\w*|Timeout\w*|timeout|gaierror|herror|SMTPConnectError|SMTPServerDisconnected|ImapGone|ImapUnanswered|"
                r"SSL\w*Error)$"),
     "ติดต่อเครื่องแม่ข่ายปลายทางไม่ได้ (เครือข่าย)", "could not reach the server (network)"),
    (re.compile(r"^(SMTP\w*|PermanentFailure)$"),
     "เครื่องแม่ข่ายอีเมลปลายทางไม่รับ", "the remote mail server refused it"),
    (re.compile(r"^(Imap\w*|IMAP\w*|error|abort|readonly)$"),  # ours (gateway/intake/imap_session.py), imaplib's
     "เครื่องแม่ข่ายกล่องจดหมาย (IMAP) ไม่รับ", "the mailbox server (IMAP) refused it"),
    # gateway/delivery/copy_unit.py: a copy owed to a unit gone from units.toml, its folder not recorded
    (re.compile(r"^UnitGone$"),
     "หน่วยงานนี้ไม่อยู่ในทะเบียนหน่วยงาน (units.toml) แล้ว สำเนารอจนกว่าจะเพิ่มหน่วยงานกลับพร้อมโฟลเดอร์เดิม",
     "the unit is no longer in the directory of units (units.toml): the copy waits until it is back with its folder"),
    # gateway/delivery/errors.RegistrarCopyWaits: the sealed copy cannot be made (no usable
    # secret registrar certificate for the unit, or no gateway key). It waits and is tried
    # again; until session 43 it read "the gateway failed while sending it".
    (re.compile(r"^RegistrarCopyWaits$"),
     "ยังปิดผนึกสำเนาให้นายทะเบียนลับไม่ได้ (ไม่มีใบรับรองของนายทะเบียนลับที่ใช้ได้ หรือไม่มีกุญแจของเกตเวย์) "
     "สำเนารอส่งจนกว่าจะแก้ไข (keys import-registrar, keys list --check)",
     "the sealed copy for the secret registrar cannot be made yet (no usable secret registrar certificate, "
     "or no gateway key): it waits until that is fixed (keys import-registrar, keys list --check)"),
    # gateway/notices/send.py: a notice to a Thai local part (สมชาย@...) through a
    # smarthost without SMTPUTF8 (RFC 6531) is held, not sent to a mangled address.
    (re.compile(r"^SmarthostLacksSmtputf8$"),
     "smarthost ไม่รองรับ SMTPUTF8 จึงส่งหนังสือแจ้งถึงที่อยู่อีเมลที่มีอักษรนอกเหนือ ASCII (เช่น อักษรไทย) หน้า @ ไม่ได้ "
     "หนังสือแจ้งพักไว้ "
     "เมื่อ smarthost รองรับแล้วสั่ง notices release",
     "the smarthost does not offer SMTPUTF8, so the notice cannot go to an address with non-ASCII letters "
     "(Thai, say) before the @: it is held; once the smarthost offers it, run `notices release`"),
    (re.compile(r"^(OSError|IOError|\w*File\w*Error|NotADirectoryError|IsADirectoryError|PermissionError|"
                r"BlockingIOError)$"),
     "เขียนลงโฟลเดอร์หรือดิสก์ไม่ได้", "could not write to the folder or the disk"),
    (re.compile(r"^(OperationalError|DatabaseError|InterfaceError|\w*Database\w*)$"),
     "ฐานข้อมูลไม่พร้อม", "the database was not available"),
)
# gateway/intake/imap_session.py's words for a command past its deadline (not a refusal,
# not a lost connection): "login: no answer within 30s".
_STUCK = re.compile(r"\bno answer within \d+s$")
_OTHER = ("ระบบส่งต่อขัดข้อง", "the gateway failed while sending it")
_NOT_SEALED = "not delivered: "  # gateway/delivery/registrar.py's words, until session 44, for a sealed copy it cannot make
_STORED = re.compile(r"^([A-Za-z_][\w.]*): ?(.*)$", re.S)
# A remote reply: smtplib's "(550, b'5.1.1 no such user')" or PermanentFailure's "what: 550 text".
_REPLY = re.compile(r"\(([2-5]\d\d), b?(['\"])(.*?)\2\)|(?:^|: )([45]\d\d) (.+)$", re.S)
REPLY_LIMIT = 160


def error_for_person(stored: str | None) -> str:
    """'เขียนลงโฟลเดอร์หรือดิสก์ไม่ได้ / could not write to the folder or the disk (รายละเอียดอยู่ใน
    log / details in the log)'; '' when there is no error."""
    if not stored:
        return ""
    match = _STORED.match(stored)
    if match is None:  # not an exception: the gateway's own note (an item withdrawn: storage/outbox.py)
        return _ascii_line(stored)
    name, message = match[1].rsplit(".", 1)[-1], match[2]
    kind = "DeadlinePassed" if name in ("ImapGone", "ImapUnanswered") and _STUCK.search(message) else name
    # Stored before session 44 as a SecrecyError told by its words; kept in existing databases.
    legacy = name == "SecrecyError" and message.startswith(_NOT_SEALED)
    waits = name == "RegistrarCopyWaits" or legacy
    kind = "RegistrarCopyWaits" if waits else kind
    th, en = next(((th, en) for pattern, th, en in _CLASSES if pattern.match(kind)), _OTHER)
    text = f"{th} / {en}"
    reply = ""
    if name in ("SSLCertVerificationError", "CertificateError", "SSLError"):
        reply = _tls_reason(message)
    elif name == "SMTPNotSupportedError":  # smtplib's own sentence: "STARTTLS extension not supported by server."
        reply = _ascii_line(message)
    elif name.startswith(("SMTP", "PermanentFailure")):
        reply = _remote_reply(message)
    elif name == "DeadlinePassed":  # our own words: which server, how long
        reply = _ascii_line(message)
    elif waits:  # our own words: which unit, which certificate
        reply = clean_text(message[len(_NOT_SEALED):] if legacy else message, REPLY_LIMIT)
    elif name.startswith("Imap"):  # "login: NO [AUTHENTICATIONFAILED] ...": the command and the server's answer
        # The command names the unit's folder, often Thai (สารบรรณ/หนังสือรับ): kept, as
        # printable text, where until session 39 it read "???????/??????????" and a
        # sysadmin with several Thai folders could not tell which one was full.
        reply = clean_text(message, REPLY_LIMIT)
    if reply:
        return f"{text}: {reply}"
    return f"{text} (รายละเอียดอยู่ใน log / details in the log)"


# OpenSSL's reason, without the library's code and source line: "[SSL:
# CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is
# not valid for 'mail.bangkok.go.th'. (_ssl.c:1006)" says "Hostname mismatch, ...".
_SSL_REASON = re.compile(r"^(?:\[SSL(?:: [A-Z0-9_]+)?\] ?)?(?:certificate verify failed: )?(.*?)\.?(?: \(_ssl\.c:\d+\))?$", re.S)


def _tls_reason(message: str) -> str:
    found = _SSL_REASON.match(message.strip())
    return _ascii_line(found[1]) if found and found[1] else ""


def _remote_reply(message: str) -> str:
    found = _REPLY.search(message)
    if found is None:
        return ""
    code, words = (found[1], found[3]) if found[1] else (found[4], found[5])
    # smtplib keeps the reply as bytes: its repr shows a line break as "\n", a control
    # character as "\x1b", Python's spelling, not the server's words.
    words = re.sub(r"\\(x[0-9a-fA-F]{2}|[rntab\\'\"])", " ", words)
    return _ascii_line(f"{code} {words}")


def _ascii_line(text: str) -> str:
    return clean_text(text.encode("ascii", "replace").decode(), REPLY_LIMIT)
