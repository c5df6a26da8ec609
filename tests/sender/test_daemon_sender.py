"""Sender authenticity end to end: the real daemon over loopback SMTP, asking a real
DNS server on loopback ([dns] nameservers) about a ministry, a district office, an
agency without DMARC and an attacker."""
from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy

import pytest

from gateway.spool import Spool
from tests.daemon import Daemon, write_config
from tests.letters import letter, with_header
from tests.sender.zones import ATTACKER, FORWARDER, MINISTRY, NO_DMARC, OTHER, arc_seal, dkim_sign, zones
from tests.servers.dns import DnsServer, SilentNameserver

UNIT = "saraban.latkrabang@bangkok.go.th"
AUTHSERV = "saraban-gateway.test"


def sender_config(nameserver: str, **sender) -> str:
    keys = {"authserv_id": f'"{AUTHSERV}"', "recheck_every": "0.3", "check_deadline": "3.0",
            "trusted_arc_sealers": f'["{FORWARDER}"]', **sender}
    lines = ["[dns]", f'nameservers = ["{nameserver}"]', "timeout = 0.5", "[sender]"]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def start(tmp_path, name, nameserver, **sender) -> Daemon:
    return Daemon(write_config(tmp_path / name, extra=sender_config(nameserver, **sender))).start()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, dns_server):
    """One daemon for the letters that need no special configuration (a few seconds each)."""
    d = start(tmp_path_factory.mktemp("sender"), "gw", dns_server.address)
    yield d
    d.stop()


def entry_for(d: Daemon, queue_id: str) -> dict:
    [entry] = [e for e in d.register() if e["queue_id"] == queue_id]
    return entry


def quarantine(d: Daemon) -> list[dict]:
    import json
    return json.loads(d.cli("quarantine", "list", "--json").stdout)


def notice_events(d: Daemon, queue_id: str) -> list[dict]:
    return [e for e in d.events() if e.get("event", "").startswith("notice_") and queue_id in str(e.get("key", ""))]


