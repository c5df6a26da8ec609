"""SIGHUP and the web desk's [web] section: the desk is built once, at start, from the
[web] it was started with (its address, its sign-in limits, its LDAP). A reload took
the new [web] into the daemon's settings without a word, while the desk went on with
the old values: a sysadmin who lowered max_failed_logins and reloaded believed the new
limit was in force. [web] is now read at start-up only, as [smtp] and [http] are: the
reload names its changed keys in `reload_needs_restart` and every process keeps the
old values until a restart (docs/operations.md, "Reload")."""
from __future__ import annotations

import signal
import urllib.request

from tests.daemon import Daemon, write_config
from tests.letters import letter


def _event_after(daemon: Daemon, name: str, mark: int) -> dict:
    def seen():
        found = [e for e in daemon.events()[mark:] if e.get("event") == name]
        return found[0] if found else None
    return daemon.wait_for(seen, 60, what=f"log event {name}")


def test_a_changed_web_section_is_named_as_needing_a_restart_and_the_desk_keeps_serving(tmp_path):
    config = write_config(tmp_path, extra="[web]\nenabled = true\nport = 0\nmax_failed_logins = 5\n")
    daemon = Daemon(config).start()
    try:
        desk = f"http://127.0.0.1:{daemon.web_port}/login"
        with urllib.request.urlopen(desk, timeout=30) as answer:
            assert answer.status == 200
        text = config.read_text(encoding="utf-8")
        assert "max_failed_logins = 5\n" in text
        config.write_text(text.replace("max_failed_logins = 5\n", "max_failed_logins = 2\n"), encoding="utf-8")
        mark = len(daemon.events())
        daemon.proc.send_signal(signal.SIGHUP)
        warning = _event_after(daemon, "reload_needs_restart", mark)
        assert warning["keys"] == ["web.max_failed_logins"]
        _event_after(daemon, "reloaded", mark)
        with urllib.request.urlopen(desk, timeout=30) as answer:  # the same desk, on the same port
            assert answer.status == 200
        daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")  # and the rest reloaded as before
    finally:
        daemon.stop()
