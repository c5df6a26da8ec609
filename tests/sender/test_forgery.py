"""The red team's forgeries of a ministry letter (docs/sender-authenticity.md), end to end:
the real daemon over loopback SMTP and the loopback DNS server. Each letter is sent
once (module fixture); each test asserts what the register, the quarantine and the
folder copy show for one finding."""
from __future__ import annotations

import base64
import email
import email.policy
import json
import socket

import dkim
import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf, with_header
from tests.sender.test_daemon_sender import AUTHSERV, UNIT, sender_config
from tests.sender.zones import ATTACKER, FORWARDER, MINISTRY, SELECTOR, SIGNED_HEADERS, arc_seal, dkim_sign, key


def with_from(raw: bytes, value: bytes | None) -> bytes:
    """`raw` (a tests.letters letter) with its From replaced, or removed (None)."""
    return with_header(raw, "From", value)


def smtp_send(d: Daemon, raw: bytes, mail_from: str, helo: str = "mx.m0i-go.example",
              options: tuple[str, ...] = ()) -> str:
    with d.smtp() as client:
        client.ehlo(helo)
        code, text = client.mail(mail_from, options=list(options))
        assert code == 250, (code, text)
        code, text = client.rcpt(UNIT)
        assert code == 250, (code, text)
        code, text = client.data(raw)
        assert code == 250, (code, text)
    return text.decode().rsplit(" ", 1)[-1]


