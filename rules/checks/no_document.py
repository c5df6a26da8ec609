"""no_document: a mail without any document (no PDF, image or office file with
content) carries no letter to register. An archive holding documents counts as a
document here; `splitting` asks for it to be unpacked."""
from __future__ import annotations

from rules.checks import finding
from rules.checks.splitting import _documents_inside
from rules.files import documents, is_archive, letter_files, zip_member_names
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


class NoDocument:
    name = "no_document"
    description = "The mail carries at least one document"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        if documents(mail):
            return [finding(self.name, "pass", "มีเอกสารแนบ", "the mail carries a document")]
        for att in letter_files(mail):
            if is_archive(att) and _documents_inside(zip_member_names(att) or []):
                return [finding(self.name, "pass", "มีเอกสารในไฟล์บีบอัด", "the mail carries documents in an archive")]
        return [finding(
            self.name, "fail",
            "ไม่พบหนังสือในอีเมลนี้ กรุณาแนบหนังสือนำเป็นไฟล์ PDF (และสิ่งที่ส่งมาด้วยแยกไฟล์) แล้วส่งใหม่",
            "no letter found in this mail; attach the cover letter as a PDF file (and each enclosure as a separate file) and resend",
        )]
