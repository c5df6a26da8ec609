"""encrypted_pdf: a password-protected PDF cannot be read, stamped or filed. Letters
classified ลับ or ลับมาก must be encrypted when sent electronically (seed 004
appendix ก ข้อ ๓), so for those an encrypted PDF is expected and passes; for any
other letter it fails."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import display_name, is_pdf, letter_files
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


class EncryptedPdf:
    name = "encrypted_pdf"
    description = "PDFs carry no password unless the letter is classified ลับ or ลับมาก"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            if not (is_pdf(att) and att.pdf_encrypted):
                continue
            name = display_name(att)
            if facts.secrecy in ("confidential", "secret"):
                out.append(finding(
                    self.name, "pass",
                    f"ไฟล์ {FILE} เข้ารหัสตามชั้นความลับของหนังสือ กรุณาแจ้งรหัสผ่านทางช่องทางอื่น",
                    f"{FILE} is encrypted as its classification requires; send the password by another channel",
                    name,
                ))
            else:
                out.append(finding(
                    self.name, "fail",
                    f"ไฟล์ {FILE} มีรหัสผ่าน/เข้ารหัส ทำให้ลงทะเบียนรับไม่ได้ กรุณาส่งไฟล์ที่ไม่มีรหัสผ่าน "
                    "(เข้ารหัสเฉพาะหนังสือชั้นลับหรือลับมาก)",
                    f"{FILE} is password-protected, so it cannot be registered; send it without a password "
                    "(only letters classified ลับ or ลับมาก are encrypted)",
                    name,
                ))
        if not out:
            out.append(finding(self.name, "pass", "ไม่มีไฟล์ PDF ที่ติดรหัสผ่าน", "no password-protected PDF"))
        return out