def test_genuine_and_forged_ministry_letters(gw):
    d = gw
    genuine = dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="ขอเชิญประชุม"), MINISTRY)
    genuine_id = d.send(genuine, UNIT, sender=f"saraban@{MINISTRY}")
    # The attacker's server passes SPF and DKIM for its own domain, writes From: the
    # ministry, and even adds an Authentication-Results in the gateway's name.
    forged = dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="โอนเงินด่วน"), ATTACKER)
    forged = f"Authentication-Results: {AUTHSERV}; dmarc=pass header.from={MINISTRY}\r\n".encode() + forged
    forged_id = d.send(forged, UNIT, sender=f"bounce@{ATTACKER}")
    d.wait_idle()

    entries = [entry_for(d, genuine_id)]
    assert forged_id not in [e["queue_id"] for e in d.register()]
    assert entries[0]["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    held = [q for q in quarantine(d) if q["queue_id"] == forged_id]
    assert len(held) == 1
    reason = held[0]["reasons"][0]
    assert reason["rule"] == "sender_authenticity"
    assert reason["message_th"].startswith("ไม่สามารถยืนยันได้ว่าส่งจากหน่วยงานนี้จริง")
    assert MINISTRY in reason["message_en"]
    # No notice from the unit's address to whoever the forger named.
    suppressed = [e for e in notice_events(d, forged_id) if e["event"] == "notice_suppressed"]
    # Not aligned (envelope and From domains differ) or not verified: no notice either way.
    assert suppressed and suppressed[0]["reason"] in ("sender_not_aligned", "sender_not_verified")
    assert [e["event"] for e in notice_events(d, genuine_id)] == ["notice_held"]

    [copy] = [p.read_bytes() for p in d.maildir_files("latkrabang") if genuine_id.encode() in p.read_bytes()]
    head = copy.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith(f"Authentication-Results: {AUTHSERV};")
    assert f"dkim=pass header.d={MINISTRY}" in head.replace("\r\n ", " ")
    parsed = email.message_from_bytes(copy, policy=email.policy.default)
    assert str(parsed["X-Saraban-Sender-Verified"]) == f"pass ({MINISTRY}); ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    # The forger's "Authentication-Results" in the gateway's name never reaches a folder,
    # and the letter's own bytes are untouched below the added headers.
    assert len(parsed.get_all("Authentication-Results")) == 1
    assert copy.endswith(genuine.split(b"\r\n\r\n", 1)[1])

    show = d.cli("register", "show", "saraban.latkrabang", entries[0]["receive_no"]).stdout
    assert "ยืนยันผู้ส่ง" in show and "ผ่าน" in show and f"{MINISTRY}=pass" in show

    # The clerk looks at the held letter, then releases it anyway: its verdict stays "ไม่ผ่าน".
    shown = d.cli("quarantine", "show", str(held[0]["id"])).stdout
    assert "ยืนยันผู้ส่ง ไม่ผ่าน" in shown and f"{ATTACKER}=pass" in shown and "p=reject" in shown
    d.cli("quarantine", "release", str(held[0]["id"]), "--reason", "โทรยืนยันกับกระทรวงแล้ว")
    d.wait_idle()
    assert entry_for(d, forged_id)["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่ผ่าน ({MINISTRY})"


def test_agency_without_dmarc_is_registered_with_a_warning_and_no_notice(gw):
    d = gw
    queue_id = d.send(letter(sender=f"saraban@{NO_DMARC}"), UNIT, sender=f"saraban@{NO_DMARC}")
    d.wait_idle()
    entry = entry_for(d, queue_id)
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({NO_DMARC})"
    assert any(f["rule"] == "sender_authenticity" and f["verdict"] == "warn" for f in entry["findings"])
    events = notice_events(d, queue_id)
    assert [(e["event"], e.get("reason")) for e in events] == [("notice_suppressed", "sender_not_verified")]


def test_relayed_letter_with_a_trusted_arc_seal_is_registered(gw):
    d = gw
    signed = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
    forwarded = signed.rstrip(b"\r\n") + b"\r\n--\r\nforwarded by relay.example\r\n"
    sealed = arc_seal(forwarded, FORWARDER, FORWARDER,
                      f"dkim=pass header.d={MINISTRY}; dmarc=pass header.from={MINISTRY}")
    queue_id = d.send(sealed, UNIT, sender=f"bounces@{FORWARDER}")
    d.wait_idle()
    entry = entry_for(d, queue_id)
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    assert entry["sender_auth"]["arc_trusted"] is True


def test_p_reject_honoured_at_data_when_configured(tmp_path, dns_server):
    d = start(tmp_path, "gw", dns_server.address, reject_at_data="true")
    try:
        forged = letter(sender=f"saraban@{MINISTRY}")
        with d.smtp() as client:
            client.ehlo("attacker.example")
            client.mail(f"bounce@{ATTACKER}")
            client.rcpt(UNIT)
            code, text = client.data(forged)
        assert code == 550 and b"5.7.1" in text and b"DMARC" in text
        # A genuine letter still goes through.
        d.send(dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY), UNIT, sender=f"saraban@{MINISTRY}")
        d.wait_idle()
        assert len(d.register()) == 1 and quarantine(d) == []
    finally:
        d.stop()


def test_dns_timeout_waits_then_checks_never_quarantines_as_forged(tmp_path):
    silent = SilentNameserver()
    port = silent.port
    d = start(tmp_path, "gw", silent.address, check_deadline="1.0")
    try:
        genuine = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
        genuine_id = d.send(genuine, UNIT, sender=f"saraban@{MINISTRY}")  # accepted: 250
        forged_id = d.send(letter(sender=f"saraban@{MINISTRY}"), UNIT, sender=f"x@{ATTACKER}")
        d.wait_for(lambda: sum(1 for e in d.events() if e.get("event") == "sender_check_waiting") >= 4,
                   timeout=30, what="the pipeline to retry while DNS is silent")
        assert d.register() == [] and quarantine(d) == []
        assert d.status()["spool"]["pending"] == 2  # waiting, not lost
        silent.close()
        with DnsServer(zones(), tmp_path / "dns", port=port):  # the resolver is back
            d.wait_idle(timeout=60)
            [entry] = d.register()
            assert entry["queue_id"] == genuine_id
            assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
            assert [q["queue_id"] for q in quarantine(d)] == [forged_id]
    finally:
        d.stop()
        silent.close()


def test_dns_down_past_the_bound_registers_as_no_information(tmp_path):
    silent = SilentNameserver()
    d = start(tmp_path, "gw", silent.address, check_deadline="1.0", recheck_for="1.0")
    try:
        d.send(letter(sender=f"saraban@{OTHER}"), UNIT, sender=f"x@{ATTACKER}")
        d.wait_idle(timeout=60)
        [entry] = d.register()  # never quarantined because a resolver was slow
        assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({OTHER})"
        assert quarantine(d) == []
        # Since session 36, a domain whose forgeries are quarantined is registered only
        # verified: its letter that DNS never verified is held for a person instead.
        held = d.send(letter(sender=f"saraban@{MINISTRY}"), UNIT, sender=f"x@broken.{MINISTRY}")
        d.wait_idle(timeout=60)
        assert [q["queue_id"] for q in quarantine(d)] == [held]

        # Session 16: received while the clock was a day fast, then set right: by the
        # wall clock it has not waited at all, yet it is registered within the bound.
        ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        queue_id = Spool(d.data_dir / "spool").accept(letter(sender=f"saraban@{OTHER}"), f"x@{ATTACKER}",
                                                      [UNIT], peer="127.0.0.1:25", received_at=ahead)
        d.wait_for(lambda: any(e.get("event") == "registered" and e.get("queue_id") == queue_id
                               for e in d.events()), 30, what="the letter registered though the clock went back a day")
        assert [e["sender_verified"] for e in d.register() if e["queue_id"] == queue_id] == [
            f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({OTHER})"]
    finally:
        d.stop()
        silent.close()


def _copy_of(d: Daemon, queue_id: str) -> email.message.EmailMessage:
    [copy] = [p.read_bytes() for p in d.maildir_files("latkrabang") if queue_id.encode() in p.read_bytes()]
    return email.message_from_bytes(copy, policy=email.policy.default)


def test_s15_reply_to_goes_where_the_signature_says_or_to_from(gw):
    """Session 15: a Reply-To added to a replayed, genuinely signed ministry letter (the
    signature, as Microsoft 365 signs, leaves Reply-To out) was "ผ่าน" and stayed in the
    folder copy: the clerk's reply went to the forger. The copy now carries a Reply-To
    only when the verified signature covers it (as Gmail signs); any other, of a
    verified letter or not, is renamed with a note, and a reply goes to From."""
    d = gw
    forger = f"x@{ATTACKER}"
    replayed = f"Reply-To: {forger}\r\n".encode() + dkim_sign(
        letter(sender=f"saraban@{MINISTRY}", subject="S15 Reply-To replayed"), MINISTRY)
    replayed_id = d.send(replayed, UNIT, sender=f"bounce@{ATTACKER}")
    gmail = dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="S15 Reply-To signed",
                             extra_headers={"Reply-To": f"director@{MINISTRY}"}), MINISTRY,
                      headers=[b"from", b"subject", b"date", b"message-id", b"to", b"reply-to"])
    gmail_id = d.send(gmail, UNIT, sender=f"saraban@{MINISTRY}")
    unverified = dkim_sign(letter(sender=f"saraban@{NO_DMARC}", subject="S15 Reply-To no DMARC",
                                  extra_headers={"Reply-To": forger}), ATTACKER)
    unverified_id = d.send(unverified, UNIT, sender=f"saraban@{NO_DMARC}")
    d.wait_idle()

    assert entry_for(d, replayed_id)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    for queue_id in (replayed_id, unverified_id):
        copy = _copy_of(d, queue_id)
        assert copy["Reply-To"] is None and copy["Mail-Reply-To"] is None
        assert str(copy["X-Saraban-Unsigned-Reply-To"]) == forger  # still readable, not followed
        assert "replies go to From" in str(copy["X-Saraban-Reply-To-Note"])
        assert "การตอบกลับจะไปที่ผู้ส่ง (From)" in str(copy["X-Saraban-Reply-To-Note"])
        assert copy.keys()[0] == "Authentication-Results"  # still on top (RFC 8601)
    signed = _copy_of(d, gmail_id)
    assert str(signed["Reply-To"]) == f"director@{MINISTRY}" and signed["X-Saraban-Reply-To-Note"] is None


