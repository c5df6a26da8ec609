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

import pytest

from gateway.config.settings import load_settings
from gateway.service.reload import ReloadError, load_new
from tests.daemon import Daemon, write_config
from tests.letters import letter


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
        daemon.proc.send_signal(signal.SIGHUP)  # this daemon's first reload: its first such events
        warnings = [e for e in daemon.wait_for_event("reload_needs_restart") if e.get("event") == "reload_needs_restart"]
        assert [w["keys"] for w in warnings] == [["web.max_failed_logins"]]
        daemon.wait_for_event("reloaded")
        with urllib.request.urlopen(desk, timeout=30) as answer:  # the same desk, on the same port
            assert answer.status == 200
        daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")  # and the rest reloaded as before
    finally:
        daemon.stop()


LDAP = """[web.ldap]
url = "{url}"
base_dn = "ou=people,dc=bma,dc=test"
bind_password = "service-secret"
"""


def test_a_changed_ldap_directory_is_named_too_and_never_with_its_password(tmp_path):
    """The same for a nested table of [web] (its LDAP directory, a password in it): the
    key is named, no value is, and the desk's directory stays the one it started with."""
    config = write_config(tmp_path, extra="[web]\nenabled = true\n" + LDAP.format(url="ldap://127.0.0.1:389"))
    current = load_settings(config, environ={})
    config.write_text(config.read_text(encoding="utf-8").replace(
        "ldap://127.0.0.1:389", "ldap://localhost:1389").replace("service-secret", "other-secret"), encoding="utf-8")
    reloaded = load_new(current)
    assert reloaded.needs_restart == ["web.ldap"]
    assert reloaded.settings.web.ldap.url == "ldap://127.0.0.1:389"
    assert reloaded.settings.web.ldap.bind_password == "service-secret"
    assert "secret" not in repr(reloaded.needs_restart)


def test_a_web_section_that_would_be_refused_at_start_is_still_refused_by_a_reload(tmp_path):
    """Kept at start-up is not unchecked: a plain ldap:// directory on another machine
    (every password in clear, docs/console.md) fails the reload as it fails a start."""
    config = write_config(tmp_path, extra="[web]\nenabled = true\n" + LDAP.format(url="ldap://127.0.0.1:389"))
    current = load_settings(config, environ={})
    config.write_text(config.read_text(encoding="utf-8").replace("ldap://127.0.0.1:389", "ldap://dc1.bma.local"),
                      encoding="utf-8")
    with pytest.raises(ReloadError, match="clear"):
        load_new(current)
