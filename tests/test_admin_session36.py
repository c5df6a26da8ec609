"""A new sysadmin's red team (session 36): what a person is shown names the file and
what to do, never a Python traceback or class name.

1. A configuration file that is not UTF-8 (a Thai comment saved as Windows-874) made
   `check-config` print UnicodeDecodeError's traceback, and SIGHUP stopped the daemon.
2. `backup create` wrote its partial archive 0644 and left it behind on a failure.
3. `check-config` printed the password inside `storage.database_url`.
4. A missing TLS key was "no such file: None".
5. Ctrl-C, Ctrl-D or no terminal at a prompt printed a traceback.
6. `keys create --days -5` was a traceback, `--days 0` a key expired at once.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

from tests.cli_fork import run_gateway
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
THAI_COMMENT_CP874 = "# ตั้งค่าสารบรรณ\n".encode("cp874")


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and "Error:" not in text.replace("error:", ""), text


def test_check_config_names_a_file_that_is_not_utf8(tmp_path):
    config = write_config(tmp_path)
    config.write_bytes(THAI_COMMENT_CP874 + config.read_bytes())
    result = Daemon(config).cli("check-config", check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    no_traceback(result.stdout + result.stderr)
    assert f"{config}: not UTF-8 text (byte 2)" in result.stderr, result.stderr


def test_check_config_names_a_utf16_file(tmp_path):
    config = write_config(tmp_path)
    config.write_bytes(config.read_text(encoding="utf-8").encode("utf-16"))
    result = Daemon(config).cli("check-config", check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    no_traceback(result.stdout + result.stderr)
    assert f"{config}: not UTF-8 text" in result.stderr, result.stderr


def test_reload_of_a_cp874_config_keeps_the_daemon_running(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    try:
        good = d.config.read_bytes()
        d.config.write_bytes(THAI_COMMENT_CP874 + good)
        d.proc.send_signal(signal.SIGHUP)  # systemctl reload
        [failed] = d.wait_for(lambda: [e for e in d.events() if e.get("event") == "reload_failed"],
                              what="the reload refused")
        assert "not UTF-8 text (byte 2)" in failed["error"], failed
        assert d.proc.poll() is None, d.log_tail()
        d.send(letter(), LATKRABANG)
        d.config.write_bytes(good)  # for the register read here; the daemon is not told
        d.wait_for(lambda: d.register(), what="the letter registered")
        assert not any(e.get("event") in ("stopping", "stopped") for e in d.events())
    finally:
        d.stop()


# 2. `backup create` wrote its `.NAME.partial` with the umask's mode (0644: the register,
#    the vault, the keys) and left it behind on a failure that named no file (ENOSPC).

def _main_in_process(argv: list[str]) -> int:
    """The command line's main() in this process, and what it sets for the process put
    back after (its stdout/stderr wrappers, the logging it sets up): left, they broke
    the tests this worker ran next."""
    import logging

    import structlog

    from gateway.cli.main import main
    from gateway.service import process_util

    saved = sys.stdout, sys.stderr, structlog.get_config(), logging.getLogger().handlers[:], logging.getLogger().level
    # main() turns core dumps off for good (process_util.no_core_dumps: its hard limit
    # too, which this process may not raise again): done in the pytest worker, every
    # later daemon and command of the worker differed from the forked servers' start
    # (tests/cli_fork.py) and got a new interpreter, and test_cli_fork failed when it
    # ran after this file (full run E of session 50). Not what these tests are about.
    saved_no_core_dumps = process_util.no_core_dumps
    process_util.no_core_dumps = lambda: None
    try:
        return main(argv)
    finally:
        process_util.no_core_dumps = saved_no_core_dumps
        sys.stdout, sys.stderr = saved[0], saved[1]
        structlog.configure(**saved[2])
        logging.getLogger().handlers[:] = saved[3]
        logging.getLogger().setLevel(saved[4])


def test_a_backup_is_0600_while_written_and_gone_when_the_disk_is_full(tmp_path, monkeypatch, capsys):
    import errno
    import tarfile

    config = write_config(tmp_path)
    (tmp_path / "var" / "keys").mkdir(parents=True)
    (tmp_path / "var" / "keys" / "gateway.key").write_text("secret\n")
    target = tmp_path / "out" / "b.tar.gz"
    partial = target.with_name(f".{target.name}.partial")
    seen = []

    def full_disk(self, tarinfo, fileobj=None):
        seen.append(partial.stat().st_mode & 0o777)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "addfile", full_disk)
    assert _main_in_process(["--config", str(config), "backup", "create", "--files-only", str(target)]) == 1
    said = capsys.readouterr()
    assert seen == [0o600], [oct(m) for m in seen]
    assert not partial.exists() and not target.exists(), list(target.parent.iterdir())
    assert f"cannot write {target}: No space left on device" in said.err, said.err
    no_traceback(said.out + said.err)

    monkeypatch.undo()
    assert _main_in_process(["--config", str(config), "backup", "create", "--files-only", str(target)]) == 0
    assert target.stat().st_mode & 0o777 == 0o600
    assert not partial.exists()


# 3. check-config printed `storage.database_url` with its password (the "effective"
#    section masked it).

def test_check_config_shows_no_database_password(tmp_path):
    d = Daemon(write_config(tmp_path), env={"SARABAN_DATABASE_URL":
                                            "postgresql+psycopg://saraban:EnvSecret99@127.0.0.1:9/x"})
    result = d.cli("check-config", check=False)
    assert "EnvSecret99" not in result.stdout + result.stderr, result.stdout
    assert "postgresql+psycopg://saraban:********@127.0.0.1:9/x" in result.stdout, result.stdout
    no_traceback(result.stdout + result.stderr)


# 4. A missing TLS key was "no such file: None" (OpenSSL names no file).

def test_a_missing_tls_key_is_named(tmp_path):
    from tests.test_smtp_tls import write_certificate

    _, cert_path, _ = write_certificate(tmp_path, "a")
    missing = tmp_path / "gone.key"
    config = write_config(tmp_path / "gw", smtp_extra=f'tls_certificate = "{cert_path}"\ntls_key = "{missing}"\n')
    result = Daemon(config).cli("check-config", check=False)
    assert result.returncode != 0, result.stdout
    assert f"no such file: {missing}" in result.stderr, result.stderr
    assert "None" not in result.stderr, result.stderr
    no_traceback(result.stdout + result.stderr)


# 6. `keys create --days -5` was a traceback, `--days 0` a key expired the moment it was made.

def test_keys_create_needs_a_validity_of_a_day_or_more(tmp_path):
    d = Daemon(write_config(tmp_path))
    for days in ("-5", "0", "99999999999"):
        result = d.cli("keys", "create", "--cn", "Saraban Gateway", "--days", days, check=False)
        assert result.returncode == 2, (days, result.stdout, result.stderr)
        assert "--days" in result.stderr and "give 1 to 36500" in result.stderr, result.stderr
        no_traceback(result.stdout + result.stderr)
    assert not (tmp_path / "var" / "keys").exists() or not any((tmp_path / "var" / "keys").iterdir())
    assert d.cli("keys", "create", "--cn", "Saraban Gateway", "--days", "1").returncode == 0


# 5. Ctrl-C, Ctrl-D or no terminal at a prompt printed KeyboardInterrupt's or EOFError's
#    traceback; `users passwd nosuchuser` asked the password twice before refusing.

def _gateway(config, *args: str, stdin=subprocess.DEVNULL, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), *args], cwd=REPO,
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            **kwargs)


def _with_alice(tmp_path):
    config = write_config(tmp_path)
    # The account the prompts below are about (forked from the preloaded interpreter,
    # tests/cli_fork.py: the prompts themselves run in an interpreter of their own).
    added = run_gateway(["--config", str(config), "users", "add", "alice", "--role", "admin", "--password-stdin"],
                        input="Correct-Horse-42-battery\n")
    assert added.returncode == 0, added.stderr
    return config


def test_a_password_prompt_without_a_terminal_says_what_to_do(tmp_path):
    config = _with_alice(tmp_path)
    proc = _gateway(config, "users", "passwd", "alice")  # stdin </dev/null, no terminal
    out, err = (b.decode() for b in proc.communicate(timeout=120))
    assert proc.returncode == 2, (out, err)
    assert "no password given" in err and "--password-stdin" in err, err
    assert "Traceback" not in err and "EOFError" not in err and "GetPassWarning" not in err, err

    proc = _gateway(config, "users", "passwd", "nosuchuser")
    out, err = (b.decode() for b in proc.communicate(timeout=120))
    assert proc.returncode == 1, (out, err)
    assert 'no account "nosuchuser"' in err and "password:" not in err, err


def test_ctrl_c_at_a_prompt_says_interrupted(tmp_path):
    config = _with_alice(tmp_path)
    # As from a terminal: a pytest-xdist worker ignores SIGINT, and a child started with
    # it ignored never sees the interrupt (Python installs its handler only where it is not).
    proc = _gateway(config, "users", "passwd", "alice", stdin=subprocess.PIPE,
                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    said = b""
    deadline = time.monotonic() + 60
    while b"password:" not in said and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if ready:
            said += os.read(proc.stderr.fileno(), 4096)
    assert b"password:" in said, said
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = (said + err).decode()
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err and "KeyboardInterrupt" not in err, err


# 7. `[gateway] timezone` took any value and did nothing (the register keeps Bangkok
# time): a sysadmin who wrote `Asia/Bangkokk`, or their own zone, was told nothing.

def test_a_timezone_other_than_bangkok_is_refused_by_name(tmp_path):
    config = write_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[gateway]\n", '[gateway]\ntimezone = "Asia/Bangkokk"\n', 1)
                      if "[gateway]\n" in text else text + '\n[gateway]\ntimezone = "Asia/Bangkokk"\n', encoding="utf-8")
    result = Daemon(config).cli("check-config", check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    no_traceback(result.stdout + result.stderr)
    assert "Asia/Bangkokk" in result.stderr and "Bangkok time" in result.stderr, result.stderr
    config.write_text(text.replace("[gateway]\n", '[gateway]\ntimezone = "Asia/Bangkok"\n', 1)
                      if "[gateway]\n" in text else text + '\n[gateway]\ntimezone = "Asia/Bangkok"\n', encoding="utf-8")
    assert Daemon(config).cli("check-config", check=False).returncode == 0


# 8. Two units of one Thai name in the directory: `register list --unit <that name>` said
# the unit was not in the directory at all.

def test_a_name_two_units_share_asks_for_the_address():
    from types import SimpleNamespace

    import pytest as _pytest

    from gateway.tools.common import ToolError, directory_unit

    units = [SimpleNamespace(address=a, name_th="ชื่อซ้ำ", name_en="Twin") for a in ("saraban.a", "saraban.b")]
    directory = SimpleNamespace(units=units, source="units.toml", lookup=lambda name: None)
    with _pytest.raises(ToolError) as raised:
        directory_unit(directory, "ชื่อซ้ำ")
    assert "2 units are named" in str(raised.value) and "saraban.a, saraban.b" in str(raised.value)
    assert "unknown" not in str(raised.value)


# 9. A read-only command run from another folder, with a relative data_dir, opened an
# empty database there and said "run db upgrade" without saying which database.

def test_a_database_not_set_up_is_named_by_its_full_path(tmp_path, monkeypatch):
    import pytest as _pytest
    from sqlalchemy import create_engine

    from storage.schema_version import SchemaBehind, require_current

    monkeypatch.chdir(tmp_path)
    engine = create_engine("sqlite:///var-elsewhere.db")
    with _pytest.raises(SchemaBehind) as raised:
        require_current(engine)
    engine.dispose()
    assert f"the database {tmp_path / 'var-elsewhere.db'}" in str(raised.value)
    assert "absolute path" in str(raised.value)


# 10. `register export -o` with a folder said "Is a directory: .../.adir.tmp" and left
# the hidden file of register rows behind.

def test_export_to_a_folder_is_refused_before_any_file_is_written(tmp_path):
    d = Daemon(write_config(tmp_path / "gw"))
    folder = tmp_path / "adir"
    folder.mkdir()
    result = d.cli("register", "export", "--unit", "saraban.latkrabang", "-o", str(folder), check=False)
    assert result.returncode != 0
    no_traceback(result.stdout + result.stderr)
    assert f"cannot write {folder}: it is a folder" in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp")) and list(folder.iterdir()) == []


# 11. A database a newer gateway wrote (a package rolled back, a newer installation's
# backup restored): every command said "run db upgrade", which printed Alembic's traceback.

def test_a_database_from_a_newer_gateway_says_so_everywhere(tmp_path):
    import sqlite3

    d = Daemon(write_config(tmp_path / "gw"))
    assert d.cli("db", "upgrade", check=False).returncode == 0
    [db] = list(d.data_dir.glob("*.db"))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    for args in (("status",), ("register", "list"), ("db", "upgrade")):
        result = d.cli(*args, check=False)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        no_traceback(result.stdout + result.stderr)
        assert "written by a newer saraban-gateway (schema 0099_future" in result.stderr, (args, result.stderr)
        assert "run `saraban-gateway db upgrade`" not in result.stderr


# 12. `status` did not say whether the daemon ran: a stopped daemon's queue looked like a
# working one's.

def test_status_says_whether_the_daemon_runs(tmp_path):
    d = Daemon(write_config(tmp_path / "gw"))
    d.start()
    try:
        running = d.cli("status").stdout
        assert f"daemon     running, pid {d.proc.pid}" in running, running
        assert "no saraban-gateway is running" not in running
    finally:
        d.stop()
    stopped = d.cli("status").stdout
    assert "daemon     not running" in stopped
    assert f"WARNING    no saraban-gateway is running on {d.data_dir}" in stopped, stopped
