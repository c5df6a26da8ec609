"""The receive stamp never lands on text drawn as one page-sized path, and has a white ground.

Print drivers and Ghostscript (-dNoOutputFonts) turn a letter's text into outlines: every
glyph a subpath of ONE path object whose box is the page. A form's grid is often one
stroked path too. The placement used to take any shape larger than BACKGROUND_SHARE of
the page for "the paper's colour or its frame" and ignore it, however much ink it had, and
the stamp went on the text (the red team's F3). Now the page is rendered when such a shape
exists, and where it differs from the paper's colour is kept clear of; a page-sized fill
or a frame leave the rest of the page free, as before. An ordinary letter holds no such
shape and is not rendered.

The stamp's "opaque white ground" was a 10 x 10 pt square in its middle (F4): on a grey
page the stamp showed the grey around its text. And a page of /UserUnit 10 got a receipt
saying "an unusual PDF structure" (pyHanko's margins did not fit a stamp laid out in
10-point units).

What a person sees is checked: page 1 rendered by poppler before and after
(`test_stamp_placement.check_placement`: the original is blank paper under the stamp,
nothing else changed), once through the real daemon's folder copy.
"""
from __future__ import annotations

import email
import email.policy
import io
import uuid

import pytest

from gateway.signatures import page_space
from gateway.signatures.stamp import stamp_pdf
from tests.letters import assemble_pdf, stream_object
from tests.signatures import producers
from tests.signatures.test_stamp_placement import PAPER, check_placement, render, stamp_widget


def raw_pdf(content: bytes, *, media=(0, 0, 595, 842), page_extra: bytes = b"") -> bytes:
    """A one-page PDF of one content stream, written by hand (one revision)."""
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Resources << >> /Contents 4 0 R %s >>" % (
            b" ".join(str(v).encode() for v in media), page_extra),
        stream_object(content),
    ], header=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")


def outlined_text(x0: float, x1: float, y_top: float, y_bottom: float, *, blank=None) -> list[bytes]:
    """Glyph-like rectangles (6 x 8 pt, 9 pt apart, lines 14 pt apart): text as outlines.
    `blank`: a (x0, y0, x1, y1) region left without glyphs."""
    ops = []
    y = y_top
    while y > y_bottom:
        x = x0
        while x < x1:
            if not (blank and blank[0] <= x + 6 and x <= blank[2] and blank[1] <= y + 8 and y <= blank[3]):
                ops.append(b"%g %g 6 8 re" % (x, y))
            x += 9
        y -= 14
    return ops


def one_path(subpaths: list[bytes], paint: bytes = b"f") -> bytes:
    return b"0 g 0 G 1 w\n" + b"\n".join(subpaths) + b"\n" + paint + b"\n"


def outlined_letter() -> bytes:
    """An A4 letter whose text is one filled path over the page (70 % of it), with a
    blank band between its heading and its body where the stamp can go."""
    return raw_pdf(one_path(outlined_text(60, 540, 800, 640) + outlined_text(60, 540, 430, 80)))


def form_grid() -> bytes:
    """A form's grid, one stroked path of page-wide lines every 20 pt, a band left open."""
    lines = [b"40 %d m 555 %d l" % (y, y) for y in [*range(40, 460, 20), *range(640, 810, 20)]]
    return raw_pdf(one_path(lines, b"S"))


def test_outlined_text_in_one_page_sized_path_is_not_stamped_over(tmp_path, seal, stamp_info):
    letter = outlined_letter()
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "outlined")
    rect = stamp_widget(result.pdf)[1]
    assert 438 <= rect[1] and rect[3] <= 640, rect  # in the blank band, not over the heading


def test_a_form_grid_drawn_as_one_path_is_not_stamped_over(tmp_path, seal, stamp_info):
    letter = form_grid()
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "grid")
    rect = stamp_widget(result.pdf)[1]
    assert 440 <= rect[1] and rect[3] <= 640, rect


