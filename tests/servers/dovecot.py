"""A real Dovecot IMAP server for the tests, in a temporary directory with its own config.

No system configuration is read: the server gets a config file of its own, listens on
free loopback ports (IMAP in plaintext, IMAPS with a self-signed certificate), checks
passwords against passwd-files of test users (one file per user, so users added while
it runs are known at once) and keeps their mail in Maildirs under the
temporary directory. Everything (master, login, auth, imap processes) runs as one
unprivileged account, so the same setup works as root (CI) and as a developer.
"""
from __future__ import annotations

import grp
import imaplib
import os
import re
import socket
import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import structlog

from tests.servers.common import (
    Account,
    ServerUnavailable,
    chown_tree,
    forget_at_exit,
    free_port,
    log_tail,
    make_workdir,
    remove_tree,
    run_as,
    service_account,
    spawn_as,
    stop_at_exit,
    stop_group,
    wait_until,
)
from tests.servers.tls import client_context, write_self_signed

log = structlog.get_logger(__name__)

DOVECOT = os.environ.get("SARABAN_DOVECOT", "/usr/sbin/dovecot")
DOVEADM = os.environ.get("SARABAN_DOVEADM", "/usr/bin/doveadm")
DEBIAN_PACKAGE = "dovecot-imapd"

DEFAULT_USERS = {
    "saraban.latkrabang": "latkrabang-secret-1",
    "saraban.dindaeng.admin": "dindaeng-secret-2",
    "central": "central-secret-3",
}

# A user name and a password must fit in one passwd-file line.
# It is also a file name, so it may not start with a dot.
_SAFE_USER = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*$")

CONFIG = """\
# Written by tests/servers/dovecot.py; no system configuration is included.
protocols = imap
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
instance_name = saraban-test-{port}
log_path = {root}/dovecot.log
auth_verbose = yes
auth_debug = no
mail_debug = no

# One unprivileged account for every process (Dovecot's documented non-root mode).
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}

ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
ssl_min_protocol = TLSv1.2
# Plaintext logins are allowed because the plaintext port is on loopback only.
disable_plaintext_auth = no
auth_mechanisms = plain login

mail_location = maildir:~/Maildir
# "/" between folder levels, as most servers announce it (Saraban/Registered); a test
# may ask for Dovecot's own Maildir default "." (and a prefix such as "INBOX.").
namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
}}
mail_fsync = never
# IDLE is in the default capability; check the mailbox often in case inotify is missing.
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = 10 secs
login_greeting = saraban test dovecot ready.
# Failed logins answer at once (the default waits 2 s to slow down guessing).
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd.d/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd.d/%u
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
    ssl = yes
  }}
}}
service imap {{
  process_limit = 64
}}
service anvil {{
  chroot =
  # No access to the penalty socket switches Dovecot's login penalty off: otherwise
  # one failed login from 127.0.0.1 delays every later test login by seconds.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0600
    user = {user}
    group = {group}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
    group = {group}
  }}
  unix_listener stats-writer {{
    user = {user}
    group = {group}
  }}
}}
"""