def test_s15_the_register_list_and_the_book_show_the_domain_the_letter_came_from(gw, tmp_path):
    """Session 15: `register list` cut จาก at 32 characters, so a quoted local part that
    reads as the ministry's address hid the forger's (verified) domain; the printed book
    showed a display name without an address ("กระทรวงมหาดไทย") alone."""
    import csv
    import io

    d = gw
    long_local = f'"saraban@{MINISTRY}-official-saraban-office"@{ATTACKER}'
    quoted = dkim_sign(with_header(letter(sender=f"saraban@{ATTACKER}", subject="S15 long local part"),
                                   "From", long_local), ATTACKER)
    named = dkim_sign(with_header(letter(sender=f"saraban@{ATTACKER}", subject="S15 name alone"),
                                  "From", f"=?utf-8?b?{base64.b64encode('กระทรวงมหาดไทย'.encode()).decode()}?= "
                                          f"<saraban@{ATTACKER}>"), ATTACKER)
    quoted_id = d.send(quoted, UNIT, sender=f"bounce@{ATTACKER}")
    named_id = d.send(named, UNIT, sender=f"bounce@{ATTACKER}")
    d.wait_idle()
    assert entry_for(d, quoted_id)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"
    assert entry_for(d, named_id)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"

    listing = d.cli("register", "list", "--unit", "saraban.latkrabang").stdout
    [line] = [x for x in listing.splitlines() if "S15 long local part" in x]
    assert f"@{ATTACKER}" in line, line
    out = tmp_path / "book.csv"
    d.cli("register", "export", "--unit", "saraban.latkrabang", "-o", str(out))
    book = {r["เรื่อง"]: r["จาก"] for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))}
    assert book["S15 name alone"] == f"กระทรวงมหาดไทย <saraban@{ATTACKER}>"
    assert book["S15 long local part"].endswith(f"@{ATTACKER}")


