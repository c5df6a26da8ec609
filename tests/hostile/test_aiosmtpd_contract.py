"""aiosmtpd is pinned (pyproject.toml: >=1.4.6,<1.5) because SarabanSMTP relies on a few
of its internals. This test names each one, so that an upgrade that moves one fails
here, loudly and with the reason, instead of as a hung or silent SMTP session."""
from __future__ import annotations

import asyncio
import inspect

import aiosmtpd
from aiosmtpd.smtp import SMTP

from gateway.intake.smtp_protocol import SarabanSMTP

UPGRADE = ("aiosmtpd {version} changed {what}, which gateway/intake/smtp_protocol.py relies on; "
           "re-check SarabanSMTP against this version before moving the pin in pyproject.toml")


def _fail_unless(condition: bool, what: str) -> None:
    assert condition, UPGRADE.format(version=aiosmtpd.__version__, what=what)


def test_the_pinned_minor_version_is_installed():
    _fail_unless(aiosmtpd.__version__.startswith("1.4."), "its version (tested: 1.4.x)")


def test_the_internals_saraban_smtp_uses_are_there():
    hook = getattr(SMTP, "_call_handler_hook", None)
    _fail_unless(hook is not None and inspect.iscoroutinefunction(hook), "SMTP._call_handler_hook (coroutine)")
    _fail_unless(list(inspect.signature(hook).parameters)[:2] == ["self", "command"],
                 "SMTP._call_handler_hook(self, command, *args)")
    reset = getattr(SMTP, "_reset_timeout", None)
    _fail_unless(reset is not None and "duration" in inspect.signature(reset).parameters,
                 "SMTP._reset_timeout(duration)")
    _fail_unless(callable(getattr(SMTP, "_timeout_cb", None)), "SMTP._timeout_cb (the idle timer callback)")
    _fail_unless(callable(getattr(SMTP, "_set_post_data_state", None)), "SMTP._set_post_data_state")
    source = inspect.getsource(SMTP._reset_timeout)
    _fail_unless("_timeout_cb" in source, "the idle timer calling _timeout_cb")
    source = inspect.getsource(SMTP.__init__)
    _fail_unless("self._decode_data" in source and "self._handle_hooks" in source,
                 "SMTP.__init__ attributes _decode_data/_handle_hooks")
    for name in ("connection_made", "connection_lost", "eof_received", "push", "handle_exception",
                 "smtp_MAIL", "smtp_RCPT", "smtp_DATA", "check_helo_needed", "check_auth_needed"):
        _fail_unless(callable(getattr(SMTP, name, None)), f"SMTP.{name}")
    for name in ("smtp_MAIL", "smtp_RCPT", "smtp_DATA", "push", "handle_exception"):
        _fail_unless(name in SarabanSMTP.__dict__, f"(not aiosmtpd) SarabanSMTP no longer overrides {name}")


def test_commands_pushed_back_into_the_stream_are_read_next():
    # read_data gives pipelined commands back through StreamReader._buffer.
    async def check() -> bytes:
        reader = asyncio.StreamReader()
        _fail_unless(isinstance(getattr(reader, "_buffer", None), bytearray), "asyncio StreamReader._buffer")
        reader.feed_data(b"QUIT\r\n")
        reader._buffer[0:0] = b"NOOP\r\n"
        return await reader.readuntil(b"\r\n")

    assert asyncio.run(check()) == b"NOOP\r\n"


def test_the_unknown_command_warnings_client_noise_takes_are_worded_as_expected():
    # ClientNoise matches aiosmtpd's format strings; reworded, its warnings would reach
    # the log unthrottled again (session 43: 33 GB a day from one client).
    from gateway.intake.smtp_protocol import AIOSMTPD_TOO_MANY_UNKNOWN, AIOSMTPD_UNKNOWN_COMMAND

    source = inspect.getsource(SMTP._handle_client)
    for words in (AIOSMTPD_UNKNOWN_COMMAND, AIOSMTPD_TOO_MANY_UNKNOWN):
        _fail_unless(f'"{words}"' in source or f"'{words}'" in source, f"its warning {words!r}")


def test_the_command_loop_reads_lines_as_the_half_close_answer_expects():
    # SarabanSMTP answers a half-closed client's commands, then ends the session by a
    # cancellation from the reader's readuntil() at the end of file (_read_command),
    # which aiosmtpd's command loop takes as the connection's end and closes on.
    source = inspect.getsource(SMTP._handle_client)
    _fail_unless("await self._reader.readuntil()" in source, "its command loop's read (self._reader.readuntil())")
    _fail_unless("except asyncio.CancelledError:" in source and "self._writer.close()" in source,
                 "its command loop closing on a cancellation")
    _fail_unless("self._handler_coroutine.cancel()" in inspect.getsource(SMTP.eof_received),
                 "SMTP.eof_received (cancelling the session, which SarabanSMTP defers)")
    # Session 44: a client that ends its side in DATA (under TLS the connection is lost
    # with it) has its letter read to its end: SarabanSMTP puts off aiosmtpd's
    # connection_lost, which cancels the session, until the session's task has ended.
    _fail_unless("self._handler_coroutine.cancel()" in inspect.getsource(SMTP.connection_lost),
                 "SMTP.connection_lost (cancelling the session, which SarabanSMTP puts off in DATA)")
    _fail_unless(callable(getattr(asyncio.streams.FlowControlMixin, "connection_lost", None)),
                 "asyncio's FlowControlMixin.connection_lost (waking a paused writer)")
