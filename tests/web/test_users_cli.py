"""`saraban-gateway users add|list|disable|passwd`, as an administrator types them, and
what each change means at the desk's sign-in (gateway/web/auth.py, real SQLite)."""
from __future__ import annotations

import json
import subprocess

import pytest

from gateway.config.settings import load_settings
from gateway.web.auth import Authenticator, SignInRefused
from gateway.units.directory import load_directory
from storage.db import Database
from tests.cli_fork import run_gateway
from tests.daemon import write_config
from tests.web.conftest import PASSWORD


def users(config, *args, password: str | None = None) -> subprocess.CompletedProcess:
    return run_gateway(["--config", str(config), "users", *args],
                       input=(password + "\n") if password is not None else None)


def sign_in(config, username: str, password: str = PASSWORD) -> str:
    settings = load_settings(config)
    db = Database(settings.database_url)
    try:
        auth = Authenticator(db, settings.web, load_directory(settings.directory_path))
        return auth.sign_in(username, password, "127.0.0.1", "th")
    finally:
        db.dispose()


def test_add_list_disable_and_new_password(tmp_path):
    config = write_config(tmp_path)
    short = users(config, "add", "somchai", "--role", "clerk", "--unit", "saraban.latkrabang",
                  "--password-stdin", password="short")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr and "Traceback" not in short.stderr
    no_unit = users(config, "add", "somchai", "--role", "clerk", "--password-stdin", password=PASSWORD)
    assert no_unit.returncode == 1 and "at least one unit" in no_unit.stderr
    unknown = users(config, "add", "somchai", "--role", "clerk", "--unit", "saraban.nowhere",
                    "--password-stdin", password=PASSWORD)
    assert unknown.returncode == 1 and "saraban.nowhere" in unknown.stderr
    added = users(config, "add", "Somchai", "--role", "clerk", "--unit", "saraban.latkrabang@bangkok.go.th",
                  "--name", "สมชาย ใจดี", "--password-stdin", password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert users(config, "add", "somchai", "--role", "auditor", "--password-stdin",
                 password=PASSWORD).returncode == 1  # the name is taken (names are lower case)
    [row] = json.loads(users(config, "list", "--json").stdout)
    assert (row["username"], row["role"], row["units"], row["display_name"], row["disabled"]) == \
        ("somchai", "clerk", ["saraban.latkrabang"], "สมชาย ใจดี", False)
    assert "สมชาย ใจดี" in users(config, "list").stdout
    assert sign_in(config, "somchai")
    with pytest.raises(SignInRefused):
        sign_in(config, "somchai", "not the password")

    assert users(config, "disable", "somchai").returncode == 0
    with pytest.raises(SignInRefused) as refused:
        sign_in(config, "somchai")
    assert refused.value.key == "bad_credentials"  # a disabled account says no more than that
    assert json.loads(users(config, "list", "--json").stdout)[0]["disabled"] is True

    changed = users(config, "passwd", "somchai", "--password-stdin", password="อีกรหัสหนึ่ง new one")
    assert changed.returncode == 0 and "unlocked" in changed.stdout
    missing = users(config, "passwd", "nobody", "--password-stdin", password=PASSWORD)
    assert missing.returncode == 1 and 'no account "nobody"' in missing.stderr and "'nobody'" not in missing.stderr
