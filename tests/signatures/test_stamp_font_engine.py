"""The stamp's font engines share one read-only fontTools font per process, set up by our
own code in place of pyHanko's GlyphAccumulator.__init__: what they write must be what
pyHanko's own engine writes for the same text (a pyHanko upgrade that changes its
engine shows up here), and a stamp must leave the shared font as it found it.
"""
from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import PdfFileWriter

from gateway.signatures import stamp as stamp_module
from gateway.signatures.stamp import DEFAULT_FONT, StampInfo, stamp_pdf

LINES = ["สำนักงานเขตพระนคร", "เลขรับ ๑๕/๒๕๖๙", "วันที่ ๕ ม.ค. ๒๕๖๙", "เวลา ๐๙.๑๐ น.",
         "SHA-256 ของต้นฉบับ", "ฝ่ายโยธา ฎีกา ฐาน ธุระ ฌาน ฆ้อง ปั้น ฤๅษี"]
OPTIONS = dict(font_size=9, ot_script_tag="thai", ot_language_tag="THA ", bcp47_lang_code="th")


def _loaded():
    return stamp_module._loaded_font(str(DEFAULT_FONT))


def _pyhanko_engine(loaded):
    engine = GlyphAccumulator(writer=PdfFileWriter(), font_handle=io.BytesIO(loaded.to_subset),
                              obj_stream=None, **OPTIONS)
    engine.hb_font = loaded.hb_font  # what the stamp shapes with (whole font, GSUB/GPOS)
    return engine


def _our_engine(loaded):
    cls = stamp_module._subset_reusing_accumulator_class()
    return cls.over_shared_font(PdfFileWriter(), loaded, writing_direction=None, obj_stream=None, **OPTIONS)


def _plain(obj):
    """A PDF object as plain Python, references and the random subset prefix left out."""
    if isinstance(obj, generic.IndirectObject):
        return "ref"
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if k not in ("/FontFile2", "/DescendantFonts")}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return str(obj).split("+", 1)[-1]


def test_the_shared_font_engine_writes_what_pyhankos_engine_writes():
    loaded = _loaded()
    assert loaded.shared is not None  # Garuda is TrueType: shared
    ours, theirs = _our_engine(loaded), _pyhanko_engine(loaded)
    for line in LINES:
        mine, pyhankos = ours.shape(line), theirs.shape(line)
        assert mine.graphics_ops == pyhankos.graphics_ops, line
        assert (mine.x_advance, mine.y_advance) == (pyhankos.x_advance, pyhankos.y_advance)
    assert ours._glyphs == theirs._glyphs  # (CID, width) per glyph: the /W array
    assert ours._cid_to_unicode == theirs._cid_to_unicode  # the ToUnicode map
    assert ours._format_tounicode_cmap().data == theirs._format_tounicode_cmap().data
    assert ours.units_per_em == theirs.units_per_em
    assert _plain(ours.cidfont_obj) == _plain(theirs.cidfont_obj)
    assert _plain(ours.cidfont_obj._font_descriptor) == _plain(theirs.cidfont_obj._font_descriptor)
    assert ours.subset_prefix != theirs.subset_prefix or ours.writer is not theirs.writer


def test_engines_over_the_shared_font_keep_their_own_glyphs():
    loaded = _loaded()
    first, second = _our_engine(loaded), _our_engine(loaded)
    first.shape(LINES[0])
    assert first._glyphs and not second._glyphs and not second._cid_to_unicode


def test_a_stamp_leaves_the_shared_font_untouched(letter, seal):
    loaded = _loaded()
    tt = loaded.shared.tt
    glyphs_before = list(tt.getGlyphOrder())
    tables_before = sorted(tt.keys())
    metrics_before, cmap_before = dict(tt["hmtx"].metrics), dict(tt.getBestCmap())
    head_before = (tt["head"].xMin, tt["head"].yMin, tt["head"].xMax, tt["head"].yMax)
    info = StampInfo(unit_name="ฝ่ายโยธา ฎีกา", receive_number="15/2569",
                     received_at=stamp_module.dt.datetime(2026, 1, 5, 2, 10, tzinfo=stamp_module.dt.timezone.utc))
    assert stamp_pdf(letter, info, seal).mode == "stamped"
    assert stamp_module._loaded_font(str(DEFAULT_FONT)) is loaded
    assert list(tt.getGlyphOrder()) == glyphs_before
    assert sorted(tt.keys()) == tables_before
    assert dict(tt["hmtx"].metrics) == metrics_before and dict(tt.getBestCmap()) == cmap_before
    assert (tt["head"].xMin, tt["head"].yMin, tt["head"].xMax, tt["head"].yMax) == head_before


