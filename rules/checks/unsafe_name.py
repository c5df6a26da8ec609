"""unsafe_name: file names with path separators, `..`, control or bidirectional
override characters, or too long. Reported so the sender fixes them; the gateway
never uses a sender's name as a path anyway."""
from __future__ import annotations

import unicodedata

from rules.checks import FILE, finding
from rules.files import display_name, letter_files
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings

_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
# Most file systems stop at 255 bytes per name.
_MAX_BYTES = 255


def problems(name: str, max_length: int) -> list[tuple[str, str]]:
    out = []
    if "/" in name or "\\" in name:
        out.append(("มีเครื่องหมาย / หรือ \\", "it contains / or \\"))
    if ".." in name.replace("\\", "/").split("/") or name.startswith("..") or "/../" in name:
        out.append(("มี ..", "it contains .."))
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        out.append(("มีอักขระควบคุม", "it contains control characters"))
    if any(ch in _BIDI for ch in name):
        out.append(("มีอักขระกลับทิศทางข้อความ (ซ่อนนามสกุลจริง)", "it contains direction-override characters that can hide the real extension"))
    if len(name) > max_length or len(name.encode("utf-8")) > _MAX_BYTES:
        out.append((f"ยาวเกิน {max_length} ตัวอักษร", f"it is longer than {max_length} characters"))
    if name.strip(" .") == "":
        out.append(("มีแต่จุดหรือช่องว่าง", "it is only dots or spaces"))
    return out


class UnsafeName:
    name = "unsafe_name"
    description = "File names are safe: no paths, .., control characters or over-long names"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            if att.filename is None:
                continue
            found = problems(att.filename, settings.max_filename_length)
            if found:
                name = display_name(att)  # cut as every finding cuts it
                out.append(finding(
                    self.name, "fail",
                    f"ชื่อไฟล์ {FILE} ไม่ปลอดภัย ({', '.join(t for t, _ in found)}) กรุณาเปลี่ยนชื่อไฟล์ให้สั้นและใช้เฉพาะตัวอักษร ตัวเลข และ _",
                    f"the file name {FILE} is unsafe ({'; '.join(e for _, e in found)}); rename it to a short name of letters, digits and _",
                    name,
                ))
        return out or [finding(self.name, "pass", "ชื่อไฟล์ปลอดภัย", "file names are safe")]
