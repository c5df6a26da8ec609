"""Session 15's red team on sender authenticity (docs/sender-authenticity.md), through
the real daemon, the loopback DNS server and, for the IMAP intake, the real Dovecot:

* S15-1: a signature whose h= leaves out Content-Type, Date or Message-ID. A genuine
  ministry letter that forwarded a complaint (message/rfc822) was replayed with a new
  top Content-Type naming the complaint's boundary: the complaint's text and PDF were
  registered as the ministry's letter, "ยืนยันผู้ส่ง: ผ่าน (moi.go.th)". Signatures made
  as Gmail (no Content-Type in h=) and Microsoft 365 (no To) make them still pass.
* S15-2: the IMAP intake believed the topmost Authentication-Results in the mail
  server's name; the sender wrote one above the server's own (a server that does not
  put its own on top), claiming SPF pass: a forged ministry letter was "ผ่าน".
* S15-3: a header line dkimpy cannot split (": 1", which the mail parser skips) made the check raise before any
  signature was read: "DNS did not answer", a wait, then the forged ministry letter
  was registered with a warning instead of being held.
* S15-4: the printed book and the CSV show a sender's display name alone under จาก: a
  forger's own verified domain under the display name "saraban@moi.go.th" read there
  as the ministry.
* S15-5: a header line ending in a bare CR: the mail parser ends the line there, dkimpy
  does not, so "X-A: 1<CR>Subject: ..." added a Subject the register read as the mail
  subject and the signature check never saw: a forged Subject on a genuine untitled
  ministry letter was "ผ่าน".
"""
from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass
from email.mime.message import MIMEMessage

import dkim
import pytest

from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config
from tests.letters import letter, make_pdf, with_header
from tests.sender.test_daemon_sender import UNIT, sender_config
from gateway.sender.policy import FORGED_TH
from tests.sender.test_forgery import show, smtp_send, socket_send
from tests.sender.zones import ATTACKER, MINISTRY, NO_DMARC, SELECTOR, SIGNED_HEADERS, dkim_sign, key

UPSTREAM = "mx.bangkok.go.th"  # the BMA's mail server in front of the central mailbox
FORGED_ORDER = "คำสั่งด่วน: โอนงบประมาณตามเอกสารแนบ"


def sign_without(raw: bytes, domain: str, *left_out: bytes) -> bytes:
    signed = [h for h in SIGNED_HEADERS if h not in left_out]
    return dkim.sign(raw, SELECTOR.encode(), domain.encode(), key(domain).private_pem,
                     include_headers=signed) + raw


def forwarded_complaint() -> tuple[bytes, bytes]:
    """(the ministry's genuine letter forwarding a complaint as message/rfc822, the
    complaint's own boundary). The complaint is the forger's: its parts are a text and
    a PDF of the forger's choosing."""
    complaint = letter(sender=f"citizen@{ATTACKER}", subject="ร้องเรียน", body=FORGED_ORDER,
                       files=[("order.pdf", make_pdf("FORGED ORDER"))])
    inner = email.message_from_bytes(complaint, policy=email.policy.SMTP)
    outer = email.message_from_bytes(letter(sender=f"saraban@{MINISTRY}", subject="ส่งเรื่องร้องเรียนเพื่อพิจารณา",
                                            files=[]), policy=email.policy.SMTP)
    outer.attach(MIMEMessage(inner))
    return outer.as_bytes(policy=email.policy.SMTP), inner.get_boundary().encode()


@pytest.fixture(scope="module")
def mailbox(dovecot):
    name, password = "s15sender", "pw-s15sender"
    dovecot.add_user(name, password)
    return name, password


@dataclass
class Seen:
    """What the register and the quarantine showed once every letter was through: read
    once, as each `register list` or `quarantine list` is a process of its own."""
    d: Daemon
    ids: dict[str, str]
    register: list[dict]
    held: list[dict]

    def registered(self, queue_id: str) -> dict | None:
        return next((e for e in self.register if e["queue_id"] == queue_id), None)

    def held_for_sender(self, queue_id: str, words: str = "") -> dict:
        """Not registered; held for the sender check, with `words` in the English reason
        (the Thai one says the agency cannot be verified)."""
        assert self.registered(queue_id) is None, self.registered(queue_id)["sender_verified"]
        [entry] = [q for q in self.held if q["queue_id"] == queue_id]
        [reason] = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"]
        assert reason["message_th"].startswith(FORGED_TH), reason["message_th"]
        assert words in reason["message_en"], reason["message_en"]
        return entry


