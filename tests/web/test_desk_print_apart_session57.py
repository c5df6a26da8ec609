"""The desk's printed register book is laid out in a child process (session 57).

The desk runs in the daemon's own process, beside the SMTP listener. A book of up to
`[web] max_printed_rows` (3,000) rows took some 25 ms of CPU a row to lay out there, with
the interpreter's lock held: for a minute and more every SMTP session waited its turn.
Now a child ("print", niced as the runners) lays it out; the page, the file and the
refusals are what they were."""
from __future__ import annotations

from pathlib import Path

from tests.letters import letter
from tests.processes import tree
from tests.tools_helpers import this_be_year
from tests.web.client import signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"


def _events(daemon, name: str) -> list[dict]:
    return [event for event in daemon.events() if event.get("event") == name]


def test_the_book_is_laid_out_outside_the_daemons_process(tmp_path):
    letters = tuple((letter(subject=f"หนังสือ S57PRINT {n}"), LAT) for n in range(3))
    with running_desk(tmp_path, (("s57printer", "clerk", "saraban.latkrabang"),), letters) as desk:
        clerk = signed_in(desk.url, "s57printer")
        form = {"unit": "saraban.latkrabang", "book": "general", "year": str(this_be_year()), "format": "pdf"}
        printed = clerk.post("/export", form)
        assert printed.status == 200 and printed.body.startswith(b"%PDF"), printed.text[:300]
        assert printed.header("x-register-entries") == "3"
        laid_out = _events(desk.daemon, "register_book_laid_out")
        assert [(e.get("process"), e.get("rows")) for e in laid_out] == [("print", 3)], laid_out
        # The child is gone once the page is answered.
        names = []
        for pid in tree(desk.daemon.proc.pid):
            try:
                names.append(Path(f"/proc/{pid}/comm").read_text().strip())
            except OSError:
                continue
        assert "saraban-deliver" in names and "saraban-print" not in names, names
        # The CSV is written as before, in the daemon's process (no layout).
        as_csv = clerk.post("/export", {**form, "format": "csv"})
        assert as_csv.status == 200 and as_csv.body.decode("utf-8-sig").count("S57PRINT") == 3
        assert len(_events(desk.daemon, "register_book_laid_out")) == 1