def test_a_page_covered_with_outlined_text_gets_a_receipt(seal, stamp_info):
    # The red team's case: lines of outlined text from top to bottom, nowhere blank.
    letter = raw_pdf(one_path(outlined_text(60, 540, 800, 80)))
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "receipt"
    assert result.reason == "no free space at the top right of page 1 for the stamp"


@pytest.mark.parametrize("rotate", [90, 270])
def test_outlined_text_on_a_rotated_page(tmp_path, seal, stamp_info, rotate):
    """/Rotate 90 and 270 and a /CropBox: the render's pixels are mapped back to the
    page's user space. The blank region is where the displayed top right lies."""
    # Displayed, the page is 810 x 560 (landscape). The text covers its top right corner
    # (for /Rotate 90 user space x small and y large, for 270 the opposite); the blank is
    # below it, still in the top half: displayed y 250-440, x 460-780.
    blank = (140, 480, 330, 800) if rotate == 90 else (270, 50, 460, 370)
    letter = raw_pdf(one_path(outlined_text(60, 540, 800, 40, blank=blank)),
                     page_extra=b"/CropBox [20 20 580 830] /Rotate %d" % rotate)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, f"outlined-rotate{rotate}")
    rect = stamp_widget(result.pdf)[1]
    centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
    assert blank[0] <= centre[0] <= blank[2] and blank[1] <= centre[1] <= blank[3], rect  # in the blank


def _serpentine_grid() -> bytes:
    """A form's grid drawn as ONE subpath to and fro across the page: even pdfminer, which
    splits a path at every moveto, sees one curve as large as the page."""
    points = []
    for i, y in enumerate(range(800, 39, -20)):
        ends = (b"40", b"555") if i % 2 == 0 else (b"555", b"40")
        points += [b"%s %d" % (ends[0], y), b"%s %d" % (ends[1], y)]
    return b"0 G 1 w " + points[0] + b" m " + b" ".join(p + b" l" for p in points[1:]) + b" S"


