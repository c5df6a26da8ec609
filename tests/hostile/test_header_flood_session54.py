"""Red team, session 54: a header flood, bounded.

Every secrecy header (Subject, Keywords, X-Classification ...) is read and normalised
for Thai by the DATA check and again by the pipeline: 50,000 Subject lines (2.3 MB,
well under the 50 MB message size) took 7.5 s at DATA on this machine, and the
pipeline runner spent 11 s more on the letter, every letter behind it waiting; twenty
times as many ran past the DATA check's deadline and held a runner for minutes. The
header block is now bounded (`[smtp] max_header_size`, 1 MiB, Exim's header_maxsize):
a longer one is refused whole at the end of DATA with 552 5.3.4 (never cut: the part
cut off may be the Subject that says ลับ), and one pulled from a central mailbox, where
nothing can be refused, is held in quarantine sealed, unread."""
from __future__ import annotations

import json
import time

import pytest

from tests.classified.helpers import MARKER, db_rows, files_containing, log_lines_containing, make_gateway_key, maildir
from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"
# "ลับ letter", as an encoded word: a secrecy header, the dearest kind to read.
SECRET_SUBJECT = b"Subject: =?utf-8?b?4Lil4Lix4LiaIGxldHRlcg==?=\r\n"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("flood"), smtp_extra="max_header_size = 65536")).start()
    yield d
    d.stop()


def _flooded(header_bytes: int, line: bytes = SECRET_SUBJECT, **kwargs) -> bytes:
    """A letter whose header block is exactly `header_bytes` long (its own headers after
    the flood of `line`s)."""
    base = letter(**kwargs)
    own = base.index(b"\r\n\r\n")
    pad = header_bytes - own
    lines, rest = divmod(pad, len(line))
    filler = line * lines
    if rest:
        filler += b"X-Pad: " + b"a" * (rest - 9) + b"\r\n" if rest >= 9 else b""
        assert rest >= 9, rest
    raw = filler + base
    assert raw.index(b"\r\n\r\n") == header_bytes
    return raw


def test_fifty_thousand_subject_lines_are_refused_at_data_in_ascii(tmp_path):
    daemon = Daemon(write_config(tmp_path)).start()  # the default limit
    try:
        _refused_at_data(daemon)
    finally:
        daemon.stop()


def _refused_at_data(daemon: Daemon) -> None:
    raw = SECRET_SUBJECT * 50_000 + letter()  # 2.3 MB of header lines
    started = time.monotonic()
    code, text = daemon.data_reply(raw)
    took = time.monotonic() - started
    assert code == 552, (code, text)
    assert text.startswith(b"5.3.4 message header too large (more than 1048576 bytes of header lines)"), text
    assert text.isascii()
    assert took < 15, took  # the upload; no check ran (it took 7.5 s, and 11 s in the pipeline)
    # Nothing kept: not in the spool, not registered; the refusal logged (and counted in
    # saraban_rejected_total{stage="smtp",reason="header_too_large"}).
    assert daemon.status_here()["spool"]["pending"] == 0
    assert list((daemon.data_dir / "spool" / "new").iterdir()) == []
    assert not any(e.get("event") == "classification_timeout" for e in daemon.events())
    [event] = [e for e in daemon.events() if e.get("event") == "header_too_large"]
    assert event["limit"] == 1048576 and event["header_at_least"] > 1048576
    # The next sender is served as ever.
    qid = daemon.send(letter(), LAT)
    daemon.wait_for(lambda: qid in {e["queue_id"] for e in daemon.register()}, what="the honest letter registered")


def test_the_limit_is_the_header_block_to_the_byte_and_nothing_else(daemon):
    at_limit = _flooded(65536)
    code, text = daemon.data_reply(at_limit)
    assert code == 250, (code, text)
    code, text = daemon.data_reply(_flooded(65537))
    assert code == 552 and b"5.3.4" in text, (code, text)
    # A header block without any body after it, one byte over, is the same.
    only_headers = SECRET_SUBJECT * (65537 // len(SECRET_SUBJECT) + 1)
    code, text = daemon.data_reply(only_headers)
    assert code == 552, (code, text)
    # The body does not count: a 3 MB enclosure after short headers is a letter.
    code, text = daemon.data_reply(letter(files=[("2569_dds_0403_57.pdf", b"%PDF-1.4\n" + b"0" * 3_000_000)]))
    assert code == 250, (code, text)
    # A bare-LF letter is measured at its empty line too.
    code, text = daemon.data_reply(_flooded(60000).replace(b"\r\n", b"\n"))
    assert code == 250, (code, text)


def test_the_default_is_one_mib(tmp_path):
    from gateway.config.settings import load_settings

    settings = load_settings(write_config(tmp_path))
    assert settings.smtp.max_header_size == 1024 * 1024


@pytest.mark.dovecot
def test_a_flooded_letter_pulled_over_imap_is_held_sealed_unread(tmp_path, dovecot, dovecot_user):
    # IMAP intake cannot refuse: the pipeline holds the letter, sealed as at least ลับ
    # since not even its headers were read, with a reason in Thai and in English.
    user, password = dovecot_user
    d = Daemon(write_config(tmp_path / "gw", extra=intake_config(dovecot, user, password, poll_interval=0.5)))
    make_gateway_key(d)
    flooded = _flooded(1_100_000, line=b"X-Junk: " + MARKER.encode() + b"\r\n",
                       subject=f"แจ้งการประชุม {MARKER}", body=f"เนื้อความ {MARKER}\n")
    dovecot.deliver(user, flooded)
    dovecot.deliver(user, letter())
    d.start()
    try:
        def finished():
            rows = db_rows(d, "select queue_id, state from messages")
            return len(rows) == 2 and all(s in ("done", "quarantined") for _q, s in rows) and rows
        rows = d.wait_for(finished, timeout=120, what="both letters finished")
        states = sorted(s for _q, s in rows)
        assert states == ["done", "quarantined"], states
        [(qid, reasons)] = db_rows(d, "select queue_id, reasons from quarantine")
        [reason] = json.loads(reasons)
        assert reason["rule"] == "header_size" and reason["verdict"] == "fail"
        assert "ส่วนหัวของอีเมล (header) ยาวเกิน 1048576 ไบต์" in reason["message_th"]
        assert "header lines take more than 1048576 bytes" in reason["message_en"]
        shown = json.loads(d.cli("quarantine", "show", str(_entry_id(d, qid)), "--json").stdout)
        assert "header_size" in json.dumps(shown)
        assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1"
        [event] = [e for e in d.events() if e.get("event") == "header_too_large"]
        assert event["limit"] == 1048576 and event["size"] == 1_100_000
        # Nothing of it in plaintext anywhere: sealed, not in the unit's folder.
        assert len(maildir(d, "latkrabang")) == 1  # the ordinary letter only
        assert files_containing(d.data_dir, MARKER) == []
        assert log_lines_containing(d, MARKER) == []
    finally:
        d.stop()


def _entry_id(d: Daemon, queue_id: str) -> int:
    [(entry,)] = db_rows(d, "select id from quarantine where queue_id = ?", queue_id)
    return entry