class DovecotServer:
    """Dovecot on loopback for one test session. `start()`, `stop()`, `restart()`."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 20.0,
        port: int = 0,
        ssl_port: int = 0,
        separator: str = "/",
        prefix: str = "",
    ) -> None:
        """`users`: name -> password (default DEFAULT_USERS); ports 0 = pick free ones;
        `separator`/`prefix`: the personal namespace's hierarchy separator and prefix."""
        for binary, what in ((DOVECOT, "dovecot"), (DOVEADM, "doveadm")):
            if not os.access(binary, os.X_OK):
                raise ServerUnavailable(
                    f"{what} not found at {binary}: install the Debian package "
                    f"{DEBIAN_PACKAGE} (`make test` installs it; "
                    f"or `sudo apt-get install {DEBIAN_PACKAGE}`)"
                )
        self.host = host
        self.startup_timeout = startup_timeout
        self._users = dict(DEFAULT_USERS if users is None else users)
        for name, password in self._users.items():
            _check_user(name, password)
        self.account: Account = service_account(("dovecot", "dovenull"))
        self.root: Path | None = None
        self.port = port
        self.ssl_port = ssl_port
        self.separator, self.prefix = separator, prefix
        self._proc = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "DovecotServer":
        if self.is_running:
            return self
        if self.root is None:
            self._prepare()
        stop_at_exit(self)
        self._proc = spawn_as(
            self.account,
            [DOVECOT, "-F", "-c", str(self.config_path)],
            self.root / "master.out",
            env=self._env(),
        )
        if not wait_until(self._greets, self.startup_timeout, interval=0.05):
            self._fail_start(f"no IMAP greeting within {self.startup_timeout:.0f}s")
        if not wait_until(lambda: self._greets(self.ssl_port, tls=True), self.startup_timeout):
            self._fail_start(f"no IMAPS greeting within {self.startup_timeout:.0f}s")
        log.info("dovecot_started", port=self.port, ssl_port=self.ssl_port, root=str(self.root))
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory (mail included)."""
        self._halt()
        remove_tree(self.root)
        self.root = None
        forget_at_exit(self)

    def restart(self) -> None:
        """Stop and start again on the same ports with the same mail; sessions are cut."""
        self.halt()
        self.resume()

    def halt(self) -> None:
        """Stop the server, its mail kept: the mail server down for a while (`resume`)."""
        self._halt()

    def resume(self) -> None:
        """Start again after `halt`, on the same ports with the same mail."""
        # The kernel may still hold the old listening sockets for a moment.
        if not wait_until(lambda: _port_free(self.host, self.port) and _port_free(self.host, self.ssl_port), 10):
            raise ServerUnavailable(f"dovecot ports {self.port}/{self.ssl_port} still busy after stop")
        self.start()

    def ensure_running(self) -> None:
        """Start again if a test left the server stopped."""
        if not self.is_running:
            self.start()

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "DovecotServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the tests use ------------------------------------------------------------

    @property
    def users(self) -> dict[str, str]:
        """User name -> password of every account on this server."""
        return dict(self._users)

    @property
    def config_path(self) -> Path:
        return self._root() / "dovecot.conf"

    @property
    def cert_path(self) -> Path:
        """The server's self-signed certificate (trust it to verify IMAPS)."""
        return self._root() / "tls" / "cert.pem"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server against its own certificate."""
        return client_context(self.cert_path)

    def mail_dir(self, user: str) -> Path:
        """The user's Maildir: INBOX at the top, folder A/B in the subdirectory .A.B."""
        self._known(user)
        return self._root() / "home" / user / "Maildir"

    def add_user(self, name: str, password: str) -> None:
        """Add an account, also while the server runs; its password cannot change later."""
        _check_user(name, password)
        if name in self._users and self._users[name] != password:
            raise ValueError(f"test user {name} exists with another password")
        self._users[name] = password
        if self.root is not None:
            self._write_passwd()
        if self.is_running and not wait_until(lambda: self._auth_knows(name), 10, interval=0.1):
            raise ServerUnavailable(f"dovecot did not pick up the new user {name}\n{self.log_text()}")

    def imap(self, user: str, timeout: float = 10) -> imaplib.IMAP4:
        """A logged-in plaintext IMAP connection as `user`."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=timeout)
        conn.login(user, self._users[user])
        return conn

    def imaps(self, user: str, timeout: float = 10) -> imaplib.IMAP4_SSL:
        """A logged-in IMAP-over-TLS connection as `user`, certificate verified."""
        conn = imaplib.IMAP4_SSL(self.host, self.ssl_port, ssl_context=self.ssl_context(), timeout=timeout)
        conn.login(user, self._users[user])
        return conn

    def deliver(self, user: str, message: bytes | str | EmailMessage, mailbox: str = "INBOX") -> None:
        """Put a message into a mailbox from outside any IMAP session, like the MTA would."""
        self._known(user)
        if isinstance(message, EmailMessage):
            data = message.as_bytes(policy=SMTP)
        elif isinstance(message, str):
            data = message.encode("utf-8")
        else:
            data = message
        self.doveadm("save", "-u", user, "-m", mailbox, input=data)

    def create_mailbox(self, user: str, mailbox: str) -> None:
        self._known(user)
        self.doveadm("mailbox", "create", "-u", user, mailbox)

    def uidvalidity(self, user: str, mailbox: str = "INBOX") -> int:
        self._known(user)
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user, "uidvalidity", mailbox)
        match = re.search(r"uidvalidity=(\d+)", out)
        if not match:
            raise ServerUnavailable(f"doveadm gave no UIDVALIDITY for {user}/{mailbox}: {out!r}")
        return int(match.group(1))

    def change_uidvalidity(self, user: str, mailbox: str = "INBOX") -> int:
        """Give the mailbox a new UIDVALIDITY (keeping its messages); return the new value.

        Works for INBOX, which cannot be deleted. Clients holding old UIDs must resync.
        """
        new = max(self.uidvalidity(user, mailbox) + 1, int(time.time()))
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(new), mailbox)
        return new

    def recreate_mailbox(self, user: str, mailbox: str) -> int:
        """Delete a (non-INBOX) folder with its mail and create it again; return its new UIDVALIDITY."""
        if mailbox.upper() == "INBOX":
            raise ValueError("INBOX cannot be deleted; use change_uidvalidity()")
        self._known(user)
        self.doveadm("mailbox", "delete", "-u", user, "-r", "-s", mailbox)
        self.doveadm("mailbox", "create", "-u", user, mailbox)
        return self.uidvalidity(user, mailbox)

    def doveadm(self, *args: str, input: bytes | None = None) -> str:
        """Run doveadm against this server's config, as its account; return stdout."""
        proc = run_as(
            self.account,
            [DOVEADM, "-c", str(self.config_path), *args],
            input=input,
            env=self._env(),
        )
        return proc.stdout.decode("utf-8", "replace")

    def log_text(self) -> str:
        """The end of Dovecot's own log and of its stdout/stderr, for failure messages."""
        root = self._root()
        return (
            f"--- {root / 'dovecot.log'}\n{log_tail(root / 'dovecot.log')}\n"
            f"--- {root / 'master.out'}\n{log_tail(root / 'master.out')}"
        )

    # -- internals ---------------------------------------------------------------------

    def _prepare(self) -> None:
        root = make_workdir("saraban-dovecot-", self.account)
        self.root = root
        self.port = self.port or free_port(self.host)
        while not self.ssl_port or self.ssl_port == self.port:
            self.ssl_port = free_port(self.host)
        for sub in ("run", "state", "home", "tls"):
            (root / sub).mkdir()
        write_self_signed(root / "tls")
        self._write_passwd()
        (root / "dovecot.conf").write_text(
            CONFIG.format(
                root=root,
                host=self.host,
                port=self.port,
                ssl_port=self.ssl_port,
                user=self.account.name,
                group=_group_name(self.account.gid),
                uid=self.account.uid,
                gid=self.account.gid,
                separator=self.separator,
                prefix=self.prefix,
            ),
            encoding="utf-8",
        )
        chown_tree(root, self.account)

    def _write_passwd(self) -> None:
        # One passwd-file per user: Dovecot stats a passwd-file at most once a second, so
        # a user appended to a shared file could stay unknown for that long.
        root = self._root()
        passwd_dir = root / "passwd.d"
        passwd_dir.mkdir(exist_ok=True)
        chown_tree(passwd_dir, self.account)
        for name, password in self._users.items():
            target = passwd_dir / name
            if target.exists():
                continue
            home = root / "home" / name
            home.mkdir(parents=True, exist_ok=True)
            chown_tree(home, self.account)
            tmp = passwd_dir / f".{name}.new"
            tmp.write_text(
                f"{name}:{{PLAIN}}{password}:{self.account.uid}:{self.account.gid}::{home}::\n",
                encoding="utf-8",
            )
            tmp.chmod(0o600)
            chown_tree(tmp, self.account)
            tmp.replace(target)  # atomic: auth never reads half a file

    def _auth_knows(self, name: str) -> bool:
        # Ask auth itself, so a test never races the server for a user it just added.
        try:
            self.doveadm("user", "-f", "uid", name)
        except ServerUnavailable:
            return False
        return True

    def _greets(self, port: int | None = None, tls: bool = False) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            self._fail_start(f"exited with code {self._proc.returncode}")
        try:
            with socket.create_connection((self.host, port or self.port), timeout=1) as sock:
                if tls:
                    with self.ssl_context().wrap_socket(sock, server_hostname=self.host) as tsock:
                        return tsock.recv(256).startswith(b"* OK")
                return sock.recv(256).startswith(b"* OK")
        except (OSError, ssl.SSLError):
            return False

    def _fail_start(self, why: str) -> None:
        text = self.log_text()
        self._halt()
        raise ServerUnavailable(f"dovecot on ports {self.port}/{self.ssl_port} did not start: {why}\n{text}")

    def _halt(self) -> None:
        proc, self._proc = self._proc, None
        # Dovecot's master waits about a second for its children when signalled alone;
        # signalling the whole group ends them all at once, just as cleanly.
        stop_group(proc, whole_group=True)

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self._root()), "LANG": "C.UTF-8"}

    def _root(self) -> Path:
        if self.root is None:
            raise ServerUnavailable("the Dovecot server has not been started")
        return self.root

    def _known(self, user: str) -> None:
        if user not in self._users:
            raise KeyError(f"no such test user {user!r}; known: {', '.join(self._users)}")


def _check_user(name: str, password: str) -> None:
    if not _SAFE_USER.match(name):
        raise ValueError(f"test user name {name!r} must match {_SAFE_USER.pattern}")
    if not password or any(ch in password for ch in ":\n"):
        raise ValueError(f"password of {name!r} must be non-empty without ':' or newlines")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
