"""Session 16: what the operator's command line and the gateway's mail tell a person.

One daemon for the module (notices to a local SMTP sink, saraban.latkrabang filed into
the suite's real Dovecot over IMAP, the other units by Maildir):

* `reprocess` closed every unit's quarantine entry of a letter held for several units;
  it now names the units and decides only the one given with --unit;
* a notice named a file by replacing its name in the rule's sentence: a file called
  "PDF", "the" or "1" garbled the sender's Thai and English;
* a read-receipt request added to a letter stayed live in the clerk's copy, so the
  clerk's client answered whoever it named;
* a letter S/MIME-signed by Outlook or Thunderbird as smime.p7m (opaque) was held for
  its own signature by allowed_types.
"""
from __future__ import annotations

import base64
import email
import email.policy
import json

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.imap_helpers import delivery_config, folder_messages
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.pki import build_pki, make_smime

DINDAENG = "saraban.dindaeng@bangkok.go.th"
POMPRAP = "saraban.pomprap@bangkok.go.th"
LATKRABANG = "saraban.latkrabang@bangkok.go.th"
EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
COVER = "2569_dds_0403_57.pdf"


@pytest.fixture(scope="module")
def sink16():
    s = Sink(free_port()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def imap_account(dovecot):
    name, password = "s16operator", "pw-s16operator"
    dovecot.add_user(name, password)
    return name, password


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink16, dovecot, imap_account):
    extra = notices_config(sink16) + delivery_config(dovecot, *imap_account)
    d = Daemon(write_config(tmp_path_factory.mktemp("s16"), extra=extra)).start()
    yield d
    d.stop()


def held(d: Daemon) -> list[dict]:
    return json.loads(d.cli("quarantine", "list", "--json").stdout)


def notice_for(d: Daemon, sink: Sink, message_id: str) -> str:
    [got] = d.wait_for(lambda: [m for m in sink.messages() if m.message["In-Reply-To"] == message_id],
                       what=f"the notice answering {message_id}")
    return got.message.get_body(("plain",)).get_content()


def test_reprocess_of_a_letter_held_for_two_units_names_them_and_decides_only_the_one_given(gw):
    queue_id = gw.send(letter(files=[(COVER, make_pdf("cover")), ("setup.exe", EXE)]), [DINDAENG, POMPRAP])
    gw.wait_idle()
    before = {q["unit"]: q["id"] for q in held(gw) if q["queue_id"] == queue_id}
    assert set(before) == {"saraban.dindaeng", "saraban.pomprap"}

    # Without --unit the command would decide for both units: refused, in both languages.
    refused = gw.cli("reprocess", queue_id, "--reason", "นโยบายเปลี่ยน", check=False)
    assert refused.returncode == 1, refused.stdout
    assert "held for several units (saraban.dindaeng, saraban.pomprap)" in refused.stderr
    assert "--unit" in refused.stderr and "ระบุหน่วยงานด้วย --unit" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    unknown = gw.cli("reprocess", queue_id, "--unit", "saraban.latkrabang", check=False)
    assert unknown.returncode == 1
    assert "not held for saraban.latkrabang; it is held for: saraban.dindaeng, saraban.pomprap" in unknown.stderr
    assert {q["unit"]: q["id"] for q in held(gw) if q["queue_id"] == queue_id} == before

    done = gw.cli("reprocess", queue_id, "--unit", DINDAENG, "--reason", "นโยบายเปลี่ยน")
    assert f"{queue_id} (was quarantined)" in done.stdout
    after = {q["unit"]: q["id"] for q in held(gw) if q["queue_id"] == queue_id}
    # Pom Prap's entry is the one it was; Din Daeng's was decided again (held again: an .exe).
    assert after["saraban.pomprap"] == before["saraban.pomprap"]
    assert after["saraban.dindaeng"] != before["saraban.dindaeng"]
    assert "saraban.pomprap@bangkok.go.th" not in done.stdout
    assert f"left as they were: saraban.pomprap (quarantine entry {before['saraban.pomprap']})" in done.stdout
    assert f"quarantine entry {after['saraban.dindaeng']} (saraban.dindaeng)" in done.stdout
    every = gw.cli("reprocess", queue_id, "--all-units", "--reason", "ทั้งสองหน่วย")
    assert "saraban.pomprap" in every.stdout and "saraban.dindaeng" in every.stdout


def test_notices_name_files_called_pdf_the_and_1_by_their_place_without_garbling(gw, sink16):
    rejected_id = "<s16-reject@dds.bangkok.go.th>"
    gw.send(letter(message_id=rejected_id, files=[(COVER, make_pdf("cover")), ("PDF", EXE)]), DINDAENG)
    text = notice_for(gw, sink16, rejected_id)
    assert "ไฟล์แนบที่ 2 เป็นโปรแกรมหรือสคริปต์ ซึ่งรับไม่ได้ กรุณาส่งเฉพาะหนังสือและเอกสารแนบเป็น PDF" in text
    assert "attached file 2 is a program or script and cannot be accepted; " \
           "send only the letter and its enclosures as PDF" in text

    acknowledged_id = "<s16-ack@dds.bangkok.go.th>"
    gw.send(letter(message_id=acknowledged_id, files=[(COVER, make_pdf("cover")), ("the", make_pdf("a")),
                                                      ("1", make_pdf("b"))]), DINDAENG)
    text = notice_for(gw, sink16, acknowledged_id)
    assert "the file name attached file 2 does not follow the naming rule (it has 1 part where 4 are needed" in text
    assert "ชื่อไฟล์ ไฟล์แนบที่ 3 ไม่เป็นไปตามหลักเกณฑ์ (มี 1 ส่วน แต่ต้องมี 4 ส่วน" in text
    assert "the file name attached file 3 does not follow the naming rule (it has 1 part where" in text