def socket_send(d: Daemon, raw: bytes, mail_from: str) -> str:
    """Over a plain socket: smtplib would turn a bare LF into CRLF."""
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    reader = sock.makefile("rb")

    def reply() -> bytes:
        lines = []
        while True:
            line = reader.readline()
            lines.append(line)
            if line[3:4] != b"-":
                return b"".join(lines)

    reply()
    for command in (b"EHLO x\r\n", f"MAIL FROM:<{mail_from}>\r\n".encode(), f"RCPT TO:<{UNIT}>\r\n".encode(),
                    b"DATA\r\n"):
        sock.sendall(command)
        reply()
    data = raw.replace(b"\r\n.", b"\r\n..")
    sock.sendall(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    answer = reply()
    sock.sendall(b"QUIT\r\n")
    sock.close()
    assert answer.startswith(b"250"), answer
    return answer.decode().split()[-1]


def forged(subject: str) -> bytes:
    return letter(sender=f"saraban@{MINISTRY}", subject=subject)


def sign_with_length(raw: bytes, domain: str) -> bytes:
    return dkim.sign(raw, SELECTOR.encode(), domain.encode(), key(domain).private_pem,
                     include_headers=SIGNED_HEADERS, length=True) + raw


HIDDEN = (b"X-First: 1\r\nX-Note: a\nAuthentication-Results: " + AUTHSERV.encode()
          + b"; dkim=pass header.d=moi.go.th; dmarc=pass header.from=moi.go.th"
          + b"\nX-Saraban-Sender-Verified: pass (moi.go.th); " + "ยืนยันผู้ส่ง: ผ่าน (moi.go.th)".encode() + b"\r\n")


@pytest.fixture(scope="module")
def sent(tmp_path_factory, dns_server):
    """Every forgery (and the genuine letters carrying forged headers) through one
    daemon; recheck_for is short so that a letter that waits for DNS ends in the register."""
    d = Daemon(write_config(tmp_path_factory.mktemp("forgery") / "gw",
                            extra=sender_config(dns_server.address, recheck_for="4.0"))).start()
    ids: dict[str, str] = {}
    attacker = f"bounce@{ATTACKER}"
    try:
        # F1: MAIL FROM without "@" (the forger's own domain, whose SPF allows it), HELO the ministry.
        ids["f1"] = smtp_send(d, forged("F1"), ATTACKER, helo=MINISTRY)
        # F2: encoded words inside the addr-spec: DMARC judged m0i-go.example.
        ids["f2a"] = smtp_send(d, dkim_sign(with_from(forged("F2a"), b"=?utf-8?q?saraban=40moi.go.th=2C?=@"
                                                      + ATTACKER.encode()), ATTACKER), attacker)
        ids["f2b"] = smtp_send(d, dkim_sign(with_from(forged("F2b"), b"=?utf-8?q?=3Csaraban=40moi.go.th=3E?= "
                                                      b"<=?x?=@" + ATTACKER.encode() + b">"), ATTACKER), attacker)
        # F3: a From that is not exactly one mailbox.
        ids["f3a"] = smtp_send(d, with_from(forged("F3a"), b"saraban@moi.go.th, undisclosed"), attacker)
        ids["f3b"] = smtp_send(d, with_from(forged("F3b"), b"saraban@moi.go.th <>"), attacker)
        ids["f3c"] = smtp_send(d, with_from(forged("F3c"), b"saraban@moi.go.th;x@" + ATTACKER.encode()), attacker)
        ids["f3d"] = smtp_send(d, with_from(forged("F3d"), b"=?utf-8?b?c2FyYWJhbkBtb2kuZ28udGg=?="), attacker)
        ids["f3_no_from"] = smtp_send(d, with_from(forged("F3 no From"), None), f"saraban@{MINISTRY}")
        ids["f3_homoglyph"] = smtp_send(d, with_from(forged("F3 homoglyph"), "saraban@m\u043ei.go.th".encode()),
                                        attacker, options=("SMTPUTF8",))
        # F4: a selector no DNS name can have: permerror, not a wait that ends in the register.
        bad = forged("F4")
        ids["f4"] = smtp_send(d, dkim.sign(bad, b"a" * 64, ATTACKER.encode(), key(ATTACKER).private_pem,
                                           include_headers=SIGNED_HEADERS) + bad, attacker)
        # F5: the forger seals ARC i=1 itself; the trusted forwarder honestly records dmarc=fail.
        first = arc_seal(forged("F5"), ATTACKER, ATTACKER,
                         f"spf=pass smtp.mailfrom={MINISTRY}; dkim=pass header.d={MINISTRY}; "
                         f"dmarc=pass header.from={MINISTRY}")
        ids["f5"] = smtp_send(d, arc_seal(first, FORWARDER, FORWARDER,
                                          f"arc=pass; spf=fail smtp.mailfrom={ATTACKER}; "
                                          f"dmarc=fail header.from={MINISTRY}"), f"bounces@{FORWARDER}")
        # F6: a genuine l= letter with a new top Content-Type and the forger's parts appended.
        genuine = sign_with_length(letter(sender=f"saraban@{MINISTRY}", subject="หนังสือเวียน"), MINISTRY)
        pdf = base64.encodebytes(make_pdf("FORGED ORDER")).replace(b"\n", b"\r\n")
        extra = (b"\r\n--EVIL\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                 + "คำสั่งด่วน: โอนเงินตามเอกสารแนบ".encode() + b"\r\n--EVIL\r\n"
                 b"Content-Type: application/pdf; name=order.pdf\r\n"
                 b"Content-Disposition: attachment; filename=order.pdf\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"--EVIL--\r\n")
        ids["f6_length"] = smtp_send(d, b'Content-Type: multipart/mixed; boundary="EVIL"\r\n' + genuine + extra,
                                     attacker)
        # F6: a genuine signed letter replayed with a second Date on top.
        replay = b"Date: Mon, 1 Jan 2024 09:00:00 +0700\r\n" + dkim_sign(forged("F6 replay"), MINISTRY)
        ids["f6_duplicate"] = smtp_send(d, replay, attacker)
        # F8: genuine letters carrying verdict headers in the gateway's name.
        commented = dkim_sign(forged("F8 comment"), MINISTRY)
        commented = (f"Authentication-Results: (x) {AUTHSERV}; dmarc=pass header.from={MINISTRY}\r\n"
                     f"Authentication-Results: {AUTHSERV}(x); dmarc=pass header.from={MINISTRY}\r\n"
                     f'Authentication-Results: "{AUTHSERV}"; dmarc=pass header.from={MINISTRY}\r\n').encode() + commented
        ids["f8_comment"] = smtp_send(d, commented, f"saraban@{MINISTRY}")
        ids["f8_bare_lf"] = socket_send(d, HIDDEN + dkim_sign(forged("F8 bare LF"), MINISTRY),
                                        f"saraban@{MINISTRY}")
        d.wait_idle(timeout=120)
        yield d, ids
    finally:
        d.stop()


def held(d: Daemon, queue_id: str) -> dict | None:
    entries = [q for q in json.loads(d.cli("quarantine", "list", "--json").stdout) if q["queue_id"] == queue_id]
    return entries[0] if entries else None


def assert_quarantined(d: Daemon, queue_id: str, words: str | None = None) -> dict:
    """Not in the register (nor "ผ่าน" anywhere); held for the sender check."""
    registered = [e for e in d.register() if e["queue_id"] == queue_id]
    assert registered == [], [e.get("sender_verified") for e in registered]
    entry = held(d, queue_id)
    assert entry is not None
    reasons = [r for r in entry["reasons"] if r["rule"] == "sender_authenticity"]
    assert reasons, entry["reasons"]
    assert reasons[0]["message_th"].startswith("ไม่สามารถยืนยันได้ว่าส่งจากหน่วยงานนี้จริง")
    if words:
        assert words in reasons[0]["message_en"], reasons[0]["message_en"]
    return entry


def show(d: Daemon, entry: dict) -> str:
    return d.cli("quarantine", "show", str(entry["id"])).stdout


def folder_copy(d: Daemon, queue_id: str) -> email.message.Message:
    [copy] = [p.read_bytes() for p in d.maildir_files("latkrabang") if queue_id.encode() in p.read_bytes()]
    return email.message_from_bytes(copy, policy=email.policy.default)


def test_f1_mail_from_without_at_never_aligns_with_the_helo_name(sent):
    d, ids = sent
    entry = assert_quarantined(d, ids["f1"])
    text = show(d, entry)
    assert "ไม่ผ่าน" in text and "spf=none" in text and "dmarc=fail" in text


@pytest.mark.parametrize("case", ["f2a", "f2b"])
def test_f2_encoded_words_in_the_address_are_an_unusable_from(sent, case):
    d, ids = sent
    assert_quarantined(d, ids[case], "not exactly one readable sender address")


@pytest.mark.parametrize("case", ["f3a", "f3b", "f3c", "f3d", "f3_no_from", "f3_homoglyph"])
def test_f3_a_from_that_is_not_one_mailbox_is_a_fail_never_none(sent, case):
    d, ids = sent
    entry = assert_quarantined(d, ids[case], "not exactly one readable sender address")
    assert "ไม่ผ่าน" in show(d, entry)


def test_f4_malformed_key_name_is_permerror_not_a_wait(sent):
    d, ids = sent
    entry = assert_quarantined(d, ids["f4"])
    assert f"{ATTACKER}=permerror" in show(d, entry)
    assert not [e for e in d.events() if e.get("event") == "sender_check_gave_up"]


def test_f5_only_the_trusted_sealers_own_results_count(sent):
    d, ids = sent
    entry = assert_quarantined(d, ids["f5"])
    assert "arc=pass" in show(d, entry)


def test_f6_l_tag_shorter_than_the_body_is_not_a_pass(sent):
    d, ids = sent
    entry = assert_quarantined(d, ids["f6_length"])
    assert f"{MINISTRY}=policy" in show(d, entry)


def test_f6_duplicated_singleton_header_is_not_verified(sent):
    d, ids = sent
    assert_quarantined(d, ids["f6_duplicate"], "the header repeats date")


def test_f8_forged_results_with_comments_or_quotes_are_removed_from_the_folder_copy(sent):
    d, ids = sent
    [entry] = [e for e in d.register() if e["queue_id"] == ids["f8_comment"]]
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({MINISTRY})"
    copy = folder_copy(d, ids["f8_comment"])
    results = [str(v) for v in copy.get_all("Authentication-Results")]
    assert len(results) == 1 and results[0].startswith(f"{AUTHSERV};")


def test_f8_headers_behind_a_bare_lf_are_removed_from_the_folder_copy(sent):
    d, ids = sent
    copy = folder_copy(d, ids["f8_bare_lf"])
    results = [str(v) for v in copy.get_all("Authentication-Results")]
    assert len(results) == 1 and results[0].startswith(f"{AUTHSERV};")
    [verified] = [str(v) for v in copy.get_all("X-Saraban-Sender-Verified")]
    [entry] = [e for e in d.register() if e["queue_id"] == ids["f8_bare_lf"]]
    assert verified.endswith(entry["sender_verified"])
