"""Red team, session 54: a letter of 100,000 tiny MIME parts, bounded.

Only the first 500 leaves are read (parse.MAX_PARTS), but the stdlib's parser made
every part first: ~65 us of CPU and ~0.8 KB each. 100,000 parts (3.7 MB) held the DATA
check 12 s and the pipeline runner 15 s more on this machine; 1.35 million of them fit
in the 50 MB message size (90 s of CPU and 1.1 GB, past the check's deadline and
memory cap, then a runner's minutes without a deadline). The parse now stops at
parse.MAX_MESSAGES parts (5,000): the letter is taken (its sender hears 250, as for
any letter the check cannot read), sealed unread as at least ลับ and held with a
reason that says what to change, in Thai and English."""
from __future__ import annotations

import json
import time

from tests.classified.helpers import MARKER, db_rows, files_containing, make_gateway_key
from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _many_parts(count: int) -> bytes:
    head = (b"From: saraban.dds@bangkok.go.th\r\nTo: " + LAT.encode() + b"\r\nSubject: "
            + MARKER.encode() + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n")
    part = b"--BB\r\nContent-Type: text/plain\r\n\r\n" + MARKER.encode() + b"\r\n"
    return head + part * count + b"--BB--\r\n"


def test_a_hundred_thousand_parts_are_held_sealed_with_a_reason(tmp_path):
    d = Daemon(write_config(tmp_path))
    make_gateway_key(d)
    d.start()
    try:
        started = time.monotonic()
        qid = d.send(_many_parts(100_000), LAT)
        at_data = time.monotonic() - started
        honest = d.send(letter(), LAT)
        held = d.wait_for(lambda: db_rows(d, "select queue_id, reasons from quarantine"), timeout=120,
                          what="the letter held")
        took = time.monotonic() - started
        [(held_qid, reasons)] = held
        assert held_qid == qid
        [reason] = json.loads(reasons)
        assert reason["rule"] == "mime_parse"
        assert reason["message_th"].startswith("อีเมลมีส่วนย่อย (MIME part) มากกว่า 5000 ส่วน ระบบจึงไม่อ่านหนังสือฉบับนี้")
        assert reason["message_en"].startswith("the message has more than 5000 MIME parts, so the gateway did not read it")
        # Sealed as at least ลับ: nothing of it in plaintext anywhere.
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        d.wait_for(lambda: honest in {e["queue_id"] for e in d.register()}, what="the honest letter registered")
        d.wait_idle()
        assert files_containing(d.data_dir, MARKER) == []
        [failed] = [e for e in d.events() if e.get("event") == "parse_failed"]
        assert "MimeTooMany" in json.dumps(failed)
        # Bounded: the parse stops at 5,000 parts (0.15 s of CPU where 100,000 cost 6.3 s).
        print(f"DATA {at_data:.1f} s, held {took:.1f} s")
        assert at_data < 10 and took < 30, (at_data, took)
    finally:
        d.stop()


def test_the_parse_stops_at_the_limit_and_reads_a_letter_just_under_it():
    from gateway.pipeline.parse import MAX_MESSAGES, MimeTooMany, parse_mail

    # 4,999 leaves and the multipart letter around them: 5,000 parts, read (the first
    # 500 leaves; the rest make it at least ลับ, as before).
    mail = parse_mail(_many_parts(MAX_MESSAGES - 1))
    assert mail.truncated
    try:
        parse_mail(_many_parts(MAX_MESSAGES))
    except MimeTooMany as exc:
        assert str(exc) == "more than 5000 MIME parts"
    else:
        raise AssertionError("not stopped")
    started = time.process_time()
    try:
        parse_mail(_many_parts(300_000))
    except MimeTooMany:
        pass
    assert time.process_time() - started < 3  # 19 s of CPU before
