"""pypdf, without the work it repeats for every page it reads.

`pypdf._codecs.encoding_dict_from_named_encoding` decodes each of the 256 bytes
through the codec, one `bytes.decode` (and for Windows-1252's five undefined bytes one
caught exception) at a time, to build the same table every time: pypdf asks it for
WinAnsiEncoding when it starts reading a page's text and again for every font without
an encoding of its own. 7 % of the DATA check's CPU on a one-page letter (py-spy,
session 27). Here each codec's table is built once and a copy handed out (a font's
/Differences are written into its copy).

Installed when `gateway.pipeline.pdf_inspect` first reads a PDF (pypdf is imported
there, not before): `install()` puts the cached function where each of pypdf's modules
looks it up. The tables are pypdf's own (tests/test_pdf_inspect_tables.py)."""
from __future__ import annotations

import functools
import importlib

import pypdf._codecs


def _modules(*names: str) -> tuple:
    """pypdf's modules that look the function up (pyproject allows pypdf from 4.0, whose
    modules are laid out otherwise: those it lacks are skipped)."""
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            pass
    return tuple(found)


_original = getattr(pypdf._codecs, "encoding_dict_from_named_encoding", None)
pypdfs_encoding_dict = getattr(_original, "__wrapped_pypdf__", _original)
_USERS = _modules("pypdf._codecs", "pypdf._text_extraction._text_extractor", "pypdf.generic._font",
                  "pypdf.generic._appearance_stream")


@functools.lru_cache(maxsize=32)
def _table(encoding: str) -> tuple[tuple[int, str], ...]:
    return tuple(pypdfs_encoding_dict(encoding).items())


def encoding_dict_from_named_encoding(encoding: str) -> dict[int, str]:
    """pypdf's table of the codec `encoding`, a new dict each call as pypdf's is."""
    return dict(_table(encoding))


encoding_dict_from_named_encoding.__wrapped_pypdf__ = pypdfs_encoding_dict  # type: ignore[attr-defined]


def install() -> None:
    if pypdfs_encoding_dict is None:
        return
    for module in _USERS:
        if getattr(module, "encoding_dict_from_named_encoding", None) is pypdfs_encoding_dict:
            module.encoding_dict_from_named_encoding = encoding_dict_from_named_encoding


install()
