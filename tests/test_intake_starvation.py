"""Intake must not be starved through the check at DATA (gateway/secrecy/markings.py
`DataCheck`, 2 worker processes, 30 s a letter).

Before: a letter waited for a worker without limit, that wait and the check were outside
the session budget, and the SIGTERM drain waited for every letter in the DATA hook. A
sender with a few connections and letters that keep a worker busy for its whole deadline
made every other sender wait (an honest letter waited 99 s for its 250 with
session_timeout = 20 s), and `systemctl stop` took 73 s (systemd kills at 45 s).

The slow letters here hold their worker until its deadline through the worker's test
hook (SARABAN_TEST_SLOW_CHECK, gateway/secrecy/markings.py): a hostile PDF's cost moves
with every change to the readers (the PDF whose 28 form XObjects each draw the next one
twice, with a cross-reference table pypdf refuses, held a worker 30 s until session 11's
merge; now PDFium runs out of the worker's memory on it within a second). The same PDF
undamaged is left unread within milliseconds: the last tests."""
from __future__ import annotations

import asyncio
import re
import smtplib
import socket
import threading
import time

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import assemble_pdf, letter, stream_object

LAT = "saraban.latkrabang@bangkok.go.th"
HOSTILE_IP, OTHER_HOSTILE_IP = "127.0.0.2", "127.0.0.3"  # loopback: the whole 127/8 answers
HONEST_IP = "127.0.0.1"
BOUND = 15.0  # seconds: the configured limits below plus generous room on a loaded machine


def nested_forms_pdf(depth: int = 28, damaged: bool = True) -> bytes:
    """A 3 KB PDF whose form XObject k draws form k+1 twice: 2^depth draws."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /XObject << /X0 6 0 R >> >> >>",
            stream_object(b"BT /F1 12 Tf 72 760 Td (x) Tj ET /X0 Do"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for k in range(depth):
        if k < depth - 1:
            content = b"/X Do /X Do"
            res = b"/Resources << /XObject << /X %d 0 R >> /Font << /F1 5 0 R >> >> " % (7 + k)
        else:
            content, res = b"BT /F1 12 Tf (a) Tj ET", b"/Resources << /Font << /F1 5 0 R >> >> "
        objs.append(stream_object(content, b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] " + res))
    pdf = assemble_pdf(objs)
    return re.sub(rb"\nxref\n0 \d+", b"\nxref\n0 999999", pdf, count=1) if damaged else pdf


SLOW_MARK = "SLOW-CHECK-4f1c"  # SARABAN_TEST_SLOW_CHECK: the worker holding it is busy past its deadline


def slow_letter() -> bytes:
    """A letter that holds its DATA-check worker until the deadline. Until session 11's
    merge it was the damaged nested-forms PDF below; with the readers' new work (a page's
    lines placed, annotations flattened) PDFium now runs out of the worker's 1 GiB on it
    within a second and the worker dies (the letter then accepted as uncertain, sealed),
    so the worker's test hook holds it instead (gateway/secrecy/markings.py)."""
    return letter(subject=f"slow {SLOW_MARK}", files=[("2569_dds_0403_57.pdf", nested_forms_pdf(18))])


