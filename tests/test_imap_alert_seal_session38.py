"""A message with an alert's headers, mailed to the registrar's account by the sender,
is not taken for the alert (session 38's red team, as session 37 did for folder copies).

An alert's Message-ID and X-Saraban-Unit follow from the letter's queue id, which the
250 gives the sender, and anyone may mail the registrar's account. An attempt done
again looks in every folder of the account for the alert an earlier attempt may have
stored: such a message in INBOX stood for the alert, and the registrar was never told.
Alerts now carry X-Saraban-Copy-Seal too, which the look must find."""
from __future__ import annotations

import sqlite3

from gateway.spool import Spool
from tests.classified.helpers import MARKER, add_registrar, make_gateway_key, wait_processed
from tests.imap_helpers import delivery_config, folder_messages
from tests.letters import SEED_DATE, SEED_REFERENCE, letter
from tests.test_imap_seal_session37 import _drop_all

LAT = "saraban.latkrabang@bangkok.go.th"
SECRET = "Saraban/latkrabang/Secret"


def _forge_in_inbox(dovecot, user: str, alert) -> None:  # noqa: ANN001 - the real alert
    forged = (f"From: attacker@example.org\r\nTo: {alert['To']}\r\nSubject: not the alert\r\n"
              f"Message-ID: {alert['Message-ID']}\r\nX-Saraban-Queue-Id: {alert['X-Saraban-Queue-Id']}\r\n"
              f"X-Saraban-Unit: {alert['X-Saraban-Unit']}\r\nX-Saraban-Alert: {alert['X-Saraban-Alert']}\r\n"
              "\r\nforged\r\n").encode()
    conn = dovecot.imap(user)
    try:
        conn.append("INBOX", None, None, forged)
    finally:
        conn.logout()


def _again(d) -> None:  # noqa: ANN001
    """As if the daemon had died before its APPEND was answered: the alert in doubt."""
    d.kill9()
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL, attempts = 1 WHERE kind = 'alert'")
    d.start()
    d.wait_idle()


def test_a_forged_alert_in_the_registrars_inbox_does_not_stand_for_the_alert(daemon_factory, dovecot, dovecot_user):
    user, password = dovecot_user
    d = daemon_factory(extra=delivery_config(dovecot, user, password))
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    body = f"ลับที่สุด\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนป้องกัน {MARKER}\n"
    raw = letter(subject=f"แผนป้องกัน {MARKER}", body=body, files=[])
    Spool(d.data_dir / "spool").accept(raw, "saraban.dds@bangkok.go.th", [LAT])
    wait_processed(d, alert=1)
    [(_, alert)] = folder_messages(dovecot, user, SECRET)

    _drop_all(dovecot, user, SECRET)
    _forge_in_inbox(dovecot, user, alert)
    _again(d)
    assert not any(e.get("event") == "imap_already_filed" for e in d.events())
    filed = [m for _, m in folder_messages(dovecot, user, SECRET)]
    assert len(filed) == 1 and filed[0]["X-Saraban-Alert"] == "top_secret", filed
    assert filed[0]["X-Saraban-Copy-Seal"] and filed[0]["X-Saraban-Copy-Seal"] == alert["X-Saraban-Copy-Seal"]
    # The real alert, once there, is found by the next attempt done again: filed once.
    _again(d)
    assert len(folder_messages(dovecot, user, SECRET)) == 1
    assert any(e.get("event") == "imap_already_filed" for e in d.events())
