"""A client that half-closes its side after its last command is answered, as Postfix and
Exim answer it (session 43's red team).

`nc -N`, a script's `printf ... | nc`, and a client that shuts its side after the final
dot and waits for the 250: aiosmtpd cancelled the session at the end of file, so a
letter complete before it was never checked nor answered, its draft shredded (only
`file_shredded` in the log), and pipelined commands before it got no replies. What was
sent before the end of file is now answered, then the session closes; a half-closed
client that does not read still gives its slot back after CLOSE_GRACE."""
from __future__ import annotations

import socket
import time

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter

UNIT = "saraban.latkrabang"
TO = f"{UNIT}@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("halfclose43")
    # A long command timeout: a session closed within seconds was closed by the end of
    # file (or CLOSE_GRACE), not by the idle timer.
    d = Daemon(write_config(tmp, smtp_extra="max_connections_per_ip = 1\ncommand_timeout = 60.0\n")).start()
    yield d
    d.stop()


def _until_closed(sock: socket.socket, within: float = 20.0) -> bytes:
    sock.settimeout(within)
    said = b""
    while chunk := sock.recv(65536):
        said += chunk
    return said


def _codes(said: bytes) -> list[bytes]:
    return [line[:3] for line in said.split(b"\r\n") if line[3:4] == b" "]


def _registered(gw: Daemon, message_id: str) -> list[dict]:
    return [e for e in gw.register("--unit", UNIT) if e.get("message_id") == message_id]


def _wire(raw: bytes) -> bytes:
    wire = raw.replace(b"\r\n.", b"\r\n..")
    return wire + (b"" if wire.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def to_354(sock, replies, ehlo: str, to: str) -> None:
    """EHLO, MAIL, RCPT and DATA, each answered as a sending server expects, to the 354."""
    for command, code in ((f"EHLO {ehlo}", b"250"), (f"MAIL FROM:<{SENDER}>", b"250"),
                          (f"RCPT TO:<{to}>", b"250"), ("DATA", b"354")):
        sock.sendall(command.encode() + b"\r\n")
        while (line := replies.readline())[3:4] == b"-":
            pass
        assert line.startswith(code), (command, line)


def test_a_client_that_half_closes_after_its_final_dot_hears_250_and_its_letter_is_registered(gw):
    message_id = f"<halfclose-dot-{time.time_ns()}@dds.bangkok.go.th>"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        to_354(sock, reader, "client.example", TO)
        sock.sendall(_wire(letter(to=TO, message_id=message_id)))
        sock.shutdown(socket.SHUT_WR)
        after = reader.read()  # to the server's close
    assert after.startswith(b"250 2.0.0"), after
    gw.wait_for(lambda: _registered(gw, message_id), what="the letter registered")


def test_a_session_written_whole_and_half_closed_is_answered_command_by_command(gw):
    # printf 'EHLO ...\r\n...QUIT\r\n' | nc -N host 25
    message_id = f"<halfclose-pipe-{time.time_ns()}@dds.bangkok.go.th>"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(f"EHLO client.example\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n".encode()
                     + _wire(letter(to=TO, message_id=message_id)) + b"QUIT\r\n")
        sock.shutdown(socket.SHUT_WR)
        said = _until_closed(sock)
    assert _codes(said) == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"], said
    gw.wait_for(lambda: _registered(gw, message_id), what="the letter registered")


def test_a_letter_cut_by_the_end_of_file_is_not_taken_and_the_session_ends(gw):
    spool = gw.data_dir / "spool"
    before = set((spool / "new").iterdir())
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(f"EHLO client.example\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n".encode()
                     + b"Subject: half\r\n\r\n" + b"half a letter\r\n" * 100)
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        said = _until_closed(sock)
    assert time.monotonic() - started < 10
    assert _codes(said) == [b"220", b"250", b"250", b"250", b"354"], said  # no 250 for half a letter
    gw.wait_for(lambda: not any((spool / "tmp").iterdir()), 10, what="draft removed")
    assert set((spool / "new").iterdir()) <= before


def test_a_half_closed_client_that_never_reads_still_gives_its_slot_back(gw):
    # Its replies fill its receive window; whatever the session still has to answer
    # once it has read the end of file, it must not hold the address's one slot until
    # the command timeout (60 s). (With ~24,000 lines here the replies outgrow the
    # kernel's buffers as well and CLOSE_GRACE aborts it, `smtp_close_unread`; how many
    # depends on the kernel's buffer tuning, so the test keeps to a count that is sure.)
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.connect(("127.0.0.1", gw.port))
    try:
        hog.sendall(b"EHLO never-reads.example\r\n" * 4000)
        hog.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(1.0)
            with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as other:
                if other.makefile("rb").readline().startswith(b"220 "):
                    break
        else:
            pytest.fail("the half-closed client kept the address's slot")
    finally:
        hog.close()
