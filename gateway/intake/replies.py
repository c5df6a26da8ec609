"""SMTP replies: code, enhanced status, and a short text in Thai and English.

The sending MTA puts this text into the bounce its user reads, so it must say what
happened in the user's language and in the one their IT staff will search for."""
from __future__ import annotations


def reply(code: int, status: str, thai: str, english: str) -> str:
    return f"{code} {status} {thai} / {english}"


def english_only(text: str) -> str:
    """The reply without its Thai half, for a session that may only carry ASCII."""
    code_status, _, rest = text.partition(" / ")
    words = code_status.split(" ")
    head = " ".join(w for w in words[:2] if w.isascii())
    tail = rest if rest else " ".join(w for w in words[2:] if w.isascii())
    return (head + " " + tail.encode("ascii", "replace").decode("ascii")).strip()


def queued(queue_id: str) -> str:
    return reply(250, "2.0.0", f"รับไว้แล้ว รหัสคิว {queue_id}", f"queued as {queue_id}")


UNKNOWN_UNIT = reply(550, "5.1.1", "ไม่มีที่อยู่สารบรรณนี้ในระบบ", "no such saraban address here")
NO_RELAY = reply(550, "5.7.1", "ระบบนี้รับเฉพาะหนังสือถึงที่อยู่สารบรรณ", "relaying denied: this gateway only accepts letters for saraban addresses")
WRONG_DOMAIN = NO_RELAY
TOO_MANY_RECIPIENTS = reply(452, "4.5.3", "ผู้รับมากเกินไป กรุณาส่งแยก", "too many recipients, send the rest separately")
TOO_BIG = reply(552, "5.3.4", "ข้อความใหญ่เกินกำหนด", "message exceeds the fixed maximum message size")
SPOOL_FAILED = reply(451, "4.3.0", "ระบบขัดข้องชั่วคราว กรุณาส่งใหม่ภายหลัง", "temporary local problem, please try again later")
TOP_SECRET = reply(
    550,
    "5.7.0",
    "หนังสือชั้นความลับ \"ลับที่สุด\" ต้องส่งเป็นเอกสารกระดาษเท่านั้น ห้ามส่งทางอีเมล",
    "top-secret (LAB THI SUT) letters must be delivered on paper, never by e-mail",
)
LINE_TOO_LONG = reply(500, "5.5.2", "บรรทัดในอีเมลยาวเกินกำหนด", "line too long")
TOO_BUSY = reply(421, "4.7.0", "ระบบมีการเชื่อมต่อมากเกินไป กรุณาส่งใหม่ภายหลัง", "too many connections, try again later")
DMARC_REJECT = reply(
    550,
    "5.7.1",
    "ไม่สามารถยืนยันได้ว่าส่งจากหน่วยงานนี้จริง (นโยบาย DMARC ของโดเมนผู้ส่งให้ปฏิเสธ)",
    "rejected: the From domain's DMARC policy (p=reject) is not met",
)
TIMEOUT = reply(421, "4.4.2", "ไม่มีคำสั่งภายในเวลาที่กำหนด ปิดการเชื่อมต่อ", "timeout waiting for a command, closing connection")
SESSION_TOO_LONG = reply(421, "4.4.2", "การเชื่อมต่อนานเกินกำหนด กรุณาส่งใหม่", "session time limit reached, closing connection")
INTERNAL_ERROR = reply(451, "4.3.0", "ระบบขัดข้องชั่วคราว กรุณาส่งใหม่ภายหลัง", "temporary local problem, please try again later")
ADDRESS_CONTROL_CHARS = reply(501, "5.5.4", "ที่อยู่มีอักขระควบคุม", "address contains NUL or control characters")
ADDRESS_NOT_UTF8 = reply(553, "5.6.7", "ที่อยู่ไม่ใช่ UTF-8 ที่ถูกต้อง", "address is not valid UTF-8")
ADDRESS_TOO_LONG = reply(553, "5.1.3", "ที่อยู่ยาวเกิน 256 อักขระ", "address longer than 256 octets (RFC 5321)")