@pytest.fixture(scope="module")
def seen(tmp_path_factory, dns_server, dovecot, mailbox):
    """Every letter through one daemon that takes mail over SMTP and from the central
    mailbox; recheck_for is short so that a letter waiting for DNS ends in the register."""
    user, password = mailbox
    # S15-2 first: the BMA's server put these into the central mailbox.
    own = f"Authentication-Results: {UPSTREAM}; spf=fail smtp.mailfrom=bounce@{ATTACKER}\r\n".encode()
    claimed = f"Authentication-Results: {UPSTREAM}; spf=pass smtp.mailfrom=saraban@{MINISTRY}\r\n".encode()
    dovecot.deliver(user, claimed + own + letter(sender=f"saraban@{MINISTRY}", subject="S15-2 above"))
    dovecot.deliver(user, claimed + letter(sender=f"saraban@{MINISTRY}", subject="S15-2 control"))
    extra = (sender_config(dns_server.address, recheck_for="4.0", upstream_authserv_ids=f'["{UPSTREAM}"]')
             + intake_config(dovecot, user, password))
    d = Daemon(write_config(tmp_path_factory.mktemp("s15") / "gw", extra=extra)).start()
    ids: dict[str, str] = {}
    attacker = f"bounce@{ATTACKER}"
    try:
        genuine, boundary = forwarded_complaint()
        signed = sign_without(genuine, MINISTRY, b"content-type")
        ids["s15_1_content_type"] = smtp_send(
            d, with_header(signed, "Content-Type", b'multipart/mixed; boundary="' + boundary + b'"'), attacker)
        dated = sign_without(letter(sender=f"saraban@{MINISTRY}", subject="S15-1 date"), MINISTRY,
                             b"to", b"date", b"message-id")
        ids["s15_1_date"] = smtp_send(d, with_header(dated, "Date", "Mon, 1 Jan 2024 09:00:00 +0700"), attacker)
        no_dmarc = sign_without(letter(sender=f"saraban@{NO_DMARC}", subject="S15-1 no DMARC"), NO_DMARC,
                                b"date")
        ids["s15_1_no_dmarc"] = smtp_send(d, no_dmarc, f"saraban@{NO_DMARC}")
        # As Gmail and Google Workspace sign (h= without Content-Type and MIME-Version) and
        # as Microsoft 365 signs (without To): genuine letters of most agencies.
        ids["s15_1_as_gmail"] = smtp_send(d, sign_without(letter(sender=f"saraban@{MINISTRY}", subject="S15-1 gmail"),
                                                          MINISTRY, b"content-type", b"mime-version"), attacker)
        ids["s15_1_as_m365"] = smtp_send(d, sign_without(letter(sender=f"saraban@{MINISTRY}", subject="S15-1 m365"),
                                                         MINISTRY, b"to"), attacker)
        ids["s15_1_control"] = smtp_send(d, dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="S15-1 control"),
                                                      MINISTRY), attacker)
        head, _, body = dkim_sign(letter(sender=f"saraban@{MINISTRY}", subject="S15-3"), MINISTRY).partition(b"\r\n\r\n")
        ids["s15_3_unsplittable"] = smtp_send(d, head + b"\r\n: 1\r\n\r\n" + body, attacker)
        # S15-4: the forger's own, fully authenticated domain, under a display name that is the ministry's address.
        shown_as = with_header(letter(sender=f"saraban@{ATTACKER}", subject="S15-4"), "From",
                               f'"saraban@{MINISTRY}" <saraban@{ATTACKER}>')
        ids["s15_4_display_name"] = smtp_send(d, dkim_sign(shown_as, ATTACKER), attacker)
        # S15-5: a Subject behind a bare CR, on a genuine letter that had none (over a plain
        # socket: smtplib would turn the CR into CRLF).
        untitled = dkim_sign(with_header(letter(sender=f"saraban@{MINISTRY}", subject="S15-5"), "Subject", None),
                             MINISTRY)
        ids["s15_5_bare_cr"] = socket_send(d, b"X-A: 1\rSubject: " + FORGED_ORDER.encode() + b"\r\n" + untitled,
                                           attacker)
        d.wait_for(lambda: sum(1 for e in d.events() if e.get("event") == "imap_message_spooled") >= 2,
                   timeout=60, what="both letters taken from the mailbox")
        d.wait_idle(timeout=120)
        yield Seen(d, ids, d.register(), json.loads(d.cli("quarantine", "list", "--json").stdout))
    finally:
        d.stop()


