"""splitting: the cover letter and each enclosure in a file of its own (seed 004
appendix ข ๒.๑). Findings: an archive (zip, rar, 7z, ...) holding documents, or one
we cannot look into; fewer document files than the cover plus the enclosures the
letter lists (e.g. a single file when สิ่งที่ส่งมาด้วย lists several)."""
from __future__ import annotations

from rules.checks import FILE, finding
from rules.files import DOCUMENT_EXTENSIONS, display_name, documents, is_archive, letter_files, zip_member_names
from rules.model import Finding, LetterFacts, ParsedMail, RuleSettings


def _documents_inside(names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith("/") and n.rsplit(".", 1)[-1].lower() in DOCUMENT_EXTENSIONS]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Splitting:
    name = "splitting"
    description = "Cover letter and each enclosure are separate files, not archives"

    def check(self, mail: ParsedMail, facts: LetterFacts, settings: RuleSettings) -> list[Finding]:
        out = []
        for att in letter_files(mail):
            if not is_archive(att) or att.size == 0:
                continue
            name = display_name(att)
            names = zip_member_names(att)
            inside = _documents_inside(names) if names is not None else None
            if inside:
                out.append(finding(
                    self.name, "fail",
                    f"ไฟล์บีบอัด {FILE} มีเอกสาร {len(inside)} ไฟล์ กรุณาแนบหนังสือนำและสิ่งที่ส่งมาด้วยแต่ละฉบับเป็นไฟล์แยกกัน ไม่บีบอัด",
                    f"the archive {FILE} holds {len(inside)} document(s); attach the cover letter and each enclosure as separate files, not compressed",
                    name,
                ))
            else:
                out.append(finding(
                    self.name, "fail",
                    f"ไม่รับไฟล์บีบอัด ({FILE}) กรุณาแนบเอกสารแต่ละฉบับเป็นไฟล์ PDF แยกกัน",
                    f"archives ({FILE}) are not accepted; attach each document as a separate PDF file",
                    name,
                ))
        listed = len(facts.enclosures)
        files = len(documents(mail))
        if listed and files and files < 1 + listed:
            expected = 1 + listed
            out.append(finding(
                self.name, "fail",
                f"หนังสือระบุสิ่งที่ส่งมาด้วย {listed} รายการ จึงควรแนบ {expected} ไฟล์ "
                f"(หนังสือนำ 1 ไฟล์ และสิ่งที่ส่งมาด้วยรายการละ 1 ไฟล์) แต่ได้รับ {files} ไฟล์ "
                "กรุณาแยกหนังสือนำและสิ่งที่ส่งมาด้วยแต่ละรายการเป็นไฟล์ละหนึ่งฉบับ",
                f"the letter lists {_count(listed, 'enclosure')}, so {expected} files were expected "
                f"(one for the cover letter and one for each enclosure), but the mail carries "
                f"{_count(files, 'file')}; send the cover letter and each enclosure as a file of its own",
            ))
        if not out:
            out.append(finding(self.name, "pass", "แยกไฟล์หนังสือนำและสิ่งที่ส่งมาด้วยถูกต้อง", "cover letter and enclosures are separate files"))
        return out
