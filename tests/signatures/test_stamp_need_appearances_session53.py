"""The receive stamp and a form whose values readers draw (sig red team, session 53).

A form filled by a tool that leaves the drawing to the reader (pypdf, pdftk: /V set,
/NeedAppearances true, the stored appearance blank or stale) shows its values in every
reader. pyHanko removes /NeedAppearances with every signature it writes, the gateway's
seal too, so the stamped copy in the unit's folder showed the fields' stored appearances:
"APPROVED 9,000,000 THB" was gone from it (or other text stood in its place) while the
letter as sent showed it. Such a letter now keeps its bytes and gets a receipt.
"""
from __future__ import annotations

import subprocess

from pyhanko.pdf_utils import generic

from gateway.signatures.stamp import stamp_pdf
from tests.signatures.test_need_appearances_after_signing import HIDDEN, _form_update, _letter_with_amount


def _text(data: bytes, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"],
                          capture_output=True, check=True).stdout.decode()


def test_a_form_drawn_from_its_values_gets_a_receipt_not_a_copy_without_them(tmp_path, seal, stamp_info):
    letter = _form_update(_letter_with_amount(b""), NeedAppearances=generic.BooleanObject(True))
    assert HIDDEN in _text(letter, tmp_path, "letter")  # what the sender's letter shows
    result = stamp_pdf(letter, stamp_info, seal)
    assert result.mode == "receipt", "the stamped copy shows: " + _text(result.pdf, tmp_path, "stamped")
    assert "NeedAppearances" in result.reason and "other text" in result.reason


def test_a_form_with_its_own_appearances_is_stamped(seal, stamp_info):
    assert stamp_pdf(_letter_with_amount(HIDDEN.encode()), stamp_info, seal).mode == "stamped"
