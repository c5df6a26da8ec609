#!/usr/bin/env python3
"""Regenerate examples/*.eml (run from the repository root). The letters quote the
seed circulars: ../shared/seeds/000_*.txt and 003_*.txt."""
from __future__ import annotations

import email
import email.policy
import re
import sys
from email.header import decode_header, make_header
from email.utils import formataddr, parseaddr
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.letters import letter, make_pdf  # noqa: E402

HERE = Path(__file__).resolve().parent

EXAMPLES = {
    "01-circular-to-latkrabang.eml": letter(
        to="saraban.latkrabang@bangkok.go.th",
        sender="saraban.ops.sec@bangkok.go.th",
        subject="ด่วนที่สุด การสมัครขอใช้งานโปรแกรมอีเล็กทรอนิกส์ของกรุงเทพมหานคร",
        body="ที่ กท.๐๔๐๗/ว.๕๗\nวันที่ ๑๓ มิถุนายน ๒๕๖๕\nเรื่อง การสมัครขอใช้งานโปรแกรมอีเล็กทรอนิกส์ของกรุงเทพมหานคร\n"
             "เรียน ผู้อำนวยการเขต\nสิ่งที่ส่งมาด้วย ๑. ตัวอย่างการกำหนดที่อยู่อีเมล\n๒. ตารางการสมัคร\n",
        files=[("2565_BMA_0407_57.pdf", make_pdf("cover letter 0407/57", filler=150_000)),
               ("2565_BMA_0407_57_1.pdf", make_pdf("enclosure 1")),
               ("2565_BMA_0407_57_2.pdf", make_pdf("enclosure 2"))],
        message_id="<example-01@ops.bangkok.go.th>",
    ),
    "02-to-two-units-badly-named.eml": letter(
        to="saraban.dindaeng@bangkok.go.th, saraban.dindaeng.edu@bangkok.go.th",
        subject="ขอเชิญประชุมคณะทำงานระบบสารบรรณอิเล็กทรอนิกส์",
        files=[("หนังสือเชิญประชุม.pdf", make_pdf("invitation"))],
        filename_style="rfc2047",
        message_id="<example-02@dds.bangkok.go.th>",
    ),
    "03-apple-mail-inline-pdf.eml": letter(
        subject="รายงานผลการดำเนินงาน",
        files=[("2569_dds_0403_276.pdf", make_pdf("report"))],
        filename_style="inline",
        message_id="<example-03@dds.bangkok.go.th>",
    ),
    "04-executable-disguised-as-pdf.eml": letter(
        subject="ใบแจ้งหนี้",
        files=[("2569_dds_0403_99.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200)],
        message_id="<example-04@dds.bangkok.go.th>",
    ),
}


def with_readable_from(raw: bytes) -> bytes:
    """The From header folded as RFC 5322 wants: only the display name encoded, the
    address outside it. tests.letters folds a long From with the compat32 policy, which
    encodes the address inside the encoded word: no sender address a mail server or the
    gateway can read, so the sender check (DMARC) held every example in quarantine
    ("the From header is not exactly one readable sender address") and README's "try it"
    showed an empty register."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    written = email.message_from_bytes(head + sep)["From"]
    name, address = parseaddr(str(make_header(decode_header(written))))
    folded = email.policy.SMTP.header_factory("From", formataddr((name, address))).fold(policy=email.policy.SMTP)
    head = re.sub(rb"^From:.*?\r\n(?![ \t])", lambda _m: folded.encode("ascii"), head + b"\r\n",
                  count=1, flags=re.M | re.S)[:-2]
    return head + sep + body


for name, raw in EXAMPLES.items():
    raw = with_readable_from(raw)
    (HERE / name).write_bytes(raw)
    print(name, len(raw), "bytes")
