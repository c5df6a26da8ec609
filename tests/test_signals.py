"""SIGTERM and SIGHUP on the real daemon, as systemd sends them (`systemctl stop|reload`)."""
from __future__ import annotations

import signal
import smtplib
import threading

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.paths import REPO

UNITS = (REPO / "config" / "units.toml").read_text(encoding="utf-8")
NEW_UNIT = """
[[unit]]
address = "saraban.newoffice"
name_th = "สำนักงานใหม่"
name_en = "New Office"
parent = ""
folder = "newoffice"
"""
EXIT_BOUND = 60  # seconds: drain_timeout + runner_grace of the config, with room


def _daemon_with_own_units(tmp_path, **kwargs) -> tuple[Daemon, object]:
    units = tmp_path / "units.toml"
    units.write_text(UNITS, encoding="utf-8")
    config = write_config(tmp_path, **kwargs)
    text = config.read_text(encoding="utf-8").replace(str(REPO / "config" / "units.toml"), str(units))
    config.write_text(text, encoding="utf-8")
    return Daemon(config), units


def _wait_event(daemon: Daemon, name: str, after: int) -> dict:
    def seen():
        found = [e for e in daemon.events()[after:] if e.get("event") == name]
        return found[0] if found else None
    return daemon.wait_for(seen, what=f"log event {name}")


def test_sigterm_during_a_burst_loses_no_accepted_letter(tmp_path):
    daemon = Daemon(write_config(tmp_path, workers=2)).start()
    accepted: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    go_on = threading.Event()
    go_on.set()

    def sender():
        while go_on.is_set():
            try:
                queue_id = daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
            except (OSError, smtplib.SMTPException, AssertionError) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                return  # the gateway is going away; a real client would retry later
            with lock:
                accepted.append(queue_id)
                if len(accepted) >= 12:
                    enough.set()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), daemon.log_tail()
    daemon.proc.send_signal(signal.SIGTERM)  # mid-burst: the senders are still sending
    code = daemon.proc.wait(EXIT_BOUND)
    go_on.clear()
    for thread in threads:
        thread.join(60)
    assert code == 0, daemon.log_tail()
    events = [e["event"] for e in daemon.events()]
    assert "stopping" in events and "stopped" in events
    assert "runner_killed" not in events  # every runner finished its letter in its grace

    # Restart: every letter that got its 250 is in the register, each once, gapless.
    daemon.start()
    try:
        daemon.wait_idle()
        entries = daemon.register("--unit", "saraban.latkrabang")
        registered = [e["queue_id"] for e in entries]
        assert set(accepted) <= set(registered)
        assert len(registered) == len(set(registered))
        assert sorted(e["number"] for e in entries) == list(range(1, len(entries) + 1))
    finally:
        daemon.stop()


def test_sighup_keeps_open_sessions_and_accepts_a_new_unit(tmp_path):
    daemon, units = _daemon_with_own_units(tmp_path)
    daemon.start()
    try:
        client = smtplib.SMTP("127.0.0.1", daemon.port, timeout=30)
        client.ehlo("test.example")
        assert client.rcpt  # session open before the reload
        code, _ = client.mail("saraban.dds@bangkok.go.th")
        assert code == 250
        code, _ = client.rcpt("saraban.newoffice@bangkok.go.th")
        assert code == 550  # not in the directory yet
        client.rset()

        units.write_text(UNITS + NEW_UNIT, encoding="utf-8")
        mark = len(daemon.events())
        daemon.proc.send_signal(signal.SIGHUP)
        reloaded = _wait_event(daemon, "reloaded", mark)
        [started] = [e for e in daemon.events() if e.get("event") == "smtp_listening"]
        assert reloaded["units"] == started["units"] + 1

        # The same connection, opened before the HUP, goes on and sees the new unit.
        assert client.mail("saraban.dds@bangkok.go.th")[0] == 250
        assert client.rcpt("saraban.newoffice@bangkok.go.th")[0] == 250
        code, text = client.data(letter(to="saraban.newoffice@bangkok.go.th"))
        assert code == 250, text
        client.quit()
        # And a new connection too.
        daemon.send(letter(to="saraban.newoffice@bangkok.go.th"), "saraban.newoffice@bangkok.go.th")

        daemon.wait_idle()
        entries = daemon.register("--unit", "saraban.newoffice")
        assert [e["number"] for e in entries] == [1, 2]  # registered, not quarantined
        assert len(daemon.maildir_files("newoffice")) == 2
    finally:
        daemon.stop()


def test_bad_reload_keeps_the_old_configuration_and_says_why(tmp_path):
    daemon, units = _daemon_with_own_units(tmp_path)
    daemon.start()
    try:
        # A broken unit directory (an editor saved half a file).
        units.write_text(UNITS + "\n[[unit]]\naddress = \"saraban.newoffice\n", encoding="utf-8")
        mark = len(daemon.events())
        daemon.proc.send_signal(signal.SIGHUP)
        failed = _wait_event(daemon, "reload_failed", mark)
        assert str(units) in failed["error"] and "TOML" in failed["error"]
        assert failed["kept"] == "previous configuration"

        # A configuration value out of range names the key.
        units.write_text(UNITS + NEW_UNIT, encoding="utf-8")
        config_text = daemon.config.read_text(encoding="utf-8")
        daemon.config.write_text(config_text.replace("workers = 1", "workers = 99"), encoding="utf-8")
        mark = len(daemon.events())
        daemon.proc.send_signal(signal.SIGHUP)
        failed = _wait_event(daemon, "reload_failed", mark)
        assert "pipeline.workers" in failed["error"]
        daemon.config.write_text(config_text, encoding="utf-8")  # the CLI below reads it too

        # Still serving, with the old directory: known units yes, the new one not yet.
        assert daemon.proc.poll() is None
        with daemon.smtp() as client:
            client.ehlo("test.example")
            client.mail("saraban.dds@bangkok.go.th")
            assert client.rcpt("saraban.newoffice@bangkok.go.th")[0] == 550
        daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
        daemon.wait_idle()
        assert [e["number"] for e in daemon.register("--unit", "saraban.latkrabang")] == [1]

        # Reloaded with good files, the new unit is served.
        mark = len(daemon.events())
        daemon.proc.send_signal(signal.SIGHUP)
        _wait_event(daemon, "reloaded", mark)
        daemon.send(letter(to="saraban.newoffice@bangkok.go.th"), "saraban.newoffice@bangkok.go.th")
    finally:
        daemon.stop()


def test_reload_names_keys_that_need_a_restart(tmp_path):
    daemon, _ = _daemon_with_own_units(tmp_path)
    daemon.start()
    try:
        text = daemon.config.read_text(encoding="utf-8")
        assert "\nport = 0\n" in text  # [smtp]'s: the kernel chose daemon.port
        daemon.config.write_text(text.replace("\nport = 0\n", "\nport = 1\n", 1), encoding="utf-8")
        mark = len(daemon.events())
        daemon.proc.send_signal(signal.SIGHUP)
        warning = _wait_event(daemon, "reload_needs_restart", mark)
        assert warning["keys"] == ["smtp.port"]
        _wait_event(daemon, "reloaded", mark)
        daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")  # still on the old port
    finally:
        daemon.stop()
