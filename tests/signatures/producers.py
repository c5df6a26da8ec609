"""Unsigned letters as common producers write them, for the receive stamp's placement.

* fpdf2 (the MediaBox inherited from the page tree, as fpdf2 writes it) with an address
  block and two visible signature widgets near the top right;
* LibreOffice Writer (`soffice --headless --convert-to pdf`) from a plain-text letter;
* a scanned letter: a greyscale JPEG image filling an A4 page (what a copier's
  scan-to-PDF produces), made with Pillow.
Each function returns the PDF bytes; LibreOffice's is None when soffice is missing.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.pki import GARUDA

LETTER_LINES = [
    "ที่ กท ๐๔๐๓/ว ๒๗๖",
    "เรื่อง ขอเชิญประชุมคณะกรรมการ",
    "เรียน ผู้อำนวยการเขตพระนคร",
    "",
    "ด้วยสำนักงานเขตบางรักจะจัดประชุมคณะกรรมการชุมชน ในวันจันทร์ที่ ๑๕ ธันวาคม ๒๕๖๘",
    "เวลา ๐๙.๓๐ น. ณ ห้องประชุมชั้น ๓ จึงเรียนมาเพื่อโปรดพิจารณา",
]


def fpdf2_letter(*, page_size=(595.28, 841.89), signature_widgets: bool = False) -> bytes:
    """An fpdf2 letter whose sender's address block sits in the top right corner."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=page_size)
    pdf.add_font("Garuda", fname=str(GARUDA))
    pdf.set_text_shaping(True)
    pdf.add_page()
    pdf.set_font("Garuda", size=11)
    width = page_size[0]
    # The sender's address block, top right, as Thai letters (หนังสือภายนอก) have it.
    for i, line in enumerate(["สำนักงานเขตบางรัก", "ถนนนเรศ แขวงสี่พระยา", "กรุงเทพฯ ๑๐๕๐๐"]):
        pdf.set_xy(width - 190, 40 + i * 16)
        pdf.cell(170, 14, line, align="R")
    pdf.set_font("Garuda", size=14)
    pdf.set_xy(60, 130)
    for line in LETTER_LINES:
        pdf.cell(0, 22, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(60)
    data = bytes(pdf.output())
    if signature_widgets:
        data = _with_signature_widgets(data, [(width - 250, page_size[1] - 150, width - 140, page_size[1] - 110),
                                              (width - 130, page_size[1] - 150, width - 20, page_size[1] - 110)])
    return data


def _with_signature_widgets(data: bytes, rects) -> bytes:
    """Empty visible signature fields (the sender's signing spots) on page 1."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    w = IncrementalPdfFileWriter(io.BytesIO(data))
    for i, rect in enumerate(rects, 1):
        append_signature_field(w, SigFieldSpec(sig_field_name=f"Sender{i}", on_page=0,
                                               box=tuple(int(v) for v in rect)))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def libreoffice_letter() -> bytes | None:
    header = ["สำนักงานเขตบางรัก                                                            ด่วนที่สุด"]
    made = libreoffice_pdfs({"letter": "\n".join(header + LETTER_LINES * 4) + "\n"})
    return made["letter"] if made else None


def libreoffice_pdfs(texts: dict[str, str]) -> dict[str, bytes] | None:
    """Each plain text (name -> lines) as LibreOffice Writer makes it a PDF, all in one
    soffice run; None when soffice is missing."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for name, text in texts.items():
            (Path(tmp) / f"{name}.txt").write_text(text, encoding="utf-8")
            sources.append(str(Path(tmp) / f"{name}.txt"))
        subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp}/profile",
                        "--convert-to", "pdf", "--outdir", tmp, *sources],
                       check=True, capture_output=True, timeout=180)
        return {name: (Path(tmp) / f"{name}.pdf").read_bytes() for name in texts}


CHROMIUM = "/usr/bin/chromium"  # Debian's, as the web desk's tests drive it


def chromium_pdfs(htmls: dict[str, str]) -> dict[str, bytes]:
    """Each HTML page as Chromium prints it to PDF (Skia's PDF backend: what "Print to
    PDF" of a web mail or a Google Docs letter gives), in one browser."""
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs it"
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            for name, html in htmls.items():
                page.set_content(html)
                page.evaluate("document.fonts.ready")
                out[name] = page.pdf(format="A4", print_background=True)
        finally:
            browser.close()
    return out


def scanned_letter(*, dpi: int = 100) -> bytes:
    """A page-sized greyscale scan: dark text top left, a round seal top right."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    w, h = int(8.27 * dpi), int(11.69 * dpi)
    img = Image.new("L", (w, h), 245)  # scanner paper is never quite white
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(GARUDA), int(dpi * 0.2))
    y = int(dpi * 1.6)
    for line in LETTER_LINES * 3:
        draw.text((int(dpi * 0.9), y), line, fill=20, font=font)
        y += int(dpi * 0.32)
    # The sender's round seal (ตราครุฑ) in the top right corner.
    r = int(dpi * 0.45)
    cx, cy = w - int(dpi * 1.2), int(dpi * 0.8)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=40, width=4)
    out = io.BytesIO()
    img.save(out, "PDF", resolution=dpi)
    return out.getvalue()


def lying_page_tree(kind: str) -> bytes:
    """Two pages, a blank one and one with text down its top right, in a page tree on
    which readers disagree about which is first (written by hand, one revision):
    * "count0": the blank page sits under a /Pages node whose /Count says 0 (pyHanko
      trusts /Count and skips it; PDFium and poppler count the pages themselves);
    * "page_with_kids": the text page is a /Page that has /Kids, the blank page its kid
      (pyHanko and poppler go by /Type, PDFium by /Kids)."""
    from tests.letters import assemble_pdf, stream_object

    text = b"BT /F1 14 Tf " + b" ".join(
        b"1 0 0 1 300 %d Tm (TEXT OF THE LETTER, LINE %d) Tj" % (y, n) for n, y in enumerate(range(800, 400, -18))) + b" ET"
    text_page = b"<< /Type /Page /Parent %s /MediaBox [0 0 595 842] /Resources << /Font << /F1 8 0 R >> >> /Contents 6 0 R%s >>"
    blank_page = b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 595 842] /Contents 7 0 R >>"
    if kind == "count0":
        tree = [b"<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>",
                b"<< /Type /Pages /Parent 2 0 R /Kids [4 0 R] /Count 0 >>", blank_page,
                text_page % (b"2 0 R", b"")]
    else:
        tree = [b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", text_page % (b"2 0 R", b" /Kids [4 0 R]"),
                blank_page, b"null"]
    return assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", *tree, stream_object(text), stream_object(b""),
                         b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"],
                        header=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
