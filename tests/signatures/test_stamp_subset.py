"""The receive stamp's font subset is cut by HarfBuzz (gateway/signatures/stamp.py
`_subset_program`), not by fontTools' subsetter, which pyHanko uses: what a PDF viewer
draws from the embedded program must be what it drew before. For the stamp's fonts
(TLWG Garuda, the default, and the Noto Thai faces an operator may configure) and random
sets of glyphs, both subsets must hold the same glyph ids with the same outlines, widths,
character map and hinting programs, and nothing of the glyphs left out."""
from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from gateway.signatures import stamp as stamp_module

FONTS = [Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf"),
         Path("/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf"),
         Path("/usr/share/fonts/truetype/noto/NotoSerifThai-Bold.ttf")]


def _tables(program: bytes):
    from fontTools import ttLib

    return ttLib.TTFont(io.BytesIO(program))


def _drawn(tt, gid: int) -> tuple:
    """What a viewer draws for glyph `gid`: its outline's compiled points and
    instructions (components resolved by id), and its advance and side bearing."""
    name = tt.getGlyphOrder()[gid]
    glyph = tt["glyf"][name]
    outline = glyph.compile(tt["glyf"]) if glyph.numberOfContours else b""
    return outline, tt["hmtx"][name]


@pytest.mark.parametrize("font", [f for f in FONTS if f.exists()], ids=lambda f: f.name)
def test_harfbuzz_cuts_the_subset_fonttools_cut(font):
    loaded = stamp_module._loaded_font(str(font))
    whole = _tables(loaded.to_subset)
    count = len(whole.getGlyphOrder())
    rng = random.Random(font.name)
    sets = [loaded.alphabet_gids, frozenset({0})] + [
        loaded.alphabet_gids | frozenset(rng.sample(range(count), rng.randrange(1, min(count, 120))))
        for _ in range(12)]
    for gids in sets:
        ours = _tables(stamp_module._subset_by_harfbuzz(loaded.to_subset, gids))
        reference = _tables(stamp_module._subset_by_fonttools(loaded.to_subset, gids))
        assert len(ours.getGlyphOrder()) == len(reference.getGlyphOrder())  # glyph id = CID kept
        kept = [gid for gid in range(len(reference.getGlyphOrder()))
                if reference["glyf"][reference.getGlyphOrder()[gid]].numberOfContours]
        assert (kept or gids == {0}) and set(kept) <= set(gids) | _components(whole, gids)
        for gid in range(len(reference.getGlyphOrder())):
            assert _drawn(ours, gid) == _drawn(reference, gid), (font.name, gid)
        assert ours.getBestCmap() == reference.getBestCmap()
        for tag in ("cvt ", "fpgm", "prep"):
            assert (tag in ours) == (tag in reference)
            if tag in reference:
                assert ours.getTableData(tag) == reference.getTableData(tag)
        assert ours["head"].unitsPerEm == whole["head"].unitsPerEm
        assert not {"GSUB", "GPOS", "GDEF", "FFTM"} & set(ours.keys())


def _timeless(program: bytes) -> bytes:
    from fontTools.ttLib import TTFont

    tt = TTFont(io.BytesIO(program), recalcTimestamp=False)
    tt["head"].modified = 0
    out = io.BytesIO()
    tt.save(out)
    return out.getvalue()


def _components(tt, gids) -> set[int]:
    order, glyf, found = tt.getGlyphOrder(), tt["glyf"], set()
    todo = [order[g] for g in gids]
    while todo:
        glyph = glyf[todo.pop()]
        if glyph.isComposite():
            for component in glyph.components:
                gid = tt.getGlyphID(component.glyphName)
                if gid not in found:
                    found.add(gid)
                    todo.append(component.glyphName)
    return found


def test_a_font_harfbuzz_refuses_is_cut_by_fonttools(monkeypatch):
    loaded = stamp_module._loaded_font(str(FONTS[0]))

    def refused(font, gids):
        raise RuntimeError("hb_subset_or_fail")

    monkeypatch.setattr(stamp_module, "_subset_by_harfbuzz", refused)
    stamp_module._subset_program.cache_clear()
    try:
        program, flated = stamp_module._subset_program(loaded.to_subset, loaded.alphabet_gids)
    finally:
        stamp_module._subset_program.cache_clear()
    # fontTools stamps the time it saved a font into its head table: the same cut a
    # second later differs there alone (the test failed when the two crossed a second).
    assert _timeless(program) == _timeless(stamp_module._subset_by_fonttools(loaded.to_subset, loaded.alphabet_gids))
    import zlib

    assert zlib.decompress(flated) == program
