"""Session 43: `register import-emergency` registered a scan no one can open (cut off
after "%PDF-1.4", a PDF with no page, a JPEG or PNG cut short) as the letter's only
copy, under the next gapless number. Now the row is refused, in English and Thai,
before a number is taken; a scan that opens is imported as before."""
from __future__ import annotations

import io

import pytest

from tests.letters import assemble_pdf, make_pdf
from tests.test_emergency_session36 import imports, row, thai_part, write_book


def _picture(kind: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (600, 800), 200).save(out, kind)
    return out.getvalue()


BROKEN = {
    "header_only.pdf": b"%PDF-1.4\n",
    "no_pages.pdf": assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]),
    "cut.jpg": _picture("JPEG")[:1500],
    "cut.png": _picture("PNG")[:-20],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_scan_no_one_can_open_is_refused_before_a_number(daemon, tmp_path, name):
    (tmp_path / name).write_bytes(BROKEN[name])
    out = imports(daemon, write_book(tmp_path, [row(name)]))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f'line 2: scan "{name}" cannot be opened' in out.stderr, out.stderr
    assert f'แถวที่ 2: เปิดไฟล์สแกน "{name}" ไม่ได้' in thai_part(out.stderr)
    assert daemon.register() == []


def test_a_scan_that_opens_is_imported(daemon, tmp_path):
    (tmp_path / "a.pdf").write_bytes(make_pdf("scan S43"))
    (tmp_path / "b.jpg").write_bytes(_picture("JPEG"))
    out = imports(daemon, write_book(tmp_path, [row("a.pdf;b.jpg")]))
    assert out.returncode == 0, out.stderr
    assert len(daemon.register()) == 1
