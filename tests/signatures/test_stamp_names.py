"""The stamping child writes PDF names through a table of their bytes
(stamp._kept_name_writer over pyHanko's own writer): every name must come out as
pyHanko writes it, the second time as the first, and a name pyHanko refuses stays
refused. Tested on the wrapper itself, so this process keeps pyHanko's writer."""
from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.generic import NameObject
from pyhanko.pdf_utils.misc import PdfWriteError

from gateway.signatures import stamp as stamp_module

NAMES = ["/Type", "/Annots", "/A#B", "/with space", "/(paren)", "/ชื่อ", "/tab\tand\nline",
         "/%comment", "/x" * 50, "/", "/Type"]


def _written(write, name) -> bytes:
    buf = io.BytesIO()
    write(NameObject(name), buf)
    return buf.getvalue()


def test_kept_names_are_written_as_pyhanko_writes_them():
    original = NameObject.write_to_stream
    kept = stamp_module._kept_name_writer(original)
    for _ in range(2):  # made, then taken from the table
        for name in NAMES:
            assert _written(kept, name) == _written(original, name), name
    assert set(kept.kept) == set(NAMES)


def test_a_refused_name_stays_refused_and_is_not_kept():
    kept = stamp_module._kept_name_writer(NameObject.write_to_stream)
    for _ in range(2):
        with pytest.raises(PdfWriteError):
            _written(kept, "NoSlash")
    assert not kept.kept


def test_the_table_is_bounded(monkeypatch):
    monkeypatch.setattr(stamp_module, "_NAMES_KEPT", 5)
    original = NameObject.write_to_stream
    kept = stamp_module._kept_name_writer(original)
    for i in range(20):
        assert _written(kept, f"/N{i}") == _written(original, f"/N{i}")
    assert len(kept.kept) == 5
