"""The web desk under test: the real daemon with `[web] enabled = true`, notices going
to an SMTP sink, accounts made with `saraban-gateway users add`, and Debian's Chromium
driven by Playwright (no browser download: the system binary, headless)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_fork import run_gateway
from tests.daemon import Daemon, free_port, write_config
from tests.notices.sink import Sink

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "ถูกต้อง correct horse"  # Thai and spaces: passwords are any text of 12+ characters


@dataclass
class Desk:
    daemon: Daemon
    sink: Sink
    url: str

    def db(self, sql: str, *params) -> list[tuple]:
        from tests.classified.helpers import db_rows

        return db_rows(self.daemon, sql, *params)


def add_users(config: Path, *users: tuple) -> None:
    """(username, role, unit...) accounts, written straight through storage/users.py
    (one argon2 hash each, no process per account; test_users_cli.py tests the command)."""
    from gateway.config.settings import load_settings
    from gateway.web.auth import hash_password
    from storage.db import Database
    from storage.users import add_user as store_user

    db = Database(load_settings(config).database_url)
    try:
        db.create_schema()
        password_hash = hash_password(PASSWORD)
        with db.session() as session:
            for username, role, *units in users:
                store_user(session, username, role, list(units), password_hash)
    finally:
        db.dispose()


def add_user(config: Path, username: str, role: str, *units: str, password: str = PASSWORD,
             ldap: bool = False) -> None:
    """`users add`; with ldap, an account that signs in with the directory's password."""
    args = ["--config", str(config), "users", "add", username,
            "--role", role, "--ldap" if ldap else "--password-stdin"]
    for unit in units:
        args += ["--unit", unit]
    result = run_gateway(args, input=password + "\n", timeout=60)
    assert result.returncode == 0, result.stderr


def desk_config(tmp: Path, sink: Sink, web_port: int, extra: str = "") -> Path:
    return write_config(tmp, extra=(f'[notices]\nsmarthost = "{sink.address}"\n'
                                    f"[web]\nenabled = true\nport = {web_port}\n{extra}"))


@contextmanager
def running_desk(tmp: Path, users: tuple[tuple, ...], letters: tuple[tuple[bytes, str], ...],
                 registrars: tuple[tuple[str, str], ...] = (("saraban.latkrabang", "lat registrar"),),
                 extra: str = "") -> Iterator[Desk]:
    """A daemon with the web desk on and a notice sink, the gateway's key, the units'
    secret registrars (unit, name), the desk's `users` (add_users), and `letters` (raw,
    to) sent and dealt with before the tests look."""
    from tests.classified.helpers import add_registrar, make_gateway_key

    sink = Sink(free_port()).start()
    config = desk_config(tmp, sink, 0, extra)  # the desk's port as bound (Daemon.web_port)
    daemon = Daemon(config)
    try:
        make_gateway_key(daemon)
        for unit, name in registrars:
            add_registrar(daemon, unit, name)
        add_users(config, *users)
        daemon.start()
        for raw, to in letters:
            daemon.send(raw, to)
        daemon.wait_idle(120)
        yield Desk(daemon, sink, f"http://127.0.0.1:{daemon.web_port}")
    finally:
        daemon.stop()
        sink.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def shot(request, tmp_path):
    """page -> a screenshot named after the test, in the test's own tmp directory."""
    def take(page, name: str | None = None) -> Path:
        path = tmp_path / f"{name or request.node.name}.png"
        page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 1000
        return path
    return take
