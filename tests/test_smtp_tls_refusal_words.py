"""A relay or smarthost whose TLS the gateway refuses is named as such, in Thai and
English (red team of 7 Dec 2026, delivery).

A unit's copies go to a relay and its notices to a smarthost over STARTTLS. When the
server's certificate names another host (a new certificate for mail.bangkok.go.th that
left out the name the gateway uses), or the server stops offering STARTTLS (a
misconfigured relay, or someone between stripping it), the gateway rightly sends
nothing; but `outbox list`, `status` and the desk said "ติดต่อเครื่องแม่ข่ายปลายทางไม่ได้
(เครือข่าย) / could not reach the server (network) (details in the log)", and the
sysadmin looked for a network fault. An IMAP server's certificate was already said in
words (session 14). Now the person reads what is wrong. docs/operations.md."""
from __future__ import annotations

import json

import pytest

from tests.daemon import free_port
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.servers.tls import write_self_signed

POMPRAP = "saraban.pomprap@bangkok.go.th"
DEPT = "admin.pomprap@bangkok.go.th"


def _items(d) -> list[dict]:  # noqa: ANN001
    return json.loads(d.cli("outbox", "list", "--json").stdout)


@pytest.mark.parametrize("server", ["certificate for another host", "no STARTTLS"])
def test_a_refused_tls_server_is_named_for_what_it_is(daemon_factory, tmp_path, server):
    other = write_self_signed(tmp_path, host="other.example")  # and 127.0.0.1, not localhost
    relay = (Sink(free_port(), tls="starttls", certificate=other) if server.startswith("certificate")
             else Sink(free_port()))
    relay.start()
    try:
        extra = notices_config(None, smarthost=f"localhost:{relay.port}", starttls=True, ca_file=str(other[0])) + f"""
[delivery.smtp.relay]
host = "localhost"
port = {relay.port}
starttls = true
ca_file = "{other[0]}"
timeout = 10

[delivery.units."saraban.pomprap"]
backend = "smtp"
to = ["{DEPT}"]
"""
        d = daemon_factory(extra=extra).start()
        d.send(letter(to=POMPRAP), POMPRAP)
        d.wait_for(lambda: len(_items(d)) == 2 and all(i["attempts"] >= 1 for i in _items(d)), timeout=60,
                   what="the copy and the notice tried")
        if server.startswith("certificate"):
            th = "ใบรับรอง TLS ของเครื่องแม่ข่ายปลายทางตรวจสอบไม่ผ่าน"
            en = "the server's TLS certificate is not accepted, so nothing was sent (check ca_file and the host name)"
            detail = "Hostname mismatch, certificate is not valid for 'localhost'"
        else:
            th = "เครื่องแม่ข่ายปลายทางไม่รองรับสิ่งที่การตั้งค่ากำหนดไว้"
            en = "the server does not offer what the configuration requires, so nothing was sent"
            detail = "STARTTLS extension not supported by server"
        for item in _items(d):  # the folder copy and the notice
            words = item["last_error"]
            assert th in words and en in words and detail in words, words
            assert "(network)" not in words and "_ssl.c" not in words and "[SSL" not in words, words
            assert item["state"] == "pending"  # waits and is tried again
        status = d.cli("status").stdout
        assert status.count(en) == 2, status  # the copy waiting, the notice retrying
        assert relay.messages() == []
    finally:
        relay.stop()
