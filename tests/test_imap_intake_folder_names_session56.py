"""IMAP intake red team of 7 Dec 2026 (session 56): the pulled mailbox and
`processed_folder` are configured with "/" between levels, as delivery's folders are,
and are spelt with the server's own hierarchy separator and namespace prefix.

Against a real Dovecot with separator "." and prefix "INBOX." (Courier's layout, and
many Dovecot installations'): until now the names went to the server as written, the
CREATE of `processed_folder = "Saraban/Registered"` (the example configuration's own
value) was answered "NO Client tried to access nonexistent namespace. (Mailbox name
should probably be prefixed with: INBOX.)" at every session, before any letter was taken:
nothing in the central mailbox was ever registered."""
from __future__ import annotations

import pytest

from gateway.intake.imap_session import mailbox_name
from tests.imap_helpers import folder_messages, intake_config
from tests.letters import letter
from tests.servers.common import wait_until
from tests.servers.dovecot import DovecotServer


@pytest.fixture(scope="module")
def dot_dovecot():
    server = DovecotServer(users={}, separator=".", prefix="INBOX.")
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - reported like the shared server's failures
        pytest.fail(f"cannot start the '.'-separator Dovecot: {exc}", pytrace=False)
    yield server
    server.stop()


def _ids(dovecot, user: str, folder: str) -> list[tuple[str, bool]]:
    return sorted((m["Message-ID"], "$SarabanRegistered" in flags)
                  for flags, m in folder_messages(dovecot, user, mailbox_name(folder)))


def test_folders_written_with_slashes_are_spelt_the_servers_way(daemon_factory, dot_dovecot):
    user, password = "intake.slashes", "intake-slashes-1"
    dot_dovecot.add_user(user, password)
    incoming = "INBOX.สารบรรณ.หนังสือรับ"  # "สารบรรณ/หนังสือรับ" on this server
    dot_dovecot.create_mailbox(user, incoming)
    dot_dovecot.deliver(user, letter(message_id="<waiting@dds.bangkok.go.th>"), mailbox=incoming)
    d = daemon_factory(extra=intake_config(dot_dovecot, user, password, mailbox="สารบรรณ/หนังสือรับ",
                                           processed_folder="Saraban/Registered")).start()
    d.wait_for(lambda: len(d.register()) == 1 or None, timeout=60, what="the waiting letter registered")
    dot_dovecot.deliver(user, letter(message_id="<new@dds.bangkok.go.th>"), mailbox=incoming)
    entries = d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(d.register()), timeout=60,
                         what="the new letter registered")
    assert sorted(e["message_id"] for e in entries) == ["<new@dds.bangkok.go.th>", "<waiting@dds.bangkok.go.th>"]
    expected = [("<new@dds.bangkok.go.th>", True), ("<waiting@dds.bangkok.go.th>", True)]
    assert wait_until(lambda: _ids(dot_dovecot, user, "INBOX.Saraban.Registered") == expected, 30, interval=0.2), \
        _ids(dot_dovecot, user, "INBOX.Saraban.Registered")
    assert _ids(dot_dovecot, user, incoming) == []
    [mailbox] = d.status()["imap_intake"].values()
    assert mailbox["last_error"] is None, mailbox
    assert not [e for e in d.events() if e.get("event") == "imap_reconnect"]


def test_names_written_in_the_servers_own_spelling_still_work(daemon_factory, dot_dovecot):
    """The near-miss: a configuration that spelt the names for this server itself."""
    user, password = "intake.spelt", "intake-spelt-1"
    dot_dovecot.add_user(user, password)
    dot_dovecot.create_mailbox(user, "INBOX.Central")
    dot_dovecot.deliver(user, letter(message_id="<spelt@dds.bangkok.go.th>"), mailbox="INBOX.Central")
    d = daemon_factory(extra=intake_config(dot_dovecot, user, password, mailbox="INBOX.Central",
                                           processed_folder="INBOX.Central.Done")).start()
    [entry] = d.wait_for(lambda: d.register() or None, timeout=60, what="the letter registered")
    assert entry["message_id"] == "<spelt@dds.bangkok.go.th>"
    assert wait_until(lambda: _ids(dot_dovecot, user, "INBOX.Central.Done") == [("<spelt@dds.bangkok.go.th>", True)],
                      30, interval=0.2), _ids(dot_dovecot, user, "INBOX.Central.Done")
