"""`check-config` says so when the daemon could not listen where it is told to (session
57): a port another program has (Postfix's own smtpd on 25 is the usual one), a host
that is no address of this machine. The start stops there (`smtp_bind_failed`), and
check-config said "configuration OK". The daemon's own ports, while it runs, are not a
problem."""
from __future__ import annotations

import socket
from pathlib import Path

from tests.cli_fork import run_gateway
from tests.daemon import Daemon, free_port, write_config


def _check(config: Path) -> tuple[int, str]:
    result = run_gateway(["--config", str(config), "check-config"])
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return result.returncode, result.stderr


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_a_port_another_program_listens_on_is_refused(tmp_path):
    with _listening() as taken:
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "smtp", port=port)
        code, said = _check(config)
        assert code == 2, said
        assert (f"saraban-gateway: {config}: [smtp] port {port} on 127.0.0.1 cannot be listened on: another "
                f"program listens there (`ss -ltnp 'sport = :{port}'` says which") in said, said
        assert "configuration OK" not in said
        desk = write_config(tmp_path / "web", extra=f"[web]\nenabled = true\nport = {port}\n")
        code, said = _check(desk)
        assert code == 2 and f"[web] port {port} on 127.0.0.1 cannot be listened on" in said, said
        assert "[smtp]" not in said  # its port 0: the kernel's choice, always free
    code, said = _check(config)  # the other program gone
    assert code == 0 and "configuration OK" in said, said


def test_a_host_that_is_not_this_machines_is_refused(tmp_path):
    config = write_config(tmp_path, port=free_port(), host="192.0.2.25")
    code, said = _check(config)
    assert code == 2, said
    assert "[smtp] port" in said and "on 192.0.2.25 cannot be listened on: that is not an address of this machine" \
        in said, said


def test_the_running_daemons_own_port_is_no_problem(tmp_path):
    config = write_config(tmp_path, port=free_port())
    d = Daemon(config).start()
    try:
        code, said = _check(config)
    finally:
        d.stop()
    assert code == 0 and "configuration OK" in said, said
