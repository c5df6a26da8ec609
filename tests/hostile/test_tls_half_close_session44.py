"""A client that ends its side of a STARTTLS connection right after its letter's final
dot has its letter taken, once (session 44).

Under TLS an end of the client's side is a close_notify (`SSLSocket.unwrap()`) or a bare
TCP FIN without one (a truncation). asyncio's SSL layer answers either by closing the
connection at once, and aiosmtpd then cancelled the session: a letter whose final dot
had arrived was shredded in its check, unanswered (`smtp_letter_cut_by_client`), and
nothing was registered, though the whole letter had been received. On a plain
connection the same client has heard its 250 since session 43
(tests/hostile/test_half_close_session43.py). Now the letter is checked and committed
as it would have been; its 250 cannot be said (`smtp_reply_unheard`), so the client,
which keeps the letter, sends it again, and that resend is recognised: one register
entry. Half a letter before the end is still not taken."""
from __future__ import annotations

import socket
import ssl
import time

import pytest

from tests.daemon import Daemon
from tests.hostile.test_half_close_session43 import SENDER, _registered, _wire, to_354
from tests.letters import letter
from tests.test_smtp_tls import HOST, LAT, client_context, gateway  # noqa: F401 - gateway: the STARTTLS daemon

UNIT = LAT.split("@")[0]


def _tls_in_data(gw: Daemon) -> tuple[socket.socket, ssl.SSLSocket]:
    """A session through STARTTLS to its 354, as a sending server that verifies the
    gateway's certificate goes."""
    raw = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    reader = raw.makefile("rb")
    assert reader.readline().startswith(b"220 ")
    raw.sendall(b"EHLO mail.dds.example\r\nSTARTTLS\r\n")
    while not (line := reader.readline()).startswith(b"220 "):
        assert line[3:4] == b"-" or line.startswith(b"250 "), line
    tls = client_context(gw.cert).wrap_socket(raw, server_hostname=HOST)
    replies = tls.makefile("rb")
    to_354(tls, replies, "mail.dds.example", LAT)
    return raw, tls


OVERTAKEN = b"(the reply came after our close_notify)"


def _end_side(tls: ssl.SSLSocket, how: str) -> bytes:
    """End the client's side as `how` says; what the gateway said after it, if anything."""
    if how == "close_notify":
        try:
            plain = tls.unwrap()  # sends close_notify, waits for the gateway's
        except ssl.SSLError as exc:
            # The gateway's reply overtook our close_notify: this client was slow to send
            # it after the final dot (a loaded machine) and the letter was answered first.
            # The reply is lost to this client all the same; the gateway thinks it heard.
            if "APPLICATION_DATA_AFTER_CLOSE_NOTIFY" not in str(exc):
                raise
            return OVERTAKEN
        plain.settimeout(20)
        return plain.recv(65536)
    socket.socket.shutdown(tls, socket.SHUT_WR)  # a FIN under the TLS session, no close_notify
    said = b""
    try:
        while chunk := tls.recv(65536):
            said += chunk
    except (ssl.SSLError, OSError):
        pass  # the gateway closed without a close_notify of its own
    return said


def _one_entry(gw: Daemon, message_id: str) -> list[dict]:
    entries = _registered(gw, message_id)
    assert len(entries) <= 1, entries
    return entries


@pytest.mark.parametrize("how", ["close_notify", "fin"])
def test_a_letter_whose_final_dot_came_before_the_tls_end_is_taken_once(gateway, how):
    message_id = f"<tls-halfclose-{how}-{time.time_ns()}@dds.bangkok.go.th>"
    raw = letter(to=LAT, message_id=message_id)
    sock, tls = _tls_in_data(gateway)
    try:
        tls.sendall(_wire(raw))
        said = _end_side(tls, how)
    finally:
        sock.close()
    # The final dot was there: the letter is checked and committed, then registered.
    first = gateway.wait_for(lambda: _one_entry(gateway, message_id), 60, what="the letter registered")
    # asyncio's TLS layer lets no reply through after the client's end: the client never
    # heard a 250 (said, and the log says why), so it keeps the letter and sends it again.
    assert not said.startswith(b"250"), said
    if said != OVERTAKEN:  # else the reply was written before the end was read
        gateway.wait_for_event("smtp_reply_unheard", 10, tls=True)
    code, text = gateway.data_reply(raw, LAT, SENDER)
    assert code == 250, (code, text)
    gateway.wait_for_event("resend_recognised", 60, message_id=message_id,
                           receive_no=first[0]["receive_no"])
    assert [e["receive_no"] for e in _registered(gateway, message_id)] == [first[0]["receive_no"]]


def _cuts(gw: Daemon) -> list[dict]:
    return [e for e in gw.events() if e.get("event") == "smtp_letter_cut_by_client" and e.get("tls") is True]


@pytest.mark.parametrize("how", ["close_notify", "fin"])
def test_half_a_letter_before_the_tls_end_is_not_taken(gateway, how):
    message_id = f"<tls-halfclose-cut-{how}-{time.time_ns()}@dds.bangkok.go.th>"
    spool = gateway.data_dir / "spool"
    before = set((spool / "new").iterdir())
    raw = letter(to=LAT, message_id=message_id)
    cuts = len(_cuts(gateway))
    sock, tls = _tls_in_data(gateway)
    try:
        tls.sendall(raw[: len(raw) // 2])  # no final dot
        said = _end_side(tls, how)
    finally:
        sock.close()
    assert not said.startswith(b"250"), said
    gateway.wait_for(lambda: len(_cuts(gateway)) > cuts, 20, what="smtp_letter_cut_by_client logged")
    gateway.wait_for(lambda: not any((spool / "tmp").iterdir()), 20, what="the draft removed")
    assert set((spool / "new").iterdir()) <= before
    time.sleep(1.0)
    assert _registered(gateway, message_id) == []
