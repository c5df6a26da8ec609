"""Session 39's SMTP red team: a ลับมาก subject or body in UTF-16 under a label Python does
not know (`unicode`, `csunicode`, `ucs-2`, `iso-10646-ucs-2`, `unicodefffe`: WHATWG's and
Windows' names for UTF-16, which a client decodes) read as no Thai: the letter was
registered ordinary and filed in plain."""
from __future__ import annotations

import base64

import pytest

from gateway.secrecy.markings import classify_raw

TEXT = "ลับมาก แผนงบประมาณ"


def _letter(subject: str, body_label: str, body: bytes) -> bytes:
    return ("From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            f"Subject: {subject}\r\nMessage-ID: <u16-39@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={body_label}\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() \
        + base64.encodebytes(body).replace(b"\n", b"\r\n")


LABELS = {"unicode": "utf-16-le", "csunicode": "utf-16-le", "ucs-2": "utf-16-le",
          "iso-10646-ucs-2": "utf-16-le", "unicodefffe": "utf-16-be"}


@pytest.mark.parametrize("label", LABELS)
def test_a_marking_in_utf16_under_another_label_is_read_in_the_subject_and_the_body(label):
    data = TEXT.encode(LABELS[label])
    subject = f"=?{label}?B?{base64.b64encode(data).decode()}?="
    assert classify_raw(_letter(subject, "utf-8", "เรียน ผู้อำนวยการ\r\n".encode())).level == "secret", label
    assert classify_raw(_letter("plan", label, (TEXT + "\r\n").encode(LABELS[label]))).level == "secret", label
