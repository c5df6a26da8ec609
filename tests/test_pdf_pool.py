"""The PDF pool (gateway/pipeline/pdf_pool.py), which reads the PDFs the signature worker
does not take, or all of them with signature checking off: its child answers in data,
never a pickle; what inspect_pdf raises there reaches the caller under its own name (the
letter's parse fails closed) and the child is kept; a file that overruns the deadline
costs the child, and the next file gets a new one, under the same memory cap."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest

from gateway.pipeline.pdf_inspect import PdfInfo, inspect_pdf
from gateway.pipeline.pdf_pool import MEMORY_CAP, PdfPool, ReaderRaised, _answer, _read_answer
from rules.model import NOT_READ_IN_TIME
from tests.letters import make_pdf
from tests.processes import gone

TIMEOUT_S = 60.0




def _beyond_pypdfs_limit() -> bytes:
    """One byte more in the cross-reference table's count: pypdf raises LimitReachedError.
    inspect_pdf reads it as viewers do instead (PDFium repairs the table), and keeps
    pypdf's account as the file's error."""
    pdf, changed = re.subn(rb"xref\n0 (\d+)\n", rb"xref\n0 \g<1>3", make_pdf("ที่ กท 0403/9 cover"))
    assert changed == 1
    return pdf


def test_what_the_child_answers_is_read_as_data_and_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for hostile in (pickle.dumps(Evil()), pickle.dumps(PdfInfo("a", 1, False, None)), b"", b"[]", b"\xff\xfe",
                    b'{"text": "a", "pages": "1", "encrypted": false, "error": null, "page_texts": []}',
                    b'{"text": "a", "pages": 1, "encrypted": false, "error": null, "page_texts": [1]}',
                    b'{"raised": "os.system(1)", "message": ""}', b'{"raised": "ValueError"}'):
        with pytest.raises(ValueError, match="not an answer|Expecting|JSON|codec"):
            _read_answer(hostile)
    assert not marker.exists()

    for info in (PdfInfo("ที่ กท 0403/9\nเรื่อง ขอเชิญประชุม", 3, True, None, ("ลับ", "", "\ud800 lone")),
                 PdfInfo(None, None, False, "PdfReadError: EOF marker not found")):
        assert _read_answer(_answer(info)) == info
    with pytest.raises(MemoryError):
        _read_answer(_answer(MemoryError()))
    with pytest.raises(ReaderRaised, match="^division by zero$") as raised:
        _read_answer(_answer(ZeroDivisionError("division by zero")))
    assert type(raised.value).__name__ == "ZeroDivisionError"


def test_a_file_is_read_as_in_process_even_one_pypdf_refuses_and_the_child_is_kept():
    pool = PdfPool(timeout=TIMEOUT_S)
    plain, damaged = make_pdf("ที่ กท 0403/17 cover", pages=25), _beyond_pypdfs_limit()
    try:
        assert pool.inspect(plain) == inspect_pdf(plain)
        [worker] = pool._idle  # noqa: SLF001
        pid = worker.process.pid
        # A file pypdf refuses: the same answer as in-process (repaired text, pypdf's error).
        repaired = inspect_pdf(damaged)
        assert repaired.error.startswith("LimitReachedError") and "0403/9" in repaired.text
        assert pool.inspect(damaged) == repaired
        # (What the reader would raise reaches the caller under its own name: the answer's
        # form is checked above, test_what_the_child_answers_is_read_as_data_...; no file
        # makes inspect_pdf raise since it reads what pypdf refuses with PDFium.)
        assert pool.inspect(plain) == inspect_pdf(plain)
        assert worker.process.pid == pid  # the child is not to blame
    finally:
        pool.close()
    assert gone(pid)


def test_an_overrun_costs_the_child_and_the_next_file_gets_a_new_capped_one():
    pool = PdfPool(timeout=TIMEOUT_S)
    plain = make_pdf("ที่ กท 0403/17 cover")
    try:
        assert pool.inspect(plain).error is None
        [worker] = pool._idle  # noqa: SLF001
        first = worker.process.pid
        # A deadline far below what 300 pages need stands in for a PDF that hangs.
        late = pool.inspect(make_pdf("cover letter", pages=300), timeout=0.001)
        assert late == PdfInfo(None, None, False, f"{NOT_READ_IN_TIME} (0 s)")
        assert gone(first)
        assert pool.inspect(plain) == inspect_pdf(plain)
        second = worker.process.pid
        limits = Path(f"/proc/{second}/limits").read_text()
    finally:
        pool.close()
    assert second != first
    [address_space] = [line.split() for line in limits.splitlines() if line.startswith("Max address space")]
    assert address_space[3:5] == [str(MEMORY_CAP)] * 2  # soft and hard
