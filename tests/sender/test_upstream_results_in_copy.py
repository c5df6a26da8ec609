"""Red team of 7 Dec 2026 (senders): Authentication-Results in the name of the BMA's own
mail server (`[sender] upstream_authserv_ids`), written by the sender, in the folder
copy the clerk's mail client reads. Through the real daemon, the loopback DNS server
and the real Dovecot the central mailbox is on.

A letter that came straight to the gateway over SMTP never passed that server, yet the
copy of a letter registered "ไม่มีข้อมูล (dla.go.th)" kept the sender's
`Authentication-Results: mx.bangkok.go.th; dkim=pass ...; dmarc=pass ...` below the
gateway's own: a mail client set to trust the BMA's server (it reads that server's
results on all the unit's other mail) showed the letter as verified. RFC 8601 section 5:
results claiming a server of one's own mail system are deleted. Kept: the one result of
that server on a letter taken from the mailbox behind it (the check believed it), and
results of any other server. docs/sender-authenticity.md, "Where it is stored and shown".
"""
from __future__ import annotations

import email
import email.policy
import json

import pytest

from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config
from tests.letters import letter, make_pdf
from tests.sender.test_daemon_sender import UNIT, entry_for, sender_config
from tests.sender.zones import MINISTRY, NO_DMARC, dkim_sign

UPSTREAM = "mx.bangkok.go.th"  # the BMA's mail server in front of the central mailbox


def _letter(sender: str, subject: str) -> bytes:
    return letter(sender=sender, subject=subject, files=[("2569_moi_0407_57.pdf", make_pdf(subject))])


@pytest.fixture(scope="module")
def copies(tmp_path_factory, dns_server, dovecot):
    user, password = "upresults", "pw-upresults"
    dovecot.add_user(user, password)
    believed = f"Authentication-Results: {UPSTREAM}; spf=pass smtp.mailfrom=saraban@{MINISTRY}\r\n".encode()
    written = f"Authentication-Results: {UPSTREAM}; spf=pass smtp.mailfrom=x@{MINISTRY}\r\n".encode()
    # What the BMA's server put into the central mailbox: its one result, and a letter
    # carrying two in its name (the sender wrote one of them, neither is believed).
    dovecot.deliver(user, believed + dkim_sign(_letter(f"saraban@{MINISTRY}", "U1 imap one"), MINISTRY))
    dovecot.deliver(user, written + believed + dkim_sign(_letter(f"saraban@{MINISTRY}", "U1 imap two"), MINISTRY))
    extra = (sender_config(dns_server.address, upstream_authserv_ids=f'["{UPSTREAM}"]')
             + intake_config(dovecot, user, password))
    d = Daemon(write_config(tmp_path_factory.mktemp("upresults") / "gw", extra=extra)).start()
    try:
        forged = (f"Authentication-Results: {UPSTREAM}; dkim=pass header.d={NO_DMARC}; "
                  f"dmarc=pass header.from={NO_DMARC}\r\n"
                  f'Authentication-Results: (the BMA) "MX.Bangkok.go.th." ; dmarc=pass header.from={NO_DMARC}\r\n'
                  f"Authentication-Results: mx.google.com; spf=pass smtp.mailfrom={NO_DMARC}\r\n").encode()
        smtp_id = d.send(forged + _letter(f"saraban@{NO_DMARC}", "U1 smtp"), UNIT, sender=f"saraban@{NO_DMARC}")
        d.wait_for(lambda: sum(1 for e in d.events() if e.get("event") == "imap_message_spooled") >= 2,
                   timeout=60, what="both letters taken from the mailbox")
        d.wait_idle(timeout=120)
        register = d.register()
        by_subject = {e["mail_subject"]: e for e in register}
        by_subject["U1 smtp"] = entry_for(d, smtp_id)
        copies = {}
        for subject, entry in by_subject.items():
            [raw] = [p.read_bytes() for p in d.maildir_files("latkrabang") if entry["queue_id"].encode() in p.read_bytes()]
            copies[subject] = (entry, email.message_from_bytes(raw, policy=email.policy.default))
        yield copies
    finally:
        d.stop()


def _results(copy) -> list[str]:
    return [" ".join(str(v).split()) for v in copy.get_all("Authentication-Results") or []]


def test_results_the_sender_wrote_in_the_bma_servers_name_are_not_in_the_copy(copies):
    entry, copy = copies["U1 smtp"]
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({NO_DMARC})"
    results = _results(copy)
    assert not [r for r in results if "mx.bangkok.go.th" in r.lower()], results
    assert not [r for r in results if "dmarc=pass" in r], results
    # The gateway's own result is on top; another server's result is not the BMA's to judge.
    assert results[0].startswith("saraban-gateway.test;") and "dmarc=none" in results[0]
    assert f"mx.google.com; spf=pass smtp.mailfrom={NO_DMARC}" in results


def test_the_one_result_of_the_server_in_front_of_the_mailbox_stays(copies):
    entry, copy = copies["U1 imap one"]
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    assert f"{UPSTREAM}; spf=pass smtp.mailfrom=saraban@{MINISTRY}" in _results(copy)
    # Two in its name: neither was believed, and neither is shown.
    entry, copy = copies["U1 imap two"]
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"  # by its DKIM signature
    assert not [r for r in _results(copy) if UPSTREAM in r], _results(copy)
    assert json.dumps(entry["sender_auth"]).count('"upstream"') == 0
