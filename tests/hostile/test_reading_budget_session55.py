"""Red team, session 55: a time budget for the whole reading of a letter.

PDFs had one (`[pipeline] pdf_budget`); the rest of the reading had none but the
message's size. HTML is read at 0.5-5 s of CPU per MB (each element is Python, and a
page with tables, hidden styles and right-to-left text is read five times over): 8 MB of
such markup held the DATA check to its 30 s deadline (taken as uncertain, the worker
killed) and then a pipeline runner for minutes, every letter behind it waiting; 50 MB
fit under the message size. Now the reading has a clock (gateway/pipeline/reading_time.py):
the DATA check's worker answers "uncertain" itself at its budget, and the pipeline, at
`[pipeline] read_budget` (PDF work not counted), seals the letter unread and holds it with
a reason in Thai and English; what was read before the clock ran out is never judged
(a ลับ may be in the rest)."""
from __future__ import annotations

import base64
import json
import time

import pytest

from gateway.spool import Spool
from tests.classified.helpers import MARKER, db_rows, files_containing, make_gateway_key
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"
# A table, a hidden cell, right-to-left text and a style sheet's generated content:
# every reading of the page is made (rules/markings.py `html_readings`), ~5 s per MB.
_UNIT = (b"<table><tr><td style='display:none'>a</td><td>b</td></tr></table><bdo dir=rtl>x</bdo>"
         b"<p style='color:#fff;background:#fff'>y</p>\r\n")


def _html_letter(size: int, subject: str) -> bytes:
    """A letter as any other (its cover letter a PDF), whose body is `size` bytes of HTML."""
    markup = (b"<style>p:before{content:'z'}</style>" + _UNIT * (size // len(_UNIT))
              + f"<p>{MARKER}</p>".encode())
    pdf = base64.encodebytes(make_pdf(f"cover letter {subject}")).replace(b"\n", b"\r\n")
    return (f"From: {SENDER}\r\nTo: {LAT}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@dds.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
            "--BB\r\nContent-Type: text/html; charset=utf-8\r\n\r\n").encode() + markup + (
            b"\r\n--BB\r\nContent-Type: application/pdf; name=2569_dds_0403_57.pdf\r\n"
            b"Content-Disposition: attachment; filename=2569_dds_0403_57.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"--BB--\r\n")


def test_letters_read_past_the_budget_are_held_sealed_with_a_reason(tmp_path):
    d = Daemon(write_config(tmp_path))
    d.config.write_text(d.config.read_text().replace("[pipeline]\n", "[pipeline]\nread_budget = 1.0\n"))
    make_gateway_key(d)
    d.start()
    try:
        # Spooled as IMAP intake spools a letter: no DATA check, the pipeline reads all.
        spool = Spool(d.data_dir / "spool")
        # Registered as ordinary letters before, once read whole (~17 s of CPU).
        # 2.5 MB: read in the parse (an HTML body over a million characters is made
        # text there); 0.9 MB: read by the markings, after the parse. ~12 s and ~5 s.
        in_parse = spool.accept(_html_letter(2_500_000, "parse"), SENDER, [LAT])
        in_rules = spool.accept(_html_letter(900_000, "rules"), SENDER, [LAT])
        # Its PDF is read in a child process that takes more than a second to start:
        # PDF work is pdf_budget's, not counted against read_budget.
        honest = spool.accept(letter(), SENDER, [LAT])
        started = time.monotonic()
        held = d.wait_for(lambda: len(rows := db_rows(d, "select queue_id, reasons from quarantine")) == 2 and rows,
                          timeout=120, what="both letters held")
        took = time.monotonic() - started
        for qid, reasons in held:
            assert qid in (in_parse, in_rules)
            [reason] = json.loads(reasons)
            assert reason["rule"] == "reading_time" and reason["verdict"] == "fail"
            assert reason["message_th"].startswith("ระบบอ่านเนื้อหาอีเมลไม่จบภายในเวลาที่กำหนด (1 วินาที)"
                                                   " จึงไม่ได้ลงรับหนังสือฉบับนี้")
            assert reason["message_en"].startswith("the gateway could not finish reading the message within its"
                                                   " time (1 s), so the letter was not registered")
            # Sealed as at least ลับ: not read whole, so not known to be ordinary.
            assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        d.wait_for(lambda: honest in {e["queue_id"] for e in d.register()}, what="the honest letter registered")
        assert [e["queue_id"] for e in d.register()] == [honest]
        d.wait_idle()
        assert files_containing(d.data_dir, MARKER) == []
        overdue = [e for e in d.events() if e.get("event") == "reading_overdue"]
        assert {e["queue_id"] for e in overdue} == {in_parse, in_rules}
        print(f"both held in {took:.1f} s")  # ~17 s of CPU to read them whole before
        # A release reads the letter again, with the same budget: refused with the reason
        # it was held for, not "damaged or encrypted to a key the gateway does not hold".
        # Sealed (at least ลับ), so released by the unit's secret registrar at the desk, as
        # its page calls the release (gateway/web/pages_quarantine.py).
        from gateway.config.settings import load_settings
        from gateway.service.services import open_services
        from gateway.tools.common import ToolError
        from gateway.tools.quarantine import release

        [(entry_id,)] = db_rows(d, "select id from quarantine where queue_id = ?", in_parse)
        with open_services(load_settings(d.config), "pipeline") as services:
            with pytest.raises(ToolError) as refused:
                release(services, entry_id, "ตรวจแล้ว", open_sealed_as="registrar@latkrabang")
        said = f"{refused.value} {refused.value.th}"
        assert "could not finish reading the message within its time (1 s)" in said, said
        assert "ระบบอ่านเนื้อหาอีเมลไม่จบภายในเวลาที่กำหนด" in said, said
        assert "damaged" not in said and "เสียหาย" not in said, said
    finally:
        d.stop()


def test_the_data_check_answers_uncertain_at_its_budget():
    """The DATA check's worker stops reading at its budget and says so (the letter is
    taken as at least ลับ and the pipeline decides), instead of being killed at the
    deadline and replaced."""
    from gateway.secrecy.markings import DATA_CHECK_TIMEOUT, DATA_READ_BUDGET, classify_raw

    assert DATA_READ_BUDGET < DATA_CHECK_TIMEOUT
    raw = _html_letter(2_500_000, "data")
    started = time.process_time()
    found = classify_raw(raw, budget=0.5)
    took = time.process_time() - started
    assert (found.level, found.certain, found.where) == ("confidential", False, "not read in time")
    assert took < 4, took  # ~12 s of CPU to read whole
    # A letter read in time is as before.
    ordinary = classify_raw(letter(), budget=DATA_READ_BUDGET)
    assert (ordinary.level, ordinary.certain) == ("none", True)