def test_a_read_receipt_request_in_a_letter_is_not_live_in_the_clerks_copy(gw, dovecot, imap_account):
    """Neither the Maildir copy nor the one filed into Dovecot asks the clerk's client for a
    receipt to the address the letter named; the address stays readable, renamed."""
    stranger = "watcher@example.org"
    headers = {"Disposition-Notification-To": stranger, "Return-Receipt-To": stranger,
               "X-Confirm-Reading-To": f"=?utf-8?b?{base64.b64encode('ผู้ส่ง'.encode()).decode()}?= <{stranger}>"}
    raw = letter(subject="S16 ขอตอบรับการอ่าน", extra_headers=headers)
    maildir_id = gw.send(raw, DINDAENG)
    imap_id = gw.send(raw.replace(b"S16", b"S16 IMAP"), LATKRABANG)
    gw.wait_idle()
    [maildir] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                 for p in gw.maildir_files("dindaeng") if maildir_id.encode() in p.read_bytes()]
    [imap] = [m for _, m in folder_messages(dovecot, imap_account[0], "Saraban/latkrabang")
              if m["X-Saraban-Queue-Id"] == imap_id]
    for copy in (maildir, imap):
        assert copy["Disposition-Notification-To"] is None
        assert copy["Return-Receipt-To"] is None and copy["X-Confirm-Reading-To"] is None
        assert str(copy["X-Saraban-Unsigned-Disposition-Notification-To"]) == stranger
        assert stranger in str(copy["X-Saraban-Unsigned-X-Confirm-Reading-To"])
        assert "no receipt is asked for" in str(copy["X-Saraban-Receipt-Note"])
        assert "ไม่ได้ใช้คำขอตอบรับการอ่าน" in str(copy["X-Saraban-Receipt-Note"])


def test_an_opaque_signed_letter_is_not_held_for_its_own_smime_p7m(gw, tmp_path_factory):
    """Outlook and Thunderbird sign a letter with its PDF as one smime.p7m
    (application/pkcs7-mime; smime-type=signed-data): that file is the signature."""
    pki = build_pki(tmp_path_factory.mktemp("pki16"))
    pdf = base64.encodebytes(make_pdf("หนังสือ")).replace(b"\n", b"\r\n")
    inner = (b'Content-Type: multipart/mixed; boundary="b16"\r\n\r\n--b16\r\n'
             b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             + "เรียน ผู้อำนวยการเขตดินแดง\r\n".encode() + b"\r\n--b16\r\n"
             b'Content-Type: application/pdf; name="2569_dds_0403_58.pdf"\r\n'
             b'Content-Disposition: attachment; filename="2569_dds_0403_58.pdf"\r\n'
             b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"\r\n--b16--\r\n")
    headers = {"From": "saraban.dds@bangkok.go.th", "To": DINDAENG, "Subject": "S16 opaque signed",
               "Message-ID": "<s16-opaque@dds.bangkok.go.th>", "Date": "Mon, 30 Nov 2026 10:00:00 +0700"}
    ids = [gw.send(make_smime(pki, detached=detached, inner=inner, headers=headers), DINDAENG)
           for detached in (False, True)]
    gw.wait_idle()
    registered = {e["queue_id"] for e in gw.register("--unit", "saraban.dindaeng")}
    assert set(ids) <= registered, [q["reasons"] for q in held(gw) if q["queue_id"] in ids]


def test_a_unit_named_as_the_stamp_writes_it_or_unknown_is_answered_not_listed_empty(gw):
    """A new clerk types the unit's Thai name (or a misspelt address): `register list` and
    `quarantine list` printed an empty table and "0 letter(s)" with exit code 0, as if the
    unit had received nothing."""
    gw.send(letter(subject="S16 ดินแดง"), DINDAENG)
    gw.wait_idle()
    thai = gw.cli("register", "list", "--unit", "สำนักงานเขตดินแดง")
    assert "S16 ดินแดง" in thai.stdout and "saraban.dindaeng" in thai.stdout
    for command in ("register", "quarantine"):
        wrong = gw.cli(command, "list", "--unit", "saraban.dinduang", check=False)
        assert wrong.returncode == 1, (command, wrong.stdout)
        assert 'unknown unit "saraban.dinduang": not in the unit directory' in wrong.stderr
        assert 'ไม่พบหน่วยงาน "saraban.dinduang" ในทำเนียบหน่วยงาน' in wrong.stderr
        assert "0 letter(s)" not in wrong.stdout and "Traceback" not in wrong.stderr


def test_notice_preview_shows_the_lines_and_sender_as_a_mail_client_does(tmp_path):
    """`notices preview` ended every line with "?" (the text's CR, made visible on a
    terminal) and showed the unit's Thai name with a space inside ("สำนักงานเขตลาด
    กระบัง"): the email package's address parser, not what a mail client shows."""
    from tests.tools_helpers import cli

    shown = cli(write_config(tmp_path), "notices", "preview", "reject")
    assert shown.returncode == 0, shown.stderr
    assert "?" not in shown.stdout and "เหตุผลและวิธีแก้ไข:\n" in shown.stdout
    assert "From: สำนักงานเขตลาดกระบัง <saraban.latkrabang@bangkok.go.th>" in shown.stderr