def test_s15_whose_reply_to_counts_and_how_an_address_is_shortened():
    from gateway.cli.table import clip_address
    from gateway.sender.results import DkimSignature, SenderAuth, reply_to_vouched

    def auth(*sigs: DkimSignature, status: str = "pass") -> dict:
        return SenderAuth(status=status, from_domain=MINISTRY, aligned_domain=MINISTRY, dkim=list(sigs)).as_dict()

    assert reply_to_vouched(auth(DkimSignature(MINISTRY, "s", "pass", signs_reply_to=True)))
    assert not reply_to_vouched(auth(DkimSignature(MINISTRY, "s", "pass")))  # as Microsoft 365 signs
    assert not reply_to_vouched(auth(DkimSignature(ATTACKER, "s", "pass", signs_reply_to=True)))
    assert not reply_to_vouched(auth(DkimSignature(MINISTRY, "s", "policy", signs_reply_to=True)))
    assert not reply_to_vouched(auth(DkimSignature(MINISTRY, "s", "pass", signs_reply_to=True), status="none"))
    assert not reply_to_vouched(None)
    shown = clip_address(f'"saraban@{MINISTRY}-official-saraban-office"@{ATTACKER}', 32)
    assert shown.endswith(f"…@{ATTACKER}") and len(shown) == 32
    assert clip_address(f"a@{'x' * 40}.example", 32) == f"…@{'x' * 40}.example"  # the domain whole
    assert clip_address(f"saraban@{MINISTRY}", 32) == f"saraban@{MINISTRY}"


def test_s16_a_read_receipt_request_stays_only_when_it_names_the_verified_sender(gw):
    """Session 16: Disposition-Notification-To added above a replayed, genuinely signed
    ministry letter stayed in the folder copy: the clerk's client told the forger when the
    letter was read. Kept only when it names the verified From itself."""
    d = gw
    forger = f"x@{ATTACKER}"
    replayed = f"Disposition-Notification-To: {forger}\r\n".encode() + dkim_sign(
        letter(sender=f"saraban@{MINISTRY}", subject="S16 receipt replayed"), MINISTRY)
    own = f"Disposition-Notification-To: saraban@{MINISTRY}\r\n".encode() + dkim_sign(
        letter(sender=f"saraban@{MINISTRY}", subject="S16 receipt own"), MINISTRY)
    replayed_id = d.send(replayed, UNIT, sender=f"bounce@{ATTACKER}")
    own_id = d.send(own, UNIT, sender=f"saraban@{MINISTRY}")
    d.wait_idle()
    assert entry_for(d, replayed_id)["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    copy = _copy_of(d, replayed_id)
    assert copy["Disposition-Notification-To"] is None
    assert str(copy["X-Saraban-Unsigned-Disposition-Notification-To"]) == forger
    kept = _copy_of(d, own_id)
    assert str(kept["Disposition-Notification-To"]) == f"saraban@{MINISTRY}" and kept["X-Saraban-Receipt-Note"] is None


def test_a_copy_registered_with_the_check_off_says_nobody_checked_its_sender(daemon):
    """Session 43's red team: with `[sender] enabled = false` the folder copy carried no
    Authentication-Results at all; a mail client verifying the ministry's DKIM signature
    on it (its Subject is the gateway's) saw it fail, and nothing in the copy said why,
    nor that the gateway had not checked the sender."""
    signed = dkim_sign(letter(sender=f"saraban@{MINISTRY}"), MINISTRY)
    queue_id = daemon.send(signed, UNIT)
    daemon.wait_idle(timeout=60)
    copy = _copy_of(daemon, queue_id)
    [results] = copy.get_all("Authentication-Results")
    assert results.startswith("saraban-gateway.localdomain; none (sender not checked"), results
    assert "DKIM signatures do not verify on this copy" in results
    assert copy["X-Saraban-Sender-Verified"] == "none; ยืนยันผู้ส่ง: ไม่ได้ตรวจ / not checked"
    # The ministry's own signature is still there, untouched, for whoever wants to look.
    assert copy["DKIM-Signature"] is not None