def test_the_kept_font_program_is_embedded_as_pyhankos_compress_would_write_it(letter, seal):
    """The compressed font program is kept with the subset: the stream written is what
    StreamObject.compress() makes of the program, and decodes to it."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    info = StampInfo(unit_name="สำนักงานเขตพระนคร", receive_number="15/2569",
                     received_at=stamp_module.dt.datetime(2026, 1, 5, 2, 10, tzinfo=stamp_module.dt.timezone.utc))
    pdf = stamp_pdf(letter, info, seal).pdf
    page = PdfFileReader(io.BytesIO(pdf), strict=False).root["/Pages"]["/Kids"][0]
    annot = next(a for a in (r.get_object() for r in page["/Annots"])
                 if str(a.get("/T", "")).startswith("SarabanReceiveStamp"))
    xobject, fonts = annot["/AP"]["/N"], []
    while not fonts:  # the text sits in a form nested in the appearance
        resources = xobject["/Resources"]
        fonts = list((resources.get("/Font") or {}).values())
        if not fonts:
            xobject = next(iter(resources["/XObject"].values())).get_object()
    stream = fonts[0].get_object()["/DescendantFonts"][0]["/FontDescriptor"]["/FontFile2"]
    assert stream["/Filter"] == "/FlateDecode" and "/DecodeParms" not in stream
    expected = generic.StreamObject(stream_data=stream.data)
    expected.compress()
    assert stream.encoded_data == expected.encoded_data


def test_kept_shapes_leave_an_engine_as_pyhankos_own_shaping_leaves_it():
    """A text shaped before (by another stamp's engine) is not shaped again: its answer
    and what shaping adds to the engine are replayed. In any order and with any lines
    shaped before, the operators, the glyphs and the ToUnicode map are pyHanko's."""
    import random

    loaded = _loaded()
    loaded.shapes.clear()
    rng = random.Random(27)
    lines = LINES + ["กี่ ปั้น ฤๅ ญี่ ฐี่ ปู่ น้ำ ท่ำ", "ฎีกา ๑๕/๒๕๖๙", "เลขรับ ๑๖/๒๕๖๙", "A fi ffi ½ ๆ"]
    for round_ in range(30):
        order = rng.sample(lines, rng.randrange(1, len(lines) + 1))
        ours, theirs = _our_engine(loaded), _pyhanko_engine(loaded)
        for line in order:
            mine, pyhankos = ours.shape(line), theirs.shape(line)
            assert mine.graphics_ops == pyhankos.graphics_ops, line
            assert (mine.x_advance, mine.y_advance) == (pyhankos.x_advance, pyhankos.y_advance)
        assert list(ours._glyphs.items()) == list(theirs._glyphs.items()), order
        assert ours._cid_to_unicode == theirs._cid_to_unicode, order
        assert ours._format_tounicode_cmap().data == theirs._format_tounicode_cmap().data
    assert len(loaded.shapes) == len(lines)  # each text shaped by HarfBuzz once


def test_a_shape_is_kept_per_engine_setting():
    loaded = _loaded()
    loaded.shapes.clear()
    small = _our_engine(loaded)
    cls = stamp_module._subset_reusing_accumulator_class()
    large = cls.over_shared_font(PdfFileWriter(), loaded, writing_direction=None, obj_stream=None,
                                 **dict(OPTIONS, font_size=14))
    a, b = small.shape(LINES[0]), large.shape(LINES[0])
    assert a.graphics_ops != b.graphics_ops  # the line's advance in points: its size's
    engine = GlyphAccumulator(writer=PdfFileWriter(), font_handle=io.BytesIO(loaded.to_subset),
                              obj_stream=None, **dict(OPTIONS, font_size=14))
    engine.hb_font = loaded.hb_font
    assert b.graphics_ops == engine.shape(LINES[0]).graphics_ops
    assert len(loaded.shapes) == 2
    assert small.shape(LINES[0], with_actual_text=False).graphics_ops != a.graphics_ops


def test_replayed_steps_write_what_pyhankos_two_paths_write_on_any_map():
    """pyHanko writes a one-glyph cluster's entry over any other, a several-glyph
    cluster's only where none is (its fallback). The recorded steps, replayed on a map
    already holding entries, give what running the same shaping on it gives."""
    import random

    class Engine:
        def __init__(self, unicode_map):
            self._glyphs, self._cid_to_unicode = {}, dict(unicode_map)

        def _get_cid_and_width(self, gid):
            return self._glyphs.setdefault(gid, (gid, 500))

        def shape(self, clusters):  # pyHanko's loop, clusters of (text, gids)
            for text, gids in clusters:
                if len(gids) == 1:
                    cid, _ = self._get_cid_and_width(gids[0])
                    self._cid_to_unicode[cid] = text
                    continue
                for gid in gids:
                    cid, _ = self._get_cid_and_width(gid)
                    if cid not in self._cid_to_unicode:
                        for ch in text:
                            self._cid_to_unicode[cid] = ch

    rng = random.Random(5)
    for _ in range(2000):
        clusters = [("".join(rng.choice("abcde") for _ in range(rng.randrange(1, 3))),
                     [rng.randrange(6) for _ in range(rng.randrange(1, 4))]) for _ in range(rng.randrange(1, 6))]
        before = {rng.randrange(6): rng.choice("xyz") for _ in range(rng.randrange(4))}
        _, steps = stamp_module._shaped_with_steps(Engine({}), lambda blank: blank.shape(clusters))
        direct, replayed = Engine(before), Engine(before)
        direct.shape(clusters)
        stamp_module._replay(replayed, steps)
        assert replayed._cid_to_unicode == direct._cid_to_unicode, (clusters, before)
        assert list(replayed._glyphs.items()) == list(direct._glyphs.items())


def test_shapes_kept_are_bounded_and_the_ones_used_again_stay(monkeypatch):
    monkeypatch.setattr(stamp_module, "_SHAPES_KEPT", 8)
    loaded = _loaded()
    loaded.shapes.clear()
    engine = _our_engine(loaded)
    for n in range(50):  # the unit's name in every stamp, a new number in each
        engine.shape(LINES[0])
        engine.shape(f"เลขรับ {n}/2569")
    assert len(loaded.shapes) == 8
    assert any(key[0] == LINES[0] for key in loaded.shapes)


def _written_fonts(engine):
    """What an engine's prepare_write put in its writer, as plain Python: the Type0 font,
    its CIDFont (widths included) and descriptor, and its ToUnicode stream's bytes."""
    type0 = engine._font_ref.get_object()
    cidfont = type0["/DescendantFonts"][0].get_object()
    to_unicode = type0["/ToUnicode"]
    return {
        "type0": _plain({k: v for k, v in type0.items() if k != "/ToUnicode"}),
        "cidfont": _plain(cidfont),
        "widths": [_plain(v) for v in cidfont["/W"]],
        "descriptor": _plain(cidfont["/FontDescriptor"]),
        "to_unicode": (dict(to_unicode), to_unicode.data, to_unicode.encoded_data),
    }


def test_font_dicts_written_again_from_what_was_kept_are_pyhankos():
    """The /W widths and the ToUnicode map are kept per glyph set and map: the engine
    that writes them from what was kept writes what pyHanko's own engine writes for the
    same lines, and so does the engine that kept them."""
    import random

    loaded = _loaded()
    loaded.font_dicts.clear()
    rng = random.Random(16)
    lines = LINES + ["เลขรับ ๑๖/๒๕๖๙", "ฎีกา ๑๕/๒๕๖๙", "A fi ffi ½ ๆ"]
    for round_ in range(12):
        order = rng.sample(lines, rng.randrange(1, len(lines) + 1))
        engines = [_our_engine(loaded), _our_engine(loaded), _pyhanko_engine(loaded)]
        for engine in engines:
            for line in order:
                engine.shape(line)
        kept_before = len(loaded.font_dicts)
        engines[0].prepare_write()  # kept here, unless an earlier round kept this set
        assert len(loaded.font_dicts) in (kept_before, kept_before + 1)
        engines[1].prepare_write()  # written from what was kept
        engines[2].prepare_write()
        assert len(loaded.font_dicts) in (kept_before, kept_before + 1)
        first, again, pyhankos = map(_written_fonts, engines)
        assert again == pyhankos, order
        assert first == pyhankos, order
    assert len(loaded.font_dicts) >= 2


def test_font_dicts_are_kept_per_glyph_set_and_map():
    """Two engines whose glyphs or ToUnicode entries differ never share widths or a map."""
    loaded = _loaded()
    loaded.font_dicts.clear()
    one, other = _our_engine(loaded), _our_engine(loaded)
    one.shape(LINES[0])
    other.shape(LINES[0] + " ๙")
    one.prepare_write()
    other.prepare_write()
    assert len(loaded.font_dicts) == 2
    mine, theirs = _written_fonts(one), _written_fonts(other)
    assert mine["widths"] != theirs["widths"] and mine["to_unicode"][1] != theirs["to_unicode"][1]
    # The same glyphs with another ToUnicode entry (a cluster mapped as other text).
    third = _our_engine(loaded)
    third.shape(LINES[0])
    cid = next(iter(third._cid_to_unicode))
    third._cid_to_unicode[cid] = "\u0e3f"
    third.prepare_write()
    assert len(loaded.font_dicts) == 3
    assert _written_fonts(third)["to_unicode"][1] != mine["to_unicode"][1]


def test_font_dicts_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(stamp_module, "_FONT_DICTS_KEPT", 4)
    loaded = _loaded()
    loaded.font_dicts.clear()
    for n in range(10):  # each engine with one more digit than the one before
        engine = _our_engine(loaded)
        engine.shape(f"เลขรับ {'๐๑๒๓๔๕๖๗๘๙'[:n + 1]}/2569")
        engine.prepare_write()
    assert len(loaded.font_dicts) == 4
