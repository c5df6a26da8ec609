"""mail-parser's own error log quoted a classified letter's header (red team of 7 Dec 2026).

A file name in an RFC 2047 word whose bytes are no UTF-8 (a stray `\\xed\\xa0\\x80`)
made mail-parser log, at error level, "Failed decoding header part: =?utf-8?b?...?="
with the whole word: the pipeline runner wrote a ลับมาก letter's file name into the
daemon's log (the journal), its base64 one step from the Thai."""
from __future__ import annotations

import base64
import logging

from tests.daemon import Daemon, write_config
from tests.letters import make_pdf, raw_rfc2047

NAME = "แผนรักษาความปลอดภัยเขต.pdf"
ENCODED = base64.b64encode(NAME.encode())
WORD = b"=?utf-8?b?" + ENCODED[:8] + b"\xed\xa0\x80" + ENCODED[8:] + b"?="


def test_mail_parser_logs_such_a_word_at_error_level():
    """What the daemon's log must not take: mail-parser's own words on this file name
    (kept from pytest's own log capture, whose report cannot carry the word's surrogates)."""
    from mailparser.utils import decode_header_part

    said: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: said.append(ascii(record.getMessage()))
    logger = logging.getLogger("mailparser")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        decode_header_part(WORD.decode("ascii", "surrogateescape"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    assert any(ENCODED[8:40].decode() in text for text in said), said


def test_a_secret_letters_undecodable_file_name_reaches_no_log(tmp_path):
    encoded, word = ENCODED, WORD
    pdf = base64.encodebytes(make_pdf("cover letter")).replace(b"\n", b"\r\n")
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\nSubject: "
           + raw_rfc2047("ลับมาก แผนรักษาความปลอดภัย", "utf-8").encode()
           + b"\r\nMessage-ID: <mailparser-log@dds.bangkok.go.th>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0700\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\n"
             b"see the file\r\n--BB\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\""
           + word + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + pdf + b"\r\n--BB--\r\n")
    d = Daemon(write_config(tmp_path / "gw")).start()
    try:
        code, _ = d.data_reply(raw)
        assert code == 250
        entries = d.wait_for(lambda: d.register(), what="the letter registered")
        assert entries[0]["secrecy"] == "secret", entries
        log = d.log_path.read_bytes()
        assert encoded[8:40] not in log and NAME.encode() not in log
        assert b"Failed decoding header part" not in log
    finally:
        d.stop()
