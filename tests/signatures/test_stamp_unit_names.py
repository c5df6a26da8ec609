"""Every unit's name fits its receive stamp. A unit's name is broken into lines between
words (gateway/tools/thai_wrap.py `wrap`); where the break fell on a space, the empty
rest of the line was measured, HarfBuzz shaped nothing, and the stamp failed with a
TypeError: every letter to โรงเรียนสามเสนนอก (ประชาราษฎร์อนุกุล) สำนักงานเขตดินแดง, a unit
of the demo directory, was filed without its stamp ("the receive stamp is unavailable")."""
from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from gateway.signatures.stamp import StampInfo, stamp_pdf
from gateway.tools.thai_wrap import wrap

REPO = Path(__file__).resolve().parents[2]
UNITS = tomllib.loads((REPO / "config" / "units.toml").read_text(encoding="utf-8"))["unit"]
RECEIVED = dt.datetime(2026, 1, 5, 2, 10, tzinfo=dt.timezone.utc)


def _page_text(pdf: bytes, tmp_path: Path) -> str:
    """Page 1's text as poppler reads it (pypdf misreads some Thai marks of the stamp's map)."""
    path = tmp_path / "stamped.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_every_unit_of_the_demo_directory_gets_its_stamp(letter, seal):
    failed = []
    for unit in UNITS:
        info = StampInfo(unit_name=unit["name_th"], receive_number="15/2569", received_at=RECEIVED)
        result = stamp_pdf(letter, info, seal)
        if result.mode != "stamped":
            failed.append((unit["address"], result.mode))
    assert not failed


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_the_school_in_din_daeng_gets_its_name_on_two_lines(letter, seal, tmp_path):
    name = "โรงเรียนสามเสนนอก (ประชาราษฎร์อนุกุล) สำนักงานเขตดินแดง"
    result = stamp_pdf(letter, StampInfo(unit_name=name, receive_number="15/2569", received_at=RECEIVED), seal)
    assert result.mode == "stamped"
    lines = [line.strip() for line in _page_text(result.pdf, tmp_path).splitlines() if line.strip()]
    assert lines[:3] == ["โรงเรียนสามเสนนอก (ประชาราษฎร์อนุกุล)", "สำนักงานเขตดินแดง", "เลขรับ ๑๕/๒๕๖๙"], lines


@pytest.mark.parametrize("seed", range(3))
def test_a_break_on_a_space_measures_no_empty_line(seed):
    # Widths in characters: any limit, any placement of spaces, a text never lost.
    rng = random.Random(seed)
    words = ["สำนักงานเขต", "ดินแดง", "(ประชาราษฎร์อนุกุล)", "โรงเรียน", "กรุงเทพมหานคร", "ฝ่าย", "บริหาร", "A"]

    def measure(text: str) -> float:
        assert text, "an empty line was measured"
        return float(len(text))

    for _ in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 8)))
        limit = rng.randrange(3, 40)
        lines = wrap(text, limit, measure)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        assert all(line == line.rstrip() for line in lines)