def test_s15_1_a_new_content_type_on_a_signature_that_left_it_out_is_held(seen):
    entry = seen.held_for_sender(seen.ids["s15_1_content_type"],
                                 "does not sign Content-Type, and this letter's Content-Type cuts the signed body")
    reason = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"][0]
    assert "ลายมือชื่อไม่ครอบคลุมหัวจดหมาย Content-Type และ Content-Type ของหนังสือฉบับนี้" in reason["message_th"]
    assert (f"{MINISTRY}=policy (h= does not cover Content-Type, and the letter's Content-Type cuts the signed "
            f"body elsewhere)") in show(seen.d, entry)


def test_s15_1_date_and_message_id_must_be_signed_to_need_not(seen):
    seen.held_for_sender(seen.ids["s15_1_date"], "does not sign Date, Message-ID,")


def test_s15_1_letters_signed_as_gmail_and_microsoft_365_sign_them_pass(seen):
    for name in ("s15_1_as_gmail", "s15_1_as_m365"):
        entry = seen.registered(seen.ids[name])
        assert entry is not None and entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})", name


def test_s15_1_an_agency_without_dmarc_is_told_why_its_signature_does_not_count(seen):
    entry = seen.registered(seen.ids["s15_1_no_dmarc"])
    assert entry is not None and entry["sender_verified"] == f"ยืนยันผู้ส่ง: ไม่มีข้อมูล ({NO_DMARC})"
    [finding] = [f for f in entry["findings"] if f["rule"] == "sender_authenticity"]
    assert finding["verdict"] == "warn"
    assert f"ลายมือชื่อ DKIM ของ {NO_DMARC} ใช้ยืนยันไม่ได้" in finding["message_th"]
    assert "does not sign Date," in finding["message_en"]


def test_s15_1_a_letter_signed_as_a_mail_server_signs_still_passes(seen):
    entry = seen.registered(seen.ids["s15_1_control"])
    assert entry is not None and entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"


def test_s15_2_a_second_upstream_result_in_the_servers_name_is_not_believed(seen):
    assert [q["subject"] for q in seen.held if q["subject"] == "S15-2 above"] == ["S15-2 above"]
    assert not [e for e in seen.register if e.get("mail_subject") == "S15-2 above"]
    [control] = [e for e in seen.register if e.get("mail_subject") == "S15-2 control"]
    assert control["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"


def test_s15_3_a_header_line_dkimpy_cannot_split_is_held_at_once(seen):
    seen.held_for_sender(seen.ids["s15_3_unsplittable"])
    assert not [e for e in seen.d.events() if e.get("event") == "sender_check_waiting"]


def test_s15_4_a_display_name_holding_an_address_is_shown_with_the_real_one(seen, tmp_path):
    import csv
    import io

    entry = seen.registered(seen.ids["s15_4_display_name"])
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"
    out = tmp_path / "book.csv"
    seen.d.cli("register", "export", "--unit", "saraban.latkrabang", "-o", str(out))
    [row] = [r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))) if r["เรื่อง"] == "S15-4"]
    assert row["จาก"] == f"saraban@{MINISTRY} <saraban@{ATTACKER}>"
    assert f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})" in row["หมายเหตุ"]


def test_s15_5_a_field_behind_a_bare_cr_is_not_verified(seen):
    seen.held_for_sender(seen.ids["s15_5_bare_cr"], "bare CR")


def test_s15_6_a_letter_that_breaks_the_check_is_held_not_waited_out(monkeypatch):
    """A header that trips a library inside the check raised on every try; the pipeline
    took it for a DNS outage, waited `recheck_for` and registered the letter "no
    information" with a warning, for any domain. It is a failure now, held whatever the
    domain's settings (the sender red team found no such header left: the failure is
    forced here)."""
    from gateway.sender import check
    from gateway.sender.policy import finding_for
    from gateway.sender.settings import SenderSection
    from tests.sender.test_checks import _entry

    def trips(*args, **kwargs):
        raise IndexError("a library tripping over the header")

    monkeypatch.setattr(check, "check_message", trips)
    settings = SenderSection()  # on_fail = "warn": the default for unknown domains
    auth = check.PipelineChecker(None, settings).settle(  # no lookup: the check is replaced
        _entry(letter(sender=f"saraban@{MINISTRY}"), "127.0.0.1:4000"))
    assert (auth.status, auth.from_domain) == ("fail", MINISTRY)
    finding = finding_for(auth, settings)
    assert finding.verdict == "fail"
    assert finding.message_th.startswith(FORGED_TH) and "อ่านหัวจดหมาย" in finding.message_th
    assert f"could not read this letter's header, so nothing confirms it came from {MINISTRY}" in finding.message_en
    assert "IndexError" not in finding.message_en + finding.message_th
