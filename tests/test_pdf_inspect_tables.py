"""pypdf's codec tables built once (gateway/pipeline/pypdf_fixes.py): the same tables,
a fresh copy each time, and the same text read from every PDF."""
from __future__ import annotations

import pypdf._codecs
import pypdf._text_extraction._text_extractor
import pypdf.generic._font
import pytest
from pypdf import PdfReader

from gateway.pipeline import pypdf_fixes
from gateway.pipeline.pdf_inspect import inspect_pdf
from tests.letters import make_pdf
from tests.paths import shared_path


def test_reading_a_pdf_puts_the_cached_tables_where_pypdf_looks_them_up():
    inspect_pdf(make_pdf("cover letter"))
    for module in (pypdf._codecs, pypdf._text_extraction._text_extractor, pypdf.generic._font):
        assert module.encoding_dict_from_named_encoding is pypdf_fixes.encoding_dict_from_named_encoding


@pytest.mark.parametrize("codec", ["cp1252", "mac_roman", "latin-1", "cp874", "utf-16-be"])
def test_each_table_is_pypdfs_own_and_a_new_dict_each_call(codec):
    theirs = pypdf_fixes.pypdfs_encoding_dict(codec)
    first = pypdf_fixes.encoding_dict_from_named_encoding(codec)
    assert first == theirs and list(first) == list(theirs)
    first[65] = "changed"  # a font's /Differences
    assert pypdf_fixes.encoding_dict_from_named_encoding(codec) == theirs


def _pdfs() -> list:
    root = shared_path("corpus", "pdf")
    return sorted(p for p in root.rglob("*.pdf") if p.stat().st_size < 300_000)


def _texts(data: bytes) -> list:
    try:
        reader = PdfReader(__import__("io").BytesIO(data), strict=False)
        return [page.extract_text() for page in list(reader.pages)[:3]]
    except Exception as exc:  # noqa: BLE001 - a broken file's error is compared too
        return [type(exc).__name__]


def test_every_small_corpus_pdf_reads_the_same_text(monkeypatch):
    files = [p.read_bytes() for p in _pdfs()] + [make_pdf("หนังสือ ลับ cover letter")]
    assert len(files) > 40
    inspect_pdf(files[-1])  # installed
    ours = [_texts(data) for data in files]
    for module in pypdf_fixes._USERS:
        monkeypatch.setattr(module, "encoding_dict_from_named_encoding", pypdf_fixes.pypdfs_encoding_dict)
    theirs = [_texts(data) for data in files]
    assert sum(any(t) for t in theirs if t != ["PdfReadError"]) > 20
    assert ours == theirs
