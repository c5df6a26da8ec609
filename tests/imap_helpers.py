"""Configuration snippets and look-ups for tests of the IMAP backends against Dovecot."""
from __future__ import annotations

import email
import email.policy
import imaplib
import re

from tests.servers.dovecot import DovecotServer


def delivery_config(dovecot: DovecotServer, user: str, password: str, unit: str = "saraban.latkrabang",
                    folder: str | None = None) -> str:
    """IMAPS with the test server's certificate trusted, as a deployment would set it up."""
    route_folder = f'folder = "{folder}"\n' if folder else ""
    return f"""
[delivery.imap.mail]
host = "{dovecot.host}"
port = {dovecot.ssl_port}
tls = true
ca_file = "{dovecot.cert_path}"
username = "{user}"
password = "{password}"
timeout = 10

[delivery.units."{unit}"]
backend = "imap"
{route_folder}"""


def intake_config(dovecot: DovecotServer, user: str, password: str, unit: str = "saraban.latkrabang",
                  **options) -> str:
    lines = [
        "[[imap_intake]]",
        f'unit = "{unit}"',
        f'host = "{dovecot.host}"',
        f"port = {dovecot.ssl_port}",
        f'ca_file = "{dovecot.cert_path}"',
        f'username = "{user}"',
        f'password = "{password}"',
        "timeout = 10",
        "reconnect_max = 2",
    ]
    for key, value in options.items():
        lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def set_delivery_key(config_path, line: str) -> None:
    """Add a key to the [delivery] table the test daemon's base configuration has."""
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text.replace("[delivery]\n", f"[delivery]\n{line}\n", 1), encoding="utf-8")


def folder_messages(dovecot: DovecotServer, user: str, folder: str) -> list[tuple[set[str], email.message.EmailMessage]]:
    """(flags, message) of every message in a folder, read with imaplib, not our client."""
    conn = dovecot.imap(user)
    try:
        typ, _ = conn.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return []
        typ, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        out = []
        for item in data:
            if isinstance(item, tuple):
                flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
                out.append((flags, email.message_from_bytes(item[1], policy=email.policy.default)))
        return out
    finally:
        conn.logout()


def mailbox_flags(dovecot: DovecotServer, user: str, folder: str = "INBOX") -> list[set[str]]:
    return [flags for flags, _ in folder_messages(dovecot, user, folder)]


def folders(dovecot: DovecotServer, user: str) -> list[str]:
    conn: imaplib.IMAP4 = dovecot.imap(user)
    try:
        _, data = conn.list()
        return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in data]
    finally:
        conn.logout()
