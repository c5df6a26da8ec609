"""The configuration a sysadmin writes: validated, overridable, printable."""
from __future__ import annotations

import json

import pytest

from gateway.config.settings import ConfigError, load_settings
from tests.cli_fork import run_gateway
from tests.paths import REPO

EXAMPLE = REPO / "config" / "gateway.example.toml"


def test_example_configuration_is_valid_and_uses_embedded_defaults():
    settings = load_settings(EXAMPLE, environ={})
    assert settings.smtp.port == 2525 and settings.smtp.host == "127.0.0.1"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("var/saraban.db")
    assert settings.directory_path == (REPO / "config" / "units.toml").resolve()
    assert settings.smtp.max_message_size == 50 * 1024 * 1024


def test_environment_overrides_the_file():
    env = {"SARABAN_SMTP_PORT": "2626", "SARABAN_SMTP_HOST": "0.0.0.0", "SARABAN_DATA_DIR": "/srv/saraban",
           "SARABAN_DATABASE_URL": "postgresql+psycopg://gw:pw@db/saraban"}
    settings = load_settings(EXAMPLE, environ=env)
    assert (settings.smtp.host, settings.smtp.port) == ("0.0.0.0", 2626)
    assert str(settings.data_dir) == "/srv/saraban"
    assert settings.database_url == "postgresql+psycopg://gw:pw@db/saraban"
    assert settings.effective()["effective"]["database_url"] == "postgresql+psycopg://gw:********@db/saraban"


