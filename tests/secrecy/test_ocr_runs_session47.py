"""A drawn crop is not read twice as it is (session 47).

A crop where OCR found no marking was read as it is, then, once its rows showed no
slant, read as it is again: the same pixels, the same model, the same words. Each box of
a form without a marking cost four Tesseract runs instead of two, and EU DSS's signed,
filled 20-page tax form (40 crops, 160 runs, ~27 s on a quiet machine) passed
DRAWINGS_TIME (20 s): an ordinary letter was sealed as ลับ, uncertain ("file 1
unreadable")."""
from __future__ import annotations

import pytest

from gateway.pipeline import scanned_pages
from tests.secrecy.test_band_drawings import TYPED, picture_ops, reading, with_drawing, _picture


@pytest.fixture(autouse=True)
def _nothing_remembered(monkeypatch):
    monkeypatch.setattr(scanned_pages, "_crops_read", {}, raising=False)


def counted_runs(monkeypatch) -> list[int]:
    runs: list[int] = []
    ocr = scanned_pages._ocr
    monkeypatch.setattr(scanned_pages, "_ocr", lambda *a, **k: runs.append(1) or ocr(*a, **k))
    return runs


def test_a_forms_empty_box_is_read_as_it_is_once_and_once_without_its_frame(monkeypatch):
    runs = counted_runs(monkeypatch)
    box = b"0 G 2 w 200 760 220 50 re S"  # a form's box in the head, nothing written in it
    assert reading(with_drawing(TYPED, box)) == ("none", True)
    assert len(runs) == 2, runs


def test_a_framed_stamp_is_still_read_and_with_one_run(monkeypatch):
    runs = counted_runs(monkeypatch)
    stamp = with_drawing(TYPED, picture_ops("Stamp", 380, 760, 150, 55), {"/Stamp": _picture("ลับมาก")})
    assert reading(stamp) == ("secret", True)
    assert len(runs) <= 2, runs
