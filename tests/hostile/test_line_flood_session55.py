"""Red team, session 55: a message of millions of short lines, bounded.

The stdlib's parser keeps every line of a message as a string of its own (~55 bytes
each, twice while it parses): 20 MB of empty lines took the DATA check 6 s of CPU and
906 MB, and 48 MB (25 million lines) 2.2 GB and 15 s, past the check's 1 GB memory cap
(then "uncertain", taken with a 250) and all of it again in a pipeline runner, which
has no cap: two such letters on two runners, 4.4 GB. Quoted-printable soft line breaks
(`=` CRLF, 42 MB: 1.3 GB) and base64 of four-character lines likewise. A message of more
than a million lines and more than one line in every 16 bytes (a letter's average 70-78)
is now not parsed: SMTP refuses it at the end of DATA (552 5.3.4), and one pulled over
IMAP is sealed unread and held with a reason in Thai and English."""
from __future__ import annotations

import json
import time
import tracemalloc

from gateway.spool import Spool
from tests.classified.helpers import MARKER, db_rows, files_containing, make_gateway_key
from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"


def _lines(count: int, line: bytes = b"\r\n", encoding: str = "8bit") -> bytes:
    return (f"From: {SENDER}\r\nTo: {LAT}\r\nSubject: {MARKER}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            f"{MARKER}\r\n").encode() + line * count


def test_a_flood_of_lines_is_refused_at_data_in_ascii(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    try:
        # 10 million empty lines (20 MB); 4 million soft line breaks (12 MB).
        for raw in (_lines(10_000_000), _lines(4_000_000, b"=\r\n", "quoted-printable")):
            started = time.monotonic()
            code, text = d.data_reply(raw)
            took = time.monotonic() - started
            assert code == 552, (code, text[:200])
            assert text == (b"5.3.4 message has too many lines (more than 1000000 lines and more than one line"
                            b" per 16 bytes); the letter was not accepted"), text
            print(f"{len(raw) / 1e6:.0f} MB refused in {took:.1f} s")
        assert list((d.data_dir / "spool" / "new").iterdir()) == []
        assert len([e for e in d.events() if e.get("event") == "too_many_lines"]) == 2
        # A 3 MB PDF in base64 (76-character lines) is a letter as ever.
        qid = d.send(letter(files=[("2569_dds_0403_57.pdf", b"%PDF-1.4\n" + b"0" * 3_000_000)]), LAT)
        assert qid
    finally:
        d.stop()


def test_a_flood_of_lines_that_came_another_way_is_held_sealed_unread(tmp_path):
    d = Daemon(write_config(tmp_path))
    make_gateway_key(d)
    d.start()
    try:
        qid = Spool(d.data_dir / "spool").accept(_lines(3_000_000), SENDER, [LAT])  # 6 MB
        [(held, reasons)] = d.wait_for(lambda: db_rows(d, "select queue_id, reasons from quarantine"),
                                       timeout=120, what="the letter held")
        assert held == qid
        [reason] = json.loads(reasons)
        assert reason["rule"] == "mime_parse" and reason["verdict"] == "fail"
        assert reason["message_th"].startswith("อีเมลมีจำนวนบรรทัดมากเกินไป (เกิน 1000000 บรรทัด"
                                               " และมากกว่าหนึ่งบรรทัดต่อ 16 ไบต์) ระบบจึงไม่อ่านหนังสือฉบับนี้")
        assert reason["message_en"].startswith("the message has too many lines (more than 1000000 lines and more"
                                               " than one line per 16 bytes), so the gateway did not read it")
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        d.wait_idle()
        assert files_containing(d.data_dir, MARKER) == []
    finally:
        d.stop()


def test_the_parse_stops_before_it_makes_the_lines():
    from gateway.pipeline.parse import TooManyLines, parse_mail

    tracemalloc.start()
    try:
        started = time.process_time()
        for line in (b"\r\n", b"\r", b"=\r\n", b"QQ==\r\n"):
            try:
                parse_mail(_lines(10_000_000 // len(line) * 2, line))
            except TooManyLines as exc:
                assert "lines in" in str(exc)
            else:
                raise AssertionError(f"not stopped: {line!r}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.process_time() - started < 3
    assert peak < 100_000_000, peak  # the message itself, once or twice; 900 MB before
    # Under a million lines the message is read, however short they are.
    assert parse_mail(_lines(900_000)).body_text.startswith(MARKER)
