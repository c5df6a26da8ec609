"""SMTP replies: code, enhanced status, and a short reason.

RFC 5321 reply text is ASCII: a client that did not ask for SMTPUTF8 (RFC 6531) may
mangle or refuse anything else, and the sending MTA quotes the text in the bounce its
user reads. So every reply says in plain English what is wrong; the Thai explanation
goes in the notice (gateway/notices/), and into the reply only for a session that
used SMTPUTF8 (`in_thai`)."""
from __future__ import annotations

# The Thai sentence of each reply, by its English text, for SMTPUTF8 sessions.
_THAI: dict[str, str] = {}


def reply(code: int, status: str, thai: str, english: str) -> str:
    text = f"{code} {status} {english}"
    assert text.isascii(), text  # a reply must stay readable by any client
    _THAI[text] = thai
    return text


def in_thai(text: str) -> str:
    """The same reply with its Thai sentence after the English one: only for a client
    that announced SMTPUTF8 (MAIL FROM ... SMTPUTF8)."""
    thai = _THAI.get(text)
    return f"{text} / {thai}" if thai else text


def english_only(text: str) -> str:
    """A reply safe for a session without SMTPUTF8: every reply here already is; kept
    for callers that guard an arbitrary text (a Thai one from `in_thai`, aiosmtpd's own)
    before pushing it."""
    if text.isascii():
        return text
    english, _, _thai = text.partition(" / ")
    return english if english.isascii() else english.encode("ascii", "replace").decode("ascii")


def queued(queue_id: str) -> str:
    return f"250 2.0.0 queued as {queue_id}"


def no_relay(domain: str) -> str:
    """550 for an address outside the saraban addresses, naming the domain served."""
    return reply(550, "5.7.1", f"ระบบนี้รับเฉพาะหนังสือถึงที่อยู่สารบรรณ saraban.*@{domain}",
                 f"relaying denied: this gateway accepts letters only for saraban.*@{domain} addresses")


def header_too_big(limit: int) -> str:
    """552 for a header block larger than `[smtp] max_header_size` (Exim's header_maxsize):
    refused whole, never cut, since a secrecy marking may be in the part that would go."""
    return reply(552, "5.3.4", f"ส่วนหัวของอีเมล (header) ยาวเกิน {limit} ไบต์ ไม่ได้รับหนังสือ",
                 f"message header too large (more than {limit} bytes of header lines); the letter was"
                 " not accepted")


VRFY_TAKEN = reply(252, "2.0.0", "ที่อยู่นี้รับหนังสือได้ (ตรวจสอบผู้ใช้ไม่ได้)",
                   "Cannot VRFY user, but will accept message and attempt delivery")


def part_headers_too_big(limit: int) -> str:
    """552 for a letter whose parts, and the messages inside it, carry more header lines
    together than the gateway reads (gateway/pipeline/parse.py `PartHeadersTooLarge`)."""
    return reply(552, "5.3.4", f"ส่วนหัวของส่วนย่อยในอีเมล (MIME part) และของข้อความที่แนบมา รวมกันยาวเกิน {limit} ไบต์"
                 " ไม่ได้รับหนังสือ",
                 f"message header too large (more than {limit} bytes of header lines in its MIME parts"
                 " and attached messages); the letter was not accepted")


def too_many_lines(floor: int, least: int) -> str:
    """552 for a message of more lines than a letter has (gateway/pipeline/parse_limits.py
    `line_limit`): the parser would keep each as a string of its own."""
    return reply(552, "5.3.4", f"อีเมลมีจำนวนบรรทัดมากเกินไป (เกิน {least} บรรทัด และมากกว่าหนึ่งบรรทัดต่อ {floor} ไบต์)"
                 " ไม่ได้รับหนังสือ",
                 f"message has too many lines (more than {least} lines and more than one line per {floor}"
                 " bytes); the letter was not accepted")


UNKNOWN_UNIT = reply(550, "5.1.1", "ไม่มีที่อยู่สารบรรณนี้ในระบบ",
                     "no such saraban address here; check the unit's address in the BMA list")
TOO_MANY_RECIPIENTS = reply(452, "4.5.3", "ผู้รับมากเกินไป กรุณาส่งแยก",
                            "too many recipients in one message; send the rest in another message")
INSUFFICIENT_STORAGE = reply(452, "4.3.1", "พื้นที่จัดเก็บของระบบเหลือน้อย กรุณาส่งใหม่ภายหลัง",
                              "insufficient system storage, please try again later")
CLOCK_WRONG = reply(451, "4.3.0", "นาฬิกาของระบบรับหนังสือไม่ถูกต้อง ยังไม่ได้รับหนังสือ กรุณาส่งใหม่ภายหลัง",
                    "the receiving system's clock is wrong, the letter was not accepted; please try again later")
