"""Red team, session 55: header floods inside MIME parts, bounded.

`[smtp] max_header_size` (session 54) bounds the letter's own header block; the header
lines of its parts and of the messages inside it had no bound but the message size.
50,000 Subject lines in a forwarded letter (message/rfc822, 2.4 MB) cost the DATA check
1 s of CPU and the pipeline as much again (each is a secrecy header, normalised for
Thai); twenty such forwarded letters (47 MB) held the check 20 s and 530 MB, and a
pipeline runner as long again; 50,000 lines in one part cost 50 MB of memory. The
header lines of the parts and the messages inside the letter now count together
against MAX_PART_HEADERS (1 MiB; a forwarded letter's block is a few KB): the parse
stops there, SMTP refuses the letter whole at the end of DATA (552 5.3.4, as for its
own header block) and a letter pulled over IMAP is sealed unread and held."""
from __future__ import annotations

import json
import time

from gateway.spool import Spool
from tests.classified.helpers import MARKER, db_rows, files_containing, make_gateway_key
from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"
# "ลับ letter", as an encoded word: a secrecy header, the dearest kind to read.
SECRET_SUBJECT = b"Subject: =?utf-8?b?4Lil4Lix4LiaIGxldHRlcg==?=\r\n"


def _with_parts(parts: list[bytes]) -> bytes:
    """letter() (its cover letter a PDF) with `parts` after its own."""
    raw = letter(body=f"เนื้อความ {MARKER}\n")
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    end = b"--" + boundary + b"--"
    extra = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return raw.replace(end, extra + end)


def _forwarded(lines: int) -> bytes:
    """A forwarded letter (message/rfc822) with `lines` Subject lines."""
    return (b"Content-Type: message/rfc822\r\n\r\n" + SECRET_SUBJECT * lines
            + b"From: saraban.pw@bangkok.go.th\r\n\r\nhello " + MARKER.encode() + b"\r\n")


def _flooded_part(lines: int) -> bytes:
    return (b"Content-Type: text/plain; charset=utf-8\r\n" + b"X-Filler: " + b"a" * 30 + b"\r\n" * 1
            + b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * lines + b"\r\nhello\r\n")


def test_header_floods_in_parts_are_refused_at_data_in_ascii(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    try:
        # 50,000 Subject lines of a forwarded letter; 50,000 lines of one part; 1,200
        # parts of 30 header lines each (each part's block ordinary, together 1.1 MB).
        for raw in (_with_parts([_forwarded(50_000)]), _with_parts([_flooded_part(50_000)]),
                    _with_parts([_flooded_part(30)] * 1200)):
            started = time.monotonic()
            code, text = d.data_reply(raw)
            took = time.monotonic() - started
            assert code == 552, (code, text[:200])
            assert text.startswith(b"5.3.4 message header too large (more than 1048576 bytes of header lines in its"
                                   b" MIME parts and attached messages); the letter was not accepted"), text
            assert text.isascii()
            print(f"{len(raw) / 1e6:.1f} MB refused in {took:.1f} s")
        assert list((d.data_dir / "spool" / "new").iterdir()) == []
        events = [e for e in d.events() if e.get("event") == "part_headers_too_large"]
        assert len(events) == 3 and all(e["limit"] == 1048576 for e in events)
        # A letter that forwards an ordinary letter (its block of Received lines, 40 KB)
        # is a letter.
        received = b"Received: from mx%d.bangkok.go.th by relay.bangkok.go.th; Mon, 7 Dec 2026 10:00:00 +0700\r\n"
        ordinary = (b"Content-Type: message/rfc822\r\n\r\n" + b"".join(received % n for n in range(450))
                    + b"Subject: =?utf-8?b?4LmB4LiI4LmJ4LiH?=\r\nFrom: saraban.pw@bangkok.go.th\r\n\r\nhello\r\n")
        qid = d.send(_with_parts([ordinary]), LAT)
        d.wait_for(lambda: qid in {e["queue_id"] for e in d.register()}, what="the forwarding letter registered")
    finally:
        d.stop()


def test_a_flooded_letter_that_came_another_way_is_held_sealed_unread(tmp_path):
    d = Daemon(write_config(tmp_path))
    make_gateway_key(d)
    d.start()
    try:
        # Spooled as IMAP intake spools a letter: nothing was refused, the pipeline decides.
        qid = Spool(d.data_dir / "spool").accept(_with_parts([_forwarded(50_000)]), SENDER, [LAT])
        [(held, reasons)] = d.wait_for(lambda: db_rows(d, "select queue_id, reasons from quarantine"),
                                       timeout=120, what="the letter held")
        assert held == qid
        [reason] = json.loads(reasons)
        assert reason["rule"] == "header_size" and reason["verdict"] == "fail"
        assert reason["message_th"].startswith("ส่วนหัวของส่วนย่อยในอีเมล (MIME part) และของข้อความที่แนบมา"
                                               " รวมกันยาวเกิน 1048576 ไบต์ ระบบจึงไม่อ่านหนังสือฉบับนี้")
        assert reason["message_en"].startswith("the header lines of the message's MIME parts and attached messages"
                                               " take more than 1048576 bytes together")
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        d.wait_idle()
        assert files_containing(d.data_dir, MARKER) == []
    finally:
        d.stop()


def test_the_parse_stops_at_the_limit_and_cheaply():
    from gateway.pipeline.parse import PartHeadersTooLarge, parse_mail
    from gateway.pipeline.parse_limits import MAX_PART_HEADERS
    from gateway.secrecy.markings import classify_raw

    line = b"X-Filler: " + b"a" * 30 + b"\r\n"  # 42 bytes; the letter's other parts have ~400
    under = (MAX_PART_HEADERS - 2000) // len(line)
    mail = parse_mail(_with_parts([_flooded_part(under)]))
    assert mail.attachments  # read
    try:
        parse_mail(_with_parts([_flooded_part(under + 100)]))
    except PartHeadersTooLarge as exc:
        assert str(exc) == "more than 1048576 bytes of header lines in the message's parts"
    else:
        raise AssertionError("not stopped")
    # The letter's own header block is [smtp] max_header_size's, not counted here.
    own = SECRET_SUBJECT * (MAX_PART_HEADERS // len(SECRET_SUBJECT) + 10)
    assert parse_mail(own + letter()).subject
    # Twenty forwarded letters of 50,000 Subject lines each (47 MB): 20 s of CPU at DATA before.
    started = time.process_time()
    found = classify_raw(_with_parts([_forwarded(50_000)] * 20))
    assert time.process_time() - started < 5
    assert (found.level, found.certain) == ("confidential", False)
