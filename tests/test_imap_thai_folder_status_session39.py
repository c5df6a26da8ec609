"""Session 39's red team: when a unit's Dovecot account was full, `status` and `outbox
list` named the unit's Thai folder (สารบรรณ/หนังสือรับ, the docs' own example) as
"???????/??????????": with several units on Thai folders a sysadmin could not tell which
one was full. The log had it right; the person-facing texts now do too."""
from __future__ import annotations

import json

import pytest

from gateway.delivery.error_texts import error_for_person
from tests.imap_helpers import delivery_config
from tests.letters import letter
from tests.servers.dovecot import DovecotServer
from tests.test_imap_delivery import LAT

QUOTA = "\nmail_plugins = $mail_plugins quota\nplugin {\n  quota = maildir:User quota\n  quota_rule = *:storage=5K\n}\n"
FOLDER = "สารบรรณ/หนังสือรับ"


@pytest.fixture
def full_dovecot():
    server = DovecotServer()
    server._prepare()  # noqa: SLF001 - the test server's own step, to add a quota before it starts
    conf = server.root / "dovecot.conf"
    conf.write_text(conf.read_text() + QUOTA)
    server.start()
    yield server
    server.stop()


def test_status_and_outbox_list_name_the_thai_folder_of_a_full_account(daemon_factory, full_dovecot):
    full_dovecot.add_user("quser", "pw-quser")
    d = daemon_factory(extra=delivery_config(full_dovecot, "quser", "pw-quser", folder=FOLDER)).start()
    for _ in range(3):
        d.send(letter(), LAT)
    def waiting() -> str | None:
        out = d.cli("status").stdout
        return out if "OVERQUOTA" in out else None

    status = d.wait_for(waiting, what="a copy waiting on the full account")
    [waiting] = [line for line in status.splitlines() if "OVERQUOTA" in line]
    assert f"append to {FOLDER}: NO [OVERQUOTA]" in waiting and "?" not in waiting.split("append to")[1], waiting
    items = json.loads(d.cli("outbox", "list", "--json").stdout)
    assert any(f"append to {FOLDER}" in (i.get("last_error") or "") for i in items), items


def test_a_server_s_control_or_bidi_characters_are_still_cleaned():
    shown = error_for_person("ImapRefused: append to สารบรรณ\u202e/x\x1b[31m: NO [CANNOT] \r\nbad")
    assert "สารบรรณ" in shown and "\u202e" not in shown and "\x1b" not in shown and "\n" not in shown, shown


def test_a_sealed_copy_waiting_for_a_registrar_certificate_says_so():
    """Session 43's red team: a ลับ letter's sealed copy for a unit with no secret
    registrar certificate read "the gateway failed while sending it" in `outbox list`
    and at the desk, while it waits (and is tried again) for the certificate."""
    shown = error_for_person("SecrecyError: not delivered: no secret registrar certificate for saraban.dds")
    assert "no usable secret registrar certificate" in shown and "keys import-registrar" in shown
    assert "ใบรับรองของนายทะเบียนลับ" in shown and shown.endswith("no secret registrar certificate for saraban.dds")
    assert "the gateway failed" not in shown
    # Since session 44 the copy raises its own class; its message is the problem alone.
    assert error_for_person("RegistrarCopyWaits: no secret registrar certificate for saraban.dds") == shown
    # Another SecrecyError is not said to be a missing certificate.
    other = error_for_person("SecrecyError: secret folder 'x/../y' of saraban.dds is not a safe folder name")
    assert "the gateway failed while sending it" in other and "certificate" not in other