TOO_BIG = reply(552, "5.3.4", "ข้อความใหญ่เกินกำหนด",
                "message exceeds the fixed maximum message size; send large enclosures separately")
SPOOL_FAILED = reply(451, "4.3.0", "ระบบขัดข้องชั่วคราว กรุณาส่งใหม่ภายหลัง",
                     "temporary local problem, the letter was not accepted; please try again later")
TOP_SECRET = reply(
    550,
    "5.7.0",
    "หนังสือชั้นความลับ \"ลับที่สุด\" ต้องส่งเป็นเอกสารกระดาษเท่านั้น ห้ามส่งทางอีเมล",
    "top-secret (LAB THI SUT) letters must be delivered on paper, never by e-mail",
)
LINE_TOO_LONG = reply(500, "5.5.2", "บรรทัดในอีเมลยาวเกินกำหนด",
                      "line too long (RFC 5321 allows 1000 octets); encode attachments in base64")
TOO_BUSY = reply(421, "4.7.0", "ระบบมีการเชื่อมต่อมากเกินไป กรุณาส่งใหม่ภายหลัง", "too many connections, try again later")
TOO_FAST = reply(421, "4.7.0", "มีการเชื่อมต่อจากที่อยู่นี้ถี่เกินไป กรุณาส่งใหม่ภายหลัง",
                 "too many connections from your address in a minute, try again later")
TLS_REQUIRED = reply(530, "5.7.0", "ต้องเข้ารหัสการเชื่อมต่อ (STARTTLS) ก่อนส่งหนังสือ",
                     "Must issue a STARTTLS command first (this gateway takes letters over TLS only)")
TLS_ALREADY_ACTIVE = reply(503, "5.5.1", "การเชื่อมต่อนี้เข้ารหัสแล้ว", "TLS already active (RFC 3207 4.2)")
DMARC_REJECT = reply(
    550,
    "5.7.1",
    "ไม่สามารถยืนยันได้ว่าส่งจากหน่วยงานนี้จริง (นโยบาย DMARC ของโดเมนผู้ส่งให้ปฏิเสธ)",
    "rejected: the From domain's DMARC policy (p=reject) is not met",
)
TOO_MANY_JUNK_COMMANDS = reply(421, "4.7.0", "มีคำสั่งที่ไม่ได้ส่งหนังสือมากเกินไป ปิดการเชื่อมต่อ",
                                "too many commands without a letter (NOOP, RSET, VRFY, EXPN, HELP), closing connection")
TIMEOUT = reply(421, "4.4.2", "ไม่มีคำสั่งภายในเวลาที่กำหนด ปิดการเชื่อมต่อ", "timeout waiting for a command, closing connection")
SESSION_TOO_LONG = reply(421, "4.4.2", "การเชื่อมต่อนานเกินกำหนด กรุณาส่งใหม่", "session time limit reached, closing connection")
CHECK_BUSY = reply(451, "4.3.2", "ระบบตรวจหนังสือไม่ว่างในขณะนี้ หนังสือยังไม่ได้รับ กรุณาส่งใหม่ภายหลัง",
                   "the letter could not be checked now (all checks busy) and was not accepted;"
                   " please try again later")
INTERNAL_ERROR = reply(451, "4.3.0", "ระบบขัดข้องชั่วคราว กรุณาส่งใหม่ภายหลัง",
                       "temporary local problem, please try again later")
HELO_INVALID = reply(501, "5.5.2", "ชื่อเครื่องใน HELO/EHLO ต้องเป็น UTF-8 ที่ถูกต้องและไม่มีอักขระควบคุม",
                     "HELO/EHLO name must be valid UTF-8 without control characters")
ADDRESS_CONTROL_CHARS = reply(501, "5.5.4", "ที่อยู่มีอักขระควบคุม", "address contains NUL or control characters")
ADDRESS_NOT_UTF8 = reply(553, "5.6.7", "ที่อยู่ไม่ใช่ UTF-8 ที่ถูกต้อง", "address is not valid UTF-8")
ADDRESS_TOO_LONG = reply(553, "5.1.3", "ที่อยู่ยาวเกิน 256 อักขระ", "address longer than 256 octets (RFC 5321)")
ADDRESS_NEEDS_SMTPUTF8 = reply(553, "5.6.7", "ที่อยู่ที่มีอักขระนอกเหนือ ASCII ต้องส่งด้วย SMTPUTF8",
                               "non-ASCII address requires SMTPUTF8 (RFC 6531 3.4)")
AUTH_NOT_OFFERED = reply(502, "5.5.1", "ระบบนี้ไม่มีการยืนยันตัวตน (AUTH) รับหนังสือได้โดยไม่ต้องยืนยันตัวตน",
                         "AUTH not implemented: this gateway takes letters without authentication")
