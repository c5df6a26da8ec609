"""A hostile SMTP client against the real daemon: connection caps, timeouts, odd
commands. One daemon with small limits serves the whole module."""
from __future__ import annotations

import time

import pytest

from tests.daemon import Daemon, write_config
from tests.hostile.smtp_raw import Raw, greet, ready
from tests.letters import letter

CAP, PER_IP = 10, 4


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("availability")
    smtp_extra = (f"max_connections = {CAP}\nmax_connections_per_ip = {PER_IP}\n"
                  "command_timeout = 2.0\ndata_timeout = 2.0\nsession_timeout = 5.0\n"
                  "max_message_size = 200000\n")
    d = Daemon(write_config(tmp, smtp_extra=smtp_extra)).start()
    yield d
    d.stop()


def _send_letter(port: int) -> bytes:
    """The final reply to one letter, sent as a mail server sends: a 421 for the session
    budget (5 s here, which the check at DATA counts too, on a machine the suite's other
    workers load) is a temporary answer, and the letter is sent again, once."""
    for _attempt in range(2):
        with ready(port) as client:
            assert client.cmd("DATA").startswith(b"354")
            wire = letter().replace(b"\r\n.", b"\r\n..")
            client.send(wire + (b"" if wire.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            reply = client.reply()
            client.cmd("QUIT")
        if not reply.startswith(b"421 4.4.2"):
            break
    return reply


def test_connections_beyond_the_caps_get_421_and_a_letter_still_gets_250(gw):
    held: list[Raw] = []
    try:
        # One client IP opens more than its share: the excess hear 421 4.7.0 and are closed.
        answers = []
        for _ in range(PER_IP + 3):
            client, banner = greet(gw.port, "127.0.0.2")
            held.append(client)
            answers.append(banner)
        assert [a[:3] for a in answers] == [b"220"] * PER_IP + [b"421"] * 3
        assert all(a.startswith(b"421 4.7.0") for a in answers[PER_IP:])
        # Others fill the rest of the total; beyond it, 421 for everyone.
        for source in ("127.0.0.3", "127.0.0.4"):
            for _ in range(3):
                client, banner = greet(gw.port, source)
                held.append(client)
                assert banner.startswith(b"220"), banner
        client, banner = greet(gw.port, "127.0.0.5")
        held.append(client)
        assert banner.startswith(b"421 4.7.0"), banner
        # While the attacker's PER_IP sessions are held, one more free slot serves mail.
        held.pop().close()
        for client in held[-3:]:
            client.close()
        time.sleep(0.3)
        assert _send_letter(gw.port).startswith(b"250 2.0.0")
    finally:
        for client in held:
            client.close()
    time.sleep(0.3)
    assert _send_letter(gw.port).startswith(b"250 2.0.0")  # every slot came back


def test_an_idle_client_hears_421_when_the_command_timeout_ends(gw):
    client, banner = greet(gw.port)
    with client:
        assert banner.startswith(b"220")
        started = time.monotonic()
        reply = client.reply()
        assert reply.startswith(b"421 4.4.2"), reply
        assert 1.5 <= time.monotonic() - started < 4.5
        assert client.closed_by_server(2)


def test_noop_every_second_cannot_hold_a_slot_past_the_session_budget(gw):
    client, banner = greet(gw.port)
    with client:
        started = time.monotonic()
        last = b""
        while time.monotonic() - started < 10:
            client.send(b"NOOP\r\n")
            last = client.reply()
            if not last.startswith(b"250"):
                break
            time.sleep(1.0)
        assert last.startswith(b"421 4.4.2"), last
        assert time.monotonic() - started < 6.5


def test_slow_but_steady_upload_gets_421_within_the_budget_and_leaves_nothing(gw):
    spool = gw.data_dir / "spool"
    before = set((spool / "new").iterdir())
    client = ready(gw.port)
    with client:
        started = time.monotonic()
        assert client.cmd("DATA").startswith(b"354")
        client.send(b"Subject: slow\r\n\r\n")
        client.sock.settimeout(0.5)
        reply = b""
        while time.monotonic() - started < 12 and not reply:
            try:
                client.send(b"x" * 100 + b"\r\n")  # ~200 B/s: never idle for data_timeout
            except OSError:
                break
            try:
                reply = client.sock.recv(4096)
            except OSError:
                pass
        assert reply.startswith(b"421 4.4.2"), reply
        assert time.monotonic() - started < 7.5
    time.sleep(0.5)
    assert set((spool / "new").iterdir()) <= before
    assert not any((spool / "tmp").iterdir())


def test_client_gone_mid_data_leaves_no_spool_file(gw):
    spool = gw.data_dir / "spool"
    before = set((spool / "new").iterdir())
    client = ready(gw.port)
    assert client.cmd("DATA").startswith(b"354")
    client.send(b"Subject: half\r\n\r\n" + b"half a letter\r\n" * 1000)
    time.sleep(0.3)
    assert any((spool / "tmp").iterdir())  # the draft was being written
    client.close()
    gw.wait_for(lambda: not any((spool / "tmp").iterdir()), 10, what="draft removed")
    assert set((spool / "new").iterdir()) <= before


ODD_ARGUMENTS = [
    (b"MAIL FROM:<a\x00b@example.org>", b"501 5.5.4"),
    (b"MAIL FROM:<" + b"a" * 300 + b"@example.org>", b"553 5.1.3"),
    (b"MAIL FROM:<" + b"a" * 520 + b"@example.org>", b"5"),
    (b"MAIL FROM:<\xff\xfe@example.org> SMTPUTF8", b"553 5.6.7"),
    (b"MAIL FROM:<\xe0\xb8@example.org>", b"553 5.6.7"),
    (b"MAIL FROM:<a@example.org>\x01", b"501 5.5.4"),
]


@pytest.mark.parametrize("line,expected", ODD_ARGUMENTS)
def test_odd_sender_addresses_are_refused_at_mail(gw, line, expected):
    client, _ = greet(gw.port)
    with client:
        assert client.cmd("EHLO odd.example").startswith(b"250")
        reply = client.cmd(line)
        assert reply.startswith(expected), reply
        assert client.cmd("RSET").startswith(b"250")  # the session goes on


def test_odd_recipients_are_refused_at_rcpt(gw):
    client, _ = greet(gw.port)
    with client:
        client.cmd("EHLO odd.example")
        assert client.cmd("MAIL FROM:<saraban.dds@bangkok.go.th>").startswith(b"250")
        assert client.cmd(b"RCPT TO:<saraban.latkrabang\x00@bangkok.go.th>").startswith(b"501 5.5.4")
        assert client.cmd(b"RCPT TO:<" + b"s" * 260 + b"@bangkok.go.th>").startswith(b"553")
        assert client.cmd(b"RCPT TO:<\xc3\x28@bangkok.go.th>").startswith(b"553 5.6.7")


SWEEP = [b"MAIL FROM:<>", b"MAIL FROM:<@>", b"MAIL FROM:<a@b> SIZE=x", b"MAIL FROM:<a@b> BODY=9BIT",
         b"MAIL FROM:<a@b> SMTPUTF8=yes", b"MAIL FROM:<a@b> FOO=bar", b"MAIL FROM", b"MAIL TO:<a@b>",
         b"RCPT TO:<a@b>", b"DATA", b"VRFY \xff", b"HELP \x00", b"EHLO \xff\xfe", b"AUTH PLAIN",
         b"STARTTLS", b"BDAT 10", b"\xff\xfe", b"RCPT TO:<saraban.latkrabang@bangkok.go.th> NOTIFY=x",
         b"MAIL FROM:<\"\\\x80\"@x>", b"MAIL FROM:<a@[300.1.1.1]>", b"NOOP " + b"\xe0" * 100]


def test_no_python_text_in_any_reply_to_odd_commands(gw):
    client, _ = greet(gw.port)
    with client:
        client.cmd("EHLO sweep.example")
        for line in SWEEP:
            reply = client.cmd(line)
            assert reply[:1] in (b"2", b"3", b"4", b"5"), (line, reply)
            for python in (b"Error: (", b"Traceback", b"Exception", b"Unicode", b"NoneType"):
                assert python not in reply, (line, reply)
            if reply.startswith(b"354"):
                reply = client.cmd(b".")
            if reply.startswith(b"421"):
                break
    assert _send_letter(gw.port).startswith(b"250 2.0.0")


# Session 35's red team: arguments aiosmtpd's address parser (the email package's)
# raises on with something other than HeaderParseError, and a SIZE of non-ASCII digits
# int() refuses. Each was "451 4.3.0 temporary local problem" (a sending server retries a
# syntax error for days) and an error line in the log, 10,000 a second from one client.
RAISING = [(b"MAIL FROM:<", b"553 5.1.3"), (b'MAIL FROM:"', b"553 5.1.3"), (b"MAIL FROM:a@", b"553 5.1.3"),
           (b"MAIL FROM:\xe2\x84\xaa@", b"553 5.1.3"), (b"MAIL FROM:<a@b.example> SIZE=\xc2\xb2", b"501"),
           (b"MAIL FROM:<a@b.example> SIZE=\xd9\xa3", b"501")]
RAISING_RCPT = [b"RCPT TO:<", b'RCPT TO:"', b"RCPT TO:a@", b"RCPT TO:\xe2\x84\xaa@"]


def test_malformed_paths_get_a_permanent_refusal_not_a_temporary_one(gw):
    client, _ = greet(gw.port)
    with client:
        client.cmd("EHLO malformed.example")
        for line, expected in RAISING:
            reply = client.cmd(line)
            assert reply.startswith(expected), (line, reply)
            assert client.cmd("RSET").startswith(b"250")
        assert client.cmd("MAIL FROM:<saraban.dds@bangkok.go.th>").startswith(b"250")
        for line in RAISING_RCPT:
            reply = client.cmd(line)
            assert reply.startswith(b"553 5.1.3"), (line, reply)
    assert _send_letter(gw.port).startswith(b"250 2.0.0")
    assert not [e for e in gw.events() if e.get("event") == "smtp_session_exception"]


def test_session_exceptions_are_logged_at_a_bounded_rate(monkeypatch):
    """Whatever the next input a library raises on is, one client cannot write the log
    full: 20 lines at once, then about one a second, the lines left out counted."""
    import asyncio

    from gateway.intake import smtp_handler
    from gateway.intake.smtp_handler import IntakeHandler

    lines = []
    monkeypatch.setattr(smtp_handler.log, "error", lambda event, **kw: lines.append((event, kw)))
    handler = IntakeHandler.__new__(IntakeHandler)
    handler._exceptions_log = smtp_handler.LogRate(smtp_handler.EXCEPTIONS_LOG_RATE, smtp_handler.EXCEPTIONS_LOG_BURST)

    async def burst():
        return [await handler.handle_exception(ValueError("x\x1b[31m" + "²" * 5000)) for _ in range(5000)]

    replies = asyncio.run(burst())
    assert all(r.startswith("451 4.3.0") for r in replies)
    assert 20 <= len(lines) <= 22, len(lines)
    error = lines[0][1]["error"]
    assert error.isascii() and len(error) < 1300 and "\x1b" not in error
    time.sleep(1.1)
    asyncio.run(burst())
    assert lines[-1][1].get("not_logged", 0) >= 4970, lines[-1]


def test_an_unknown_command_is_not_echoed_with_its_control_characters(gw):
    """aiosmtpd says back the command it did not know: an escape sequence in it went back
    to the client's terminal as sent (session 35's red team)."""
    client, _ = greet(gw.port)
    with client:
        reply = client.cmd(b"X\x1b[31mY\x07 Z")
        assert reply.startswith(b"500") and b"\x1b" not in reply and b"\x07" not in reply, reply
        assert client.cmd("NOOP").startswith(b"250")


def test_an_unknown_command_is_not_echoed_with_a_bare_cr(gw):
    """Session 50: a command ends at LF, so the word aiosmtpd echoes from an unknown one
    (up to its first space) may hold a bare CR, which RFC 5321 allows only before LF.
    `X<CR>250` went back as `500 5.5.2 Error: command "X<CR>250" not recognized`: on the
    terminal of whoever reads the transcript (swaks, a log viewer) the line then begins
    `250"`, the 500 written over."""
    client, _ = greet(gw.port)
    with client:
        client.cmd("EHLO cr.example")
        reply = client.cmd(b"X\r250")
        assert reply.startswith(b"500 5.5.2 ") and b"\r" not in reply and b"\n" not in reply, reply
        assert client.cmd("NOOP").startswith(b"250")


def test_c1_and_bidirectional_controls_in_names_and_paths_are_refused(gw):
    """Session 35's third red team: `EHLO evil<U+009B>2J<U+202E>...`, `MAIL FROM:<a<U+202E>@b.c>`
    and a NEL (U+0085) that str.split() takes for a space were all 250."""
    client, _ = greet(gw.port)
    with client:
        assert client.cmd("EHLO evil\u009b2J\u202ename.example".encode()).startswith(b"501 5.5.2")
        assert client.cmd("EHLO c1.example").startswith(b"250")
        for path in ("MAIL FROM:<a\u202e@b.example>", "MAIL FROM:<a@b.example> \u0085",
                     "MAIL FROM:<a\u2066b@b.example>"):
            assert client.cmd(path.encode()).startswith(b"501 5.5.4"), path
            client.cmd("RSET")
        assert client.cmd("MAIL FROM:<saraban.dds@bangkok.go.th>").startswith(b"250")
        assert client.cmd("RCPT TO:<saraban.latkrabang\u200f@bangkok.go.th>".encode()).startswith(b"501 5.5.4")
    assert _send_letter(gw.port).startswith(b"250 2.0.0")
