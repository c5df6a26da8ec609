"""no_document: a mail without any document (no PDF, image or office file with
content) carries no letter to register. An archive holding documents counts as a
document here; `splitting` asks for it to be unpacked."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.checks.splitting import _documents_inside
from rules.files import display_name, documents, is_archive, letter_files, zip_member_names
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
        # The letter was attached but arrived empty (an upload that failed): "no letter
        # found" sent its sender looking for a mistake they did not make (session 39).
        empty = next((att for att in letter_files(mail) if att.size == 0), None)
        if empty is not None:
            return [finding(
                self.name, "fail",
                f"ไฟล์ {FILE} ที่แนบมาว่างเปล่า (0 ไบต์) จึงไม่พบหนังสือ กรุณาแนบไฟล์หนังสือ (PDF) ใหม่แล้วส่งอีกครั้ง",
                f"{FILE} arrived empty (0 bytes), so no letter was found; attach the letter again (a PDF file) and resend",
                display_name(empty),
            )]
        return [finding(
            self.name, "fail",
            "ไม่พบหนังสือในอีเมลนี้ กรุณาแนบหนังสือนำเป็นไฟล์ PDF (และสิ่งที่ส่งมาด้วยแยกไฟล์) แล้วส่งใหม่",
            "no letter found in this mail; attach the cover letter as a PDF file (and each enclosure as a separate file) and resend",
        )]
