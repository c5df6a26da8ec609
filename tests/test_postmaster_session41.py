"""Mail to postmaster (RFC 5321 4.5.1: "Any system that includes an SMTP server
supporting mail relaying or delivery MUST support the reserved mailbox 'postmaster'").

Until session 41 `RCPT TO:<postmaster>` and `<postmaster@bangkok.go.th>` were refused
as relaying (550 5.7.1): another server's operator could not reach this one, and a
bounce about a notice the gateway sent had nowhere to go. Now it is accepted, never
registered (it is no letter and no unit's), and held in quarantine for the operator,
reason `postmaster`, its sender not answered; classified content is sealed as
anywhere else."""
from __future__ import annotations

import json
import smtplib

import pytest

from gateway.units.directory import is_postmaster
from tests.classified.helpers import MARKER, classified_letter, files_containing, sealing_daemon
from tests.letters import letter, make_pdf

DOMAIN = "bangkok.go.th"
LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.mark.parametrize("address, expected", [
    ("postmaster", True), ("Postmaster", True), ("POSTMASTER@BANGKOK.GO.TH", True),
    ("postmaster@bangkok.go.th", True), ("postmaster@example.org", False), ("postmaster@bangkok.go.th.evil", False),
    ("postmasters@bangkok.go.th", False), ("post.master@bangkok.go.th", False),
    ("postmaſter@bangkok.go.th", False), ("postmaster@bang\u212aok.go.th", False),  # long s; Kelvin sign
    ("", False), ("@bangkok.go.th", False),
])
def test_which_addresses_are_postmaster(address, expected):
    assert is_postmaster(address, DOMAIN) is expected


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with sealing_daemon(tmp_path_factory.mktemp("postmaster") / "gw") as d:
        yield d


def _rcpt(d, address: str) -> tuple[int, bytes]:
    with d.smtp() as client:
        client.ehlo("test.example")
        client.mail("someone@example.org")
        return client.rcpt(address)


@pytest.mark.parametrize("address", ["postmaster", "Postmaster", "postmaster@bangkok.go.th",
                                     "PostMaster@Bangkok.Go.Th"])
def test_postmaster_is_accepted_at_rcpt(gateway, address):
    assert _rcpt(gateway, address)[0] == 250


@pytest.mark.parametrize("address", ["postmaster@example.org", "postmaster@mail.bangkok.go.th"])
def test_another_domains_postmaster_is_still_relaying(gateway, address):
    code, text = _rcpt(gateway, address)
    assert code == 550 and text.startswith(b"5.7.1")


def _held(d) -> list[dict]:
    return json.loads(d.cli("quarantine", "list", "--json").stdout)


def test_mail_to_postmaster_is_held_for_the_operator_and_not_registered(gateway):
    d = gateway
    raw = letter(subject="Undelivered Mail Returned to Sender", body="This is the mail system at host mx.example.org.\n")
    with d.smtp() as client:
        client.ehlo("mx.example.org")
        client.mail("<>")  # a bounce: the null reverse path
        assert client.rcpt("postmaster")[0] == 250
        code, text = client.data(raw)
    assert code == 250, text
    queue_id = text.decode().rsplit(" ", 1)[-1]
    d.wait_idle()
    [entry] = [e for e in _held(d) if e["queue_id"] == queue_id]
    assert entry["unit"] == "postmaster"
    assert [r["rule"] for r in entry["reasons"]] == ["postmaster"]
    assert "postmaster" in entry["reasons"][0]["message_th"] and "operator" in entry["reasons"][0]["message_en"]
    assert [e for e in d.register() if e.get("queue_id") == queue_id] == []
    items = json.loads(d.cli("outbox", "list", "--json").stdout)
    assert [i for i in items if i["queue_id"] == queue_id] == []  # no notice, no copy
    listed = json.loads(d.cli("quarantine", "list", "--unit", "postmaster", "--json").stdout)
    assert entry["id"] in [e["id"] for e in listed]
    shown = d.cli("quarantine", "show", str(entry["id"])).stdout
    assert "Undelivered Mail Returned to Sender" in shown and "mx.example.org" in shown  # readable

    refused = d.cli("quarantine", "release", str(entry["id"]), "--reason", "x", check=False)
    assert refused.returncode == 1 and "mail to postmaster, not a letter" in refused.stderr
    assert "Traceback" not in refused.stderr
    d.cli("quarantine", "reject", str(entry["id"]), "--reason", "read by the operator")
    assert [e for e in _held(d) if e["queue_id"] == queue_id] == []


def test_a_letter_to_a_unit_and_postmaster_is_registered_for_the_unit_only(gateway):
    d = gateway
    raw = letter(subject="ขอเชิญประชุม", files=[("2569_dds_0403_57.pdf", make_pdf("cover"))],
                 message_id="<both-1@dds.bangkok.go.th>")
    queue_id = d.send(raw, [LAT, "postmaster@bangkok.go.th"])
    d.wait_idle()
    assert [e["unit"] for e in d.register() if e.get("queue_id") == queue_id] == ["saraban.latkrabang"]
    assert [e["unit"] for e in _held(d) if e["queue_id"] == queue_id] == ["postmaster"]


def test_a_classified_letter_to_postmaster_is_sealed(gateway):
    d = gateway
    raw, _pdf = classified_letter("ลับมาก", message_id="<pm-secret-1@dds.bangkok.go.th>")
    queue_id = d.send(raw, "postmaster")
    d.wait_idle()
    [entry] = [e for e in _held(d) if e["queue_id"] == queue_id]
    assert entry["unit"] == "postmaster" and "postmaster" in [r["rule"] for r in entry["reasons"]]
    assert (d.data_dir / "secret" / queue_id / "raw.sgv").exists()
    assert files_containing(d.data_dir, MARKER) == []


def test_top_secret_to_postmaster_is_refused_as_anywhere(gateway):
    raw, _pdf = classified_letter("ลับที่สุด")
    code, text = gateway.data_reply(raw, "postmaster")
    assert code == 550 and b"5.7.0" in text


def test_postmaster_counts_once_among_the_recipients(gateway):
    with gateway.smtp() as client:
        client.ehlo("test.example")
        client.mail("someone@example.org")
        assert client.rcpt("postmaster")[0] == 250
        assert client.rcpt("POSTMASTER@bangkok.go.th")[0] == 250
        code, text = client.data(letter(subject="hello"))
    assert code == 250
    queue_id = text.decode().rsplit(" ", 1)[-1]
    gateway.wait_idle()
    assert [e["unit"] for e in _held(gateway) if e["queue_id"] == queue_id] == ["postmaster"]


def test_smtplib_sends_the_bare_form(gateway):
    """What `RCPT TO:<postmaster>` is on the wire, through a stock client."""
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.ehlo("test.example")
        client.mail("someone@example.org")
        client.putcmd("RCPT", "TO:<postmaster>")
        assert client.getreply()[0] == 250