class Sender(threading.Thread):
    """One SMTP transaction from `ip`, in a thread; `reply` and `seconds` once done (from
    the end of DATA on, the wait this file is about)."""

    def __init__(self, port: int, ip: str, raw: bytes, host: str = "127.0.0.1"):
        super().__init__(daemon=True)
        self.port, self.ip, self.raw, self.host = port, ip, raw, host
        self.reply: tuple | None = None
        self.seconds: float | None = None
        self.in_data = threading.Event()

    def run(self) -> None:
        started = None
        try:
            with smtplib.SMTP(self.host, self.port, timeout=120, source_address=(self.ip, 0)) as client:
                client.ehlo("sender.example")
                client.mail("saraban.dds@bangkok.go.th")
                client.rcpt(LAT)
                code, _ = client.docmd("DATA")
                assert code == 354, code
                client.send(self.raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
                started = time.monotonic()
                self.in_data.set()
                self.reply = client.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.reply = ("disconnected", str(exc))
        finally:
            self.in_data.set()
            self.seconds = time.monotonic() - started if started is not None else None

    def result(self, timeout: float = 120.0) -> tuple:
        self.join(timeout)
        assert not self.is_alive(), f"no reply from the gateway to {self.ip} within {timeout} s"
        return self.reply


def _daemon(tmp_path, smtp_extra: str = "", extra: str = "") -> Daemon:
    # [smtp] data_check_queue_timeout and data_checks_per_ip at their defaults (5 s, 1)
    config = write_config(tmp_path, smtp_extra=smtp_extra, extra=extra)
    return Daemon(config, env={"SARABAN_TEST_SLOW_CHECK": SLOW_MARK}).start()


def _hostile(daemon: Daemon, ip: str) -> Sender:
    sender = Sender(daemon.port, ip, slow_letter())
    sender.start()
    assert sender.in_data.wait(30)
    return sender


def _spool_files(daemon: Daemon, where: str) -> list[str]:
    return sorted(p.name for p in (daemon.data_dir / "spool" / where).iterdir())


def test_one_senders_slow_letters_hold_one_check_and_another_senders_letter_gets_its_250(tmp_path):
    daemon = _daemon(tmp_path)
    try:
        first = _hostile(daemon, HOSTILE_IP)
        time.sleep(1.0)  # its check has begun
        second = _hostile(daemon, HOSTILE_IP)  # the same IP: waits for its turn, not a worker
        time.sleep(0.5)
        honest = Sender(daemon.port, HONEST_IP, letter(subject="หนังสือปกติ"))
        honest.start()
        code, text = honest.result()
        assert code == 250, (code, text)
        assert honest.seconds < BOUND, honest.seconds  # on main: ~30 s, both workers held
        # The same sender's second letter never had a worker: 451 4.3.2, ASCII, after the
        # queue timeout; the draft is gone.
        code, text = second.result()
        assert code == 451 and text.startswith(b"4.3.2 ") and text.isascii(), (code, text)
        assert second.seconds < BOUND, second.seconds
        assert first.is_alive() or first.reply is not None
        busy = [e for e in daemon.events() if e.get("event") == "data_check_busy"]
        assert busy and busy[0]["reason"] == "per_ip", busy
    finally:
        daemon.kill9()


def _greeting(port: int, ip: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(ip, 0))
    return sock, sock.recv(4096)


def test_a_relay_listed_in_the_exceptions_has_no_per_ip_share(tmp_path):
    # The central relay is one IP for every sender behind it ([smtp]
    # client_limit_exceptions, Postfix's smtpd_client_event_limit_exceptions).
    relay, other = HOSTILE_IP, OTHER_HOSTILE_IP
    daemon = _daemon(tmp_path, smtp_extra=f'max_connections_per_ip = 2\nclient_limit_exceptions = ["{relay}/32"]\n')
    held: list[socket.socket] = []
    try:
        slow = _hostile(daemon, relay)  # holds one worker until its deadline
        time.sleep(1.0)
        # The relay's next letter takes the other worker; not listed, it waited for its
        # turn and heard 451 (the first test of this file).
        honest = Sender(daemon.port, relay, letter(subject="หนังสือผ่านรีเลย์กลาง"))
        honest.start()
        code, text = honest.result()
        assert code == 250, (code, text)
        assert honest.seconds < BOUND, honest.seconds
        # Connections: the relay (one still open, the slow one) is greeted past
        # max_connections_per_ip; another client is not.
        for _ in range(3):
            sock, banner = _greeting(daemon.port, relay)
            held.append(sock)
            assert banner.startswith(b"220 "), banner
        banners = []
        for _ in range(3):
            sock, banner = _greeting(daemon.port, other)
            held.append(sock)
            banners.append(banner[:4])
        assert banners == [b"220 ", b"220 ", b"421 "], banners
        assert slow.is_alive() or slow.reply is not None
    finally:
        for sock in held:
            sock.close()
        daemon.kill9()


def test_no_free_worker_within_the_queue_timeout_is_a_451_and_nothing_is_kept(tmp_path):
    daemon = _daemon(tmp_path)
    try:
        hostile = [_hostile(daemon, HOSTILE_IP), _hostile(daemon, OTHER_HOSTILE_IP)]  # both workers
        time.sleep(1.5)
        honest = Sender(daemon.port, HONEST_IP, letter(subject="หนังสือปกติ"))
        honest.start()
        code, text = honest.result()
        # Never accepted unchecked: the sender is told to try again later.
        assert code == 451 and text.startswith(b"4.3.2 ") and text.isascii(), (code, text)
        assert honest.seconds < BOUND, honest.seconds  # on main: 250 once a worker is free, ~30 s
        assert _spool_files(daemon, "new") == []
        drafts = _spool_files(daemon, "tmp")
        assert len(drafts) <= 2, drafts  # the two slow letters' drafts, not the honest one's
        assert all(s.is_alive() or s.reply for s in hostile)
    finally:
        daemon.kill9()


def test_the_check_and_the_wait_for_it_count_in_the_session_budget(tmp_path):
    daemon = _daemon(tmp_path, smtp_extra="session_timeout = 6.0\n")
    try:
        hostile = _hostile(daemon, HOSTILE_IP)
        code, text = hostile.result()
        # Cut with the session, as Postfix would: no 250, the check cancelled, the draft gone.
        assert code == 421 and text.startswith(b"4.4.2 "), (code, text)  # on main: 250 after 30 s
        assert hostile.seconds < BOUND, hostile.seconds
        daemon.wait_for(lambda: _spool_files(daemon, "tmp") == [], timeout=10, what="the draft to go")
        assert _spool_files(daemon, "new") == []
    finally:
        daemon.kill9()


def test_sigterm_with_checks_in_flight_exits_within_drain_timeout_and_keeps_every_accepted_letter(tmp_path):
    extra = "\n[service]\ndrain_timeout = 3.0\n"
    daemon = _daemon(tmp_path, extra=extra)
    try:
        accepted = daemon.send(letter(subject="รับแล้วก่อนหยุด"), LAT)
        hostile = [_hostile(daemon, HOSTILE_IP), _hostile(daemon, OTHER_HOSTILE_IP),
                   _hostile(daemon, "127.0.0.4")]  # two in the check, one waiting for a worker
        time.sleep(1.0)
        started = time.monotonic()
        daemon.proc.send_signal(__import__("signal").SIGTERM)
        code = daemon.proc.wait(120)
        seconds = time.monotonic() - started
        assert code == 0
        assert seconds < 3.0 + BOUND, seconds  # on main: until every check ended, 30 s and more
        for sender in hostile:
            reply = sender.result(30)
            assert reply[0] in (421, 451, "disconnected"), reply  # no 250: they retry
        assert _spool_files(daemon, "tmp") == []  # the cut letters' drafts went with them
        assert set(_spool_files(daemon, "new")) <= {f"{accepted}.msg"}  # only the 250 is kept
    finally:
        if daemon.proc.poll() is None:
            daemon.kill9()
    daemon.start()
    try:
        daemon.wait_idle()
        assert [e["queue_id"] for e in daemon.register()] == [accepted]
    finally:
        daemon.stop()


# -- the PDF itself: left unread within milliseconds, not read for 30 s -----------------

def test_a_pdf_drawing_its_forms_millions_of_times_is_left_unread_and_the_rest_is_read():
    from gateway.secrecy.markings import DataCheck

    async def classify(raws):
        check = DataCheck(timeout=25.0, workers=1)
        await check.start()
        try:
            found = []
            for raw in raws:
                started = time.monotonic()
                found.append((await check.classify(raw), time.monotonic() - started))
            return found
        finally:
            await check.aclose()

    pdf = nested_forms_pdf(damaged=False)
    (plain, t1), (top_secret, t2) = asyncio.run(classify([
        letter(subject="x", files=[("2569_dds_0403_57.pdf", pdf)]),
        letter(subject="x", body="ลับที่สุด\nแผนการ\n", files=[("2569_dds_0403_57.pdf", pdf)]),
    ]))
    # The PDF is unreadable (at least ลับ, the pipeline reads it again), not the letter:
    # on main the worker ran to its deadline and the letter was "not read in time".
    assert plain.level == "confidential" and not plain.certain and plain.where == "file 1 unreadable", plain
    assert t1 < 12, t1
    # The rest of the letter is read: a ลับที่สุด body beside it is refused at DATA.
    assert top_secret.level == "top_secret" and top_secret.where == "body", top_secret
    assert t2 < 12, t2


def test_form_draws_are_counted_with_nesting_and_a_letters_own_pdfs_pass():
    import io

    from pypdf import PdfReader

    from gateway.pipeline.pdf_forms import FORM_DRAWS_CAP, draws_of
    from gateway.pipeline.pdf_inspect import pages_read
    from tests.letters import make_pdf

    def draws(data: bytes) -> int:
        reader = PdfReader(io.BytesIO(data), strict=False)
        return draws_of(reader, pages_read(len(reader.pages)))

    assert draws(nested_forms_pdf(5, damaged=False)) == 2 ** 5 - 1
    assert draws(nested_forms_pdf(40, damaged=False)) == FORM_DRAWS_CAP + 1
    assert draws(make_pdf("ที่ กท 0403/17", pages=25)) == 0


def test_the_pipelines_reader_leaves_such_a_pdf_unread_too():
    """The cap is in the one PDF reader (gateway/pipeline/pdf_inspect.py), not only in
    the DATA check's worker: a letter accepted as uncertain is read again by the
    pipeline, which spent its own per-file timeout on it."""
    from gateway.pipeline.pdf_inspect import inspect_pdf
    from rules.model import NOT_READ_IN_TIME

    started = time.process_time()
    info = inspect_pdf(nested_forms_pdf(damaged=False))
    assert info.error.startswith(NOT_READ_IN_TIME) and info.text is None, info
    assert time.process_time() - started < 5
