"""The kind of letter (ชนิดของหนังสือ), from its heading and its number.

Explicit headings win (a heading is a line of the head, above ที่, that starts with
the word): คำสั่ง -> order, ประกาศ -> announcement, หนังสือรับรอง -> certificate,
รายงานการประชุม -> minutes, ระเบียบ -> regulation, ข้อบังคับ -> bylaw, หนังสือประทับตรา
-> stamped. Then ว in the reference number -> circular (หนังสือเวียน, whatever its
form). Then บันทึกข้อความ -> internal_memo, หนังสือภายนอก -> external. A letter with a
coded reference, เรื่อง and เรียน but no memo heading is in the external form (its
heading is the Garuda emblem, which has no text) -> external. Otherwise None.
"""
from __future__ import annotations

import re

from rules.reference import Reference

_HEADINGS = (
    ("คำสั่ง", "order"),
    ("ประกาศ", "announcement"),
    ("หนังสือรับรอง", "certificate"),
    ("รายงานการประชุม", "minutes"),
    ("ระเบียบ", "regulation"),
    ("ข้อบังคับ", "bylaw"),
    ("หนังสือประทับตรา", "stamped"),
)
_MEMO = "บันทึกข้อความ"
_EXTERNAL = "หนังสือภายนอก"


def _heading_lines(head: str) -> list[str]:
    lines = []
    for line in head.splitlines():
        line = line.strip().lstrip("*#").strip()
        # markings may precede the heading on its line: "ด่วนที่สุด บันทึกข้อความ"
        line = re.sub(r"^(?:(?:ด่วนที่สุด|ด่วนมาก|ด่วน|ลับที่สุด|ลับมาก|ลับ)\s+)+", "", line)
        if line:
            lines.append(line)
    return lines


def letter_kind(head: str, reference: Reference | None, has_subject: bool, has_addressee: bool) -> str | None:
    lines = _heading_lines(head)
    for word, kind in _HEADINGS:
        if any(line.startswith(word) for line in lines):
            return kind
    if reference is not None and reference.is_circular:
        return "circular"
    if any(line.startswith(_MEMO) for line in lines):
        return "internal_memo"
    if any(line.startswith(_EXTERNAL) for line in lines):
        return "external"
    if reference is not None and reference.code and has_subject and has_addressee:
        return "external"
    return None