def _two_revisions(data: bytes) -> bytes:
    """The same page with a second revision on top (an /Info update): the placement then
    reads it with pdfminer as well."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(data))
    w.set_info(generic.DictionaryObject({generic.pdf_name("/Title"): generic.pdf_string("letter")}))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_pdfminer_keeps_clear_of_a_page_sized_line_drawn_to_and_fro(tmp_path, seal, stamp_info):
    """The second reader (files of several revisions) had the same rule: its boxes now
    hold every pixel poppler inks of such a curve, and the stamp gives way (here, no
    band is left: a receipt)."""
    letter = _two_revisions(raw_pdf(_serpentine_grid()))
    boxes, big_shape = page_space._pdfminer_boxes(letter, 0, max_objects=20000)
    assert big_shape
    image = render(letter, tmp_path, "serpentine")
    px = image.size[0] / 595
    pixels = image.load()
    clear = [(b[0] - page_space.PAD, b[1] - page_space.PAD, b[2] + page_space.PAD, b[3] + page_space.PAD)
             for b in boxes]
    inked = uncovered = 0
    for y in range(image.size[1]):
        for x in range(image.size[0]):
            if pixels[x, y] < PAPER:
                inked += 1
                u, v = (x + 0.5) / px, 842 - (y + 0.5) / px
                uncovered += not any(b[0] <= u <= b[2] and b[1] <= v <= b[3] for b in clear)
    assert inked > 1000 and uncovered == 0, (inked, uncovered)
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "receipt", "stamped over the grid"


def test_only_a_page_with_a_page_sized_shape_is_rendered(monkeypatch, seal, stamp_info):
    """The render costs only the letters that need it: not a typed or scanned letter."""
    calls = []
    real = page_space._rendered_ink
    monkeypatch.setattr(page_space, "_rendered_ink", lambda page: calls.append(1) or real(page))
    for letter in (producers.fpdf2_letter(), producers.scanned_letter(), producers.libreoffice_letter()):
        if letter is not None:
            page_space.content_boxes(letter, 0)
    assert calls == []
    page_space.content_boxes(outlined_letter(), 0)
    assert calls == [1]


def test_a_grey_page_with_a_frame_keeps_the_corner_and_the_stamp_a_white_ground(tmp_path, seal, stamp_info):
    """A page-sized fill is the paper's colour and a frame its edge: the stamp still takes
    the top right corner, as on blank paper. Its ground is opaque white over the whole
    box (it was a 10 x 10 pt square in the middle: grey showed around the text)."""
    letter = raw_pdf(b"0.5 g 0 0 595 842 re f 0 G 1 w 9 9 577 824 re S")
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    geometry, rect, _ = stamp_widget(result.pdf)
    # As on blank paper (577, 824), but 4 pt clear of the frame's line, on a 3 pt grid.
    assert 567 <= rect[2] <= 577 and 814 <= rect[3] <= 824 and rect[2] - rect[0] == 180, rect
    image = render(result.pdf, tmp_path, "grey-stamped")
    px = image.size[0] / 595
    inner = image.crop((int(rect[0] * px) + 3, int((842 - rect[3]) * px) + 3,
                        int(rect[2] * px) - 3, int((842 - rect[1]) * px) - 3))
    w, h = inner.size
    white = sum(inner.histogram()[250:])
    assert white > 0.75 * w * h, f"{white} of {w * h} pixels white under the stamp"
    for corner in ((0, 0), (w - 4, 0), (0, h - 4), (w - 4, h - 4)):  # between the border and the text
        assert inner.crop((*corner, corner[0] + 4, corner[1] + 4)).getextrema()[0] >= 250, corner


def test_a_page_of_user_unit_10_is_stamped(tmp_path, seal, stamp_info):
    """/UserUnit 10: an A4 page is 59.5 x 84.2 units. The stamp is 180 x 84 points, 18 x
    8.4 units, laid out in points as on any page (it got a receipt with pyHanko's
    "LayoutError ... Margins (5, 5) too wide")."""
    letter = raw_pdf(b"0 g 4 6 1 1 re f", media=(0, 0, 59.5, 84.2), page_extra=b"/UserUnit 10")
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "stamped", result.reason
    check_placement(letter, result.pdf, tmp_path, "userunit10")
    rect = stamp_widget(result.pdf)[1]
    assert (round(rect[2] - rect[0], 1), round(rect[3] - rect[1], 1)) == (18.0, 8.4)
    assert 56.7 <= rect[2] <= 57.7 and 81.4 <= rect[3] <= 82.4, rect  # 18 pt from the top right corner, on the grid


def stamped_folder_copy(tmp_path, pki, pdf: bytes, file_name: str) -> bytes:
    """The stamped PDF in the unit's folder copy of a letter carrying `pdf` as
    `file_name`, sent through the real daemon."""
    from tests.daemon import Daemon, write_config
    from tests.letters import letter as mail

    unit = "saraban.pomprap@bangkok.go.th"
    daemon = Daemon(write_config(tmp_path / "gw", extra=f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n')).start()
    try:
        queue_id = daemon.send(mail(to=unit, files=[(file_name, pdf)],
                                    message_id=f"<{uuid.uuid4()}@dds.bangkok.go.th>"), unit)
        daemon.wait_idle()
        [path] = [p for p in daemon.maildir_files("pomprap") if p.name.startswith(queue_id)]
    finally:
        daemon.stop()
    copy = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    stamped_name = file_name.removesuffix(".pdf") + ".stamped.pdf"
    assert copy["X-Saraban-Stamp"] == f"stamped: {stamped_name}"
    return {p.get_filename(): p.get_content() for p in copy.iter_attachments()}[stamped_name]


def test_the_daemons_folder_copy_of_an_outlined_letter(tmp_path, pki):
    """Through the real daemon: the stamped copy in the unit's folder keeps off the text."""
    pdf = outlined_letter()
    check_placement(pdf, stamped_folder_copy(tmp_path, pki, pdf, "2569_dds_0403_73.pdf"), tmp_path, "daemon-outlined")