def test_the_data_directory_is_its_real_path_and_a_relative_one_follows_the_working_directory(tmp_path,
                                                                                               monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    linked = load_settings(EXAMPLE, environ={"SARABAN_DATA_DIR": str(tmp_path / "link")})
    assert linked.data_dir == real.resolve()
    assert linked.spool_dir == real.resolve() / "spool" and linked.vault_dir == real.resolve() / "vault"
    relative = load_settings(EXAMPLE, environ={"SARABAN_DATA_DIR": "var-rel"})
    for where in (tmp_path / "a", tmp_path / "b"):
        where.mkdir()
        monkeypatch.chdir(where)
        assert relative.data_dir == where.resolve() / "var-rel"


def test_saraban_config_picks_the_file(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text("[smtp]\nport = 2727\n")
    assert load_settings(None, environ={"SARABAN_CONFIG": str(other)}).smtp.port == 2727


@pytest.mark.parametrize("content, key, words", [
    ("[smtp]\nport = 70000\n", "smtp.port", "less than or equal to 65535"),
    ("[smtp]\nprot = 25\n", "smtp.prot", "unknown key"),
    ("[pipeline]\nworkers = 'two'\n", "pipeline.workers", "valid integer"),
    # Batches of no letter would never register one; 100 000 letters in one transaction
    # would hold the register's lock for minutes (gateway/pipeline/process.py).
    ("[pipeline]\nbatch = 0\n", "pipeline.batch", "greater than or equal to 1"),
    ("[delivery]\nbatch = -16\n", "delivery.batch", "greater than or equal to 1"),
    ("[pipeline]\nbatch = 100000\n", "pipeline.batch", "less than or equal to 256"),
    # The desk's argon2 checks (session 44): none at once would refuse every sign-in,
    # and a wait of 0 would answer every sign-in behind another "busy".
    ("[web]\npassword_checks_at_once = 0\n", "web.password_checks_at_once", "greater than or equal to 1"),
    ("[web]\npassword_check_wait_seconds = 0\n", "web.password_check_wait_seconds", "greater than 0"),
    ("[web]\npassword_check_wait_seconds = 3600\n", "web.password_check_wait_seconds",
     "less than or equal to 300"),
    ('[register.start_numbers]\n"saraban.latkrabang" = { 69 = 5 }\n', "register.start_numbers", "Buddhist-era"),
    # An SMTP password sent outside TLS (session 20): smtplib logs in over a plain session
    # whenever the server offers AUTH there.
    ('[notices]\nsmarthost = "mail.bangkok.go.th:587"\nstarttls = false\nusername = "saraban"\npassword = "x"\n',
     "notices", "the password would cross the network to mail.bangkok.go.th in plain text"),
    ('[delivery.smtp.relay]\nhost = "relay.bangkok.go.th"\nstarttls = false\nusername = "saraban"\npassword = "x"\n',
     "delivery", "set starttls = true"),
    # STARTTLS on intake needs both files
    ('[smtp]\ntls_certificate = "a.pem"\n', "smtp", "set both tls_certificate and tls_key"),
    ('[smtp]\nrequire_tls = true\n', "smtp", "require_tls needs tls_certificate and tls_key"),
])
def test_errors_name_the_file_the_key_and_the_problem(tmp_path, content, key, words):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    text = str(error.value)
    assert str(path) in text and key in text and words in text


def test_an_smtp_password_may_go_in_plain_only_to_this_host(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('[notices]\nsmarthost = "127.0.0.1:2526"\nusername = "saraban"\npassword = "x"\n'
                    '[delivery.smtp.relay]\nhost = "relay.bangkok.go.th"\nstarttls = true\nusername = "s"\n'
                    '[delivery.smtp.local]\nhost = "localhost"\nusername = "s"\n')
    settings = load_settings(path, environ={})
    assert settings.notices.username == "saraban" and settings.delivery.smtp["relay"].starttls
    encrypted = tmp_path / "tls.toml"
    encrypted.write_text('[notices]\nsmarthost = "mail.bangkok.go.th:587"\nstarttls = true\nusername = "s"\n')
    assert load_settings(encrypted, environ={}).notices.uses_starttls


def test_starttls_is_the_default_to_a_server_on_another_host(tmp_path):
    """A notice carries a receive number and a subject, a forwarded copy the letter: sent
    to another host they go inside TLS unless `starttls = false` says otherwise."""
    path = tmp_path / "default.toml"
    path.write_text('[notices]\nsmarthost = "mail.bangkok.go.th:587"\nusername = "s"\n'
                    '[delivery.smtp.relay]\nhost = "relay.bangkok.go.th"\n'
                    '[delivery.smtp.local]\nhost = "127.0.0.1"\n'
                    '[delivery.smtp.plain]\nhost = "relay.bangkok.go.th"\nstarttls = false\n')
    settings = load_settings(path, environ={})
    assert settings.notices.uses_starttls
    relays = settings.delivery.smtp
    assert relays["relay"].uses_starttls and not relays["local"].uses_starttls and not relays["plain"].uses_starttls
    loopback = load_settings(EXAMPLE, environ={"SARABAN_SMARTHOST": "127.0.0.1:2526"})
    assert not loopback.notices.uses_starttls


def test_broken_toml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[smtp\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def _cli(*args, env=None):
    import os
    return run_gateway(args, env=dict(os.environ, **(env or {})), timeout=60)


def test_check_config_prints_the_effective_configuration():
    result = _cli("--config", str(EXAMPLE), "check-config", env={"SARABAN_SMTP_PORT": "2600"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["smtp"]["port"] == 2600
    assert data["register"]["general_book"] == "general"
    assert data["effective"]["units"] >= 100
    assert "configuration OK" in result.stderr


def test_check_config_fails_with_a_readable_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nport = -1\n")
    result = _cli("--config", str(bad), "check-config")
    assert result.returncode == 2
    assert "smtp.port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("cores", "runners", "threads"), [(None, 1, 1), (1, 1, 1), (2, 1, 2), (3, 1, 3),
                                                           (4, 2, 4), (8, 4, 4), (64, 4, 4)])
def test_runners_and_delivery_threads_by_default_follow_the_cores(monkeypatch, tmp_path, cores, runners, threads):
    """One pipeline runner per two cores, one delivery thread per core, each at most 4
    (docs/performance.md, session 23: on two cores a second runner filed no more letters
    and held ~95 MiB more); a number written in the file is taken as it is."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    settings = load_settings(EXAMPLE, environ={})
    assert (settings.pipeline.runners, settings.delivery.threads) == (runners, threads)
    written = tmp_path / "gateway.toml"
    written.write_text("[pipeline]\nworkers = 3\n[delivery]\nworkers = 1\n", encoding="utf-8")
    settings = load_settings(written, environ={})
    assert (settings.pipeline.runners, settings.delivery.threads) == (3, 1)
