"""The printed receive register (ทะเบียนหนังสือรับ) as a PDF: landscape A4, a Thai
TrueType font embedded, text shaped by HarfBuzz so that vowels and tone marks stack
on their consonant (ที่, น้ำ) as on paper. Entries are grouped under the day they
were received, as the pages of the paper book are."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from fpdf import FPDF
from fpdf.enums import TableCellFillMode
from fpdf.fonts import FontFace

from gateway.tools.common import ToolError
from gateway.tools.register_rows import HEADINGS, RegisterRow, thai_long_date
from gateway.tools.thai_wrap import wrap

# Column widths in mm (277 mm between the margins of landscape A4).
WIDTHS = (22, 30, 23, 37, 38, 69, 30, 28)
PADDING = 1.2  # mm, inside each cell
FONT_SIZE = 9

# Where the footer's page count goes. fpdf2 puts the count in place of this text in any
# cell of the book, so until session 43 it was "{nb}", and a sender's subject
# "ขออนุมัติงบประมาณ {nb}00,000 บาท" was printed "ขออนุมัติงบประมาณ 1 00,000 บาท". A
# private-use character, removed from every text the book prints (pdf_text), keeps
# the alias to the footer. Three characters, as "{nb}" had room for three digits.
_PRIVATE = "\ue000"
PAGE_COUNT = _PRIVATE + "nb"


def pdf_text(text: str) -> str:
    """SARA AM (ำ) as NIKHAHIT + SARA AA, the two glyphs the font draws it with.

    HarfBuzz splits ำ into those two glyphs anyway; fpdf2 then maps only the first back
    to a character, so copying or searching the PDF gave "สำ%นัก". Spelled as its two
    parts (its Unicode compatibility decomposition) each glyph maps to its own
    character: it looks the same and the text layer reads "สํานัก" (NFKC-equal).
    U+E000, private and drawn by no font, is dropped: it marks the page count."""
    return (text or "").replace(_PRIVATE, "").replace("\u0e33", "\u0e4d\u0e32")


# A row is drawn on one page: a cell of more lines than a page holds made fpdf raise
# ("The row ... is too high"), and one letter mailed with a 1,200-character subject
# made the unit's printed book of the year fail, at the desk and on the command line
# (session 38's red team). A cell is cut at this many lines, ending "…"; the whole text
# is in the register (the desk, `register show`, the CSV export).
MAX_LINES = 24


# Drawn where the Thai font has no glyph (≥, €, ✓, Ω: TLWG Garuda has Thai and Latin-1
# only), when Debian's fonts-dejavu-core is installed (fpdf2's fallback fonts).
FALLBACK_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
                  Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))


def drawn_as_written(text: str, glyphs: frozenset[int] | None) -> str:
    """`text` with each character no font of the book has written out as \\uXXXX (the
    form of rules/names.py's shown_name), as the page would otherwise leave it out:
    until session 54 "โครงการ ≥ 500,000 บาท" was printed "โครงการ  500,000 บาท"."""
    if glyphs is None or not text:
        return text or ""
    if glyphs.issuperset(map(ord, text)):
        return text
    return "".join(ch if ord(ch) in glyphs or ch in "\n\u0e33" + _PRIVATE else
                   (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}") for ch in text)


def cell_text(text: str, column_width: float, measure: Callable[[str], float],
              glyphs: frozenset[int] | None = None) -> str:
    """Broken into lines between Thai words (segmented as written), then spelled for the
    PDF; at most MAX_LINES lines. `glyphs`: the characters the book's fonts draw."""
    text = drawn_as_written(text, glyphs)
    lines = wrap(text, column_width - 2 * PADDING - 1, lambda t: measure(pdf_text(t)))
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + ["…"]
    return "\n".join(pdf_text(line) for line in lines)


class RegisterBook(FPDF):
    def __init__(self, title: str, subtitle: str, footer_note: str):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.title_text = pdf_text(title)
        self.subtitle = pdf_text(subtitle)
        self.footer_note = pdf_text(footer_note)
        self.set_margins(10, 12, 10)
        self.set_auto_page_break(True, margin=14)

    def header(self) -> None:
        self.set_font("thai", "B", 14)
        self.cell(0, 7, self.title_text, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font("thai", "", 10)
        self.cell(0, 6, self.subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font("thai", "", 8)
        self.cell(0, 5, self.footer_note, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"หน้า {self.page_no()} / {PAGE_COUNT}", align="R")


def load_fonts(pdf: FPDF, regular: Path, bold: Path | None) -> None:
    if not Path(regular).exists():
        raise ToolError(f"Thai font {regular} not found: install the Debian package "
                        "fonts-tlwg-garuda-ttf or set [export] font in the configuration")
    pdf.add_font("thai", "", str(regular))
    pdf.add_font("thai", "B", str(bold if bold and Path(bold).exists() else regular))
    fallback, fallback_bold = FALLBACK_FONTS
    if fallback.exists():
        pdf.add_font("fallback", "", str(fallback))
        pdf.add_font("fallback", "B", str(fallback_bold if fallback_bold.exists() else fallback))
        pdf.set_fallback_fonts(["fallback"])
    try:
        pdf.set_text_shaping(True)  # HarfBuzz: marks positioned on their base
    except Exception as exc:  # uharfbuzz missing: marks would collide, refuse instead
        raise ToolError(f"Thai text shaping is not available ({exc}); install uharfbuzz") from None


def render_pdf(rows: list[RegisterRow], path: Path, title: str, subtitle: str, footer_note: str,
               font: Path, font_bold: Path | None = None,
               on_row: Callable[[], None] | None = None) -> int:
    """Write the register book to `path`; return the number of pages."""
    pdf = RegisterBook(title, subtitle, footer_note)
    load_fonts(pdf, font, font_bold)
    pdf.alias_nb_pages(PAGE_COUNT)
    pdf.add_page()
    pdf.set_font("thai", "", FONT_SIZE)
    measure = pdf.get_string_width
    glyphs = frozenset().union(*(font.cmap for name, font in pdf.fonts.items()
                                 if name.startswith(("thai", "fallback"))))
    heading_style = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    day_style = FontFace(emphasis="BOLD", fill_color=(245, 245, 245))
    with pdf.table(col_widths=WIDTHS, width=sum(WIDTHS), text_align="LEFT", line_height=4.6,
                   padding=PADDING, headings_style=heading_style, repeat_headings=1,
                   cell_fill_mode=TableCellFillMode.NONE) as table:
        head = table.row()
        pdf.set_font("thai", "B", FONT_SIZE)
        for text, w in zip(HEADINGS, WIDTHS):
            head.cell(cell_text(text, w, measure), align="CENTER")
        pdf.set_font("thai", "", FONT_SIZE)
        day: dt.date | None = None
        for row in rows:
            if row.received_at.date() != day:
                day = row.received_at.date()
                band = table.row()
                band.cell(pdf_text(f"วันที่ {thai_long_date(day, row.thai_digits)}"), colspan=len(WIDTHS),
                          style=day_style)
            cells = table.row()
            for text, w in zip(row.cells(), WIDTHS):
                cells.cell(cell_text(text, w, measure, glyphs))
            if on_row:
                on_row()
        if not rows:
            table.row().cell("— ไม่มีรายการ (no entries) —", colspan=len(WIDTHS), align="CENTER")
    pdf.output(str(path))
    return pdf.pages_count


def render_pdf_apart(rows: list[RegisterRow], path: Path, title: str, subtitle: str, footer_note: str,
                     font: Path, font_bold: Path | None = None, nice: int = 0) -> int:
    """`render_pdf` in a child process of its own ("print"), for the web desk.

    The desk runs in the daemon's process, beside the SMTP listener: a book laid out there
    (some 25 ms of CPU a row with Thai shaping, up to `[web] max_printed_rows`) held the
    interpreter's lock for a minute and more, and every SMTP session of that minute waited
    its turn for it. The child is niced as the runners are (`[service] background_nice`),
    so the senders' sessions go first; it writes `path` and says how many pages, or why
    not (a ToolError's words)."""
    from gateway.service.process_util import start_child

    child = start_child("print", _render_for_parent, (rows, path, title, subtitle, footer_note, font,
                                                      font_bold, nice), connected=True)
    conn = child.connection
    try:
        try:
            outcome, value = conn.recv()
        except EOFError:  # it died (killed, out of memory) before it could say
            child.join(10)
            raise RuntimeError(f"the printing process ended without the book (exit {child.exitcode})") from None
    finally:
        conn.close()
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
    if outcome == "pages":
        return value
    if outcome == "refused":
        raise ToolError(*value[:1], th=value[1], en=value[2])
    raise RuntimeError(value)


def _render_for_parent(conn, rows, path, title, subtitle, footer_note, font, font_bold, nice) -> None:  # noqa: ANN001
    import os

    import structlog

    if nice:
        os.nice(nice)
    try:
        pages = render_pdf(rows, path, title, subtitle, footer_note, font, font_bold)
        structlog.get_logger("gateway.tools.register_pdf").info("register_book_laid_out", rows=len(rows),
                                                                 pages=pages)
    except ToolError as exc:
        conn.send(("refused", (str(exc), exc.th, exc.en)))
    except Exception as exc:  # noqa: BLE001 - said to the desk, which logs it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("pages", pages))
    conn.close()
