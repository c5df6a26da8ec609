"""A body saved as UTF-16 (Notepad's "Unicode") and sent as text/plain under no real
label (none, us-ascii, utf-8): the parser read its bytes as ASCII control characters,
so neither the DATA check nor the pipeline found its marking. A ลับที่สุด letter so
sent was taken with 250 (its plaintext in the spool, then held as an ordinary letter
without a document); a ลับมาก one would have been filed in plain. Its reader's client
shows Thai: a byte order mark is honoured over the label, and Notepad reads the bytes.
Now the body is read as UTF-16 too (gateway/pipeline/charsets.py `wide_text`)."""
from __future__ import annotations

import base64
import codecs
import smtplib

import pytest

from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, sealing_daemon

BODY = "{marking}\nเรื่อง แผนรักษาความปลอดภัย {marker}\nเรียน ผู้อำนวยการเขตลาดกระบัง\n\nเนื้อความ {marker}\n"


def wide_letter(marking: str, encoding: str, label: str, marker: str = MARKER) -> bytes:
    body = BODY.format(marking=marking, marker=marker).replace("\n", "\r\n")
    if encoding == "utf-16-le+bom":
        data = codecs.BOM_UTF16_LE + body.encode("utf-16-le")
    elif encoding == "utf-16-be+bom":
        data = codecs.BOM_UTF16_BE + body.encode("utf-16-be")
    else:
        data = body.encode(encoding)
    head = ("From: saraban.dds@bangkok.go.th\r\nTo: saraban.latkrabang@bangkok.go.th\r\n"
            f"Subject: {marker}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain{label}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n")
    return head.encode("ascii") + base64.encodebytes(data).replace(b"\n", b"\r\n")


@pytest.mark.parametrize("encoding, label", [("utf-16-le", ""), ("utf-16-be", "; charset=us-ascii"),
                                             ("utf-16-le+bom", "; charset=utf-8"), ("utf-16-be+bom", "")])
def test_a_wide_body_is_read_for_its_marking(encoding, label):
    from gateway.secrecy.markings import classify_raw

    assert classify_raw(wide_letter("ลับที่สุด", encoding, label)).level == "top_secret"
    assert classify_raw(wide_letter("ลับมาก", encoding, label)).level not in ("none", "top_secret")
    assert classify_raw(wide_letter("", encoding, label)).level == "none"


def test_an_ordinary_body_is_not_read_as_wide():
    from gateway.pipeline.charsets import may_be_wide, wide_text

    text = BODY.format(marking="", marker="x")
    assert not may_be_wide(text)
    assert wide_text(text.encode("utf-8")) is None and wide_text(text.encode("cp874")) is None


def test_over_smtp_a_wide_top_secret_body_is_refused_and_a_secret_one_sealed(tmp_path):
    with sealing_daemon(tmp_path) as d:
        with smtplib.SMTP("127.0.0.1", d.port, timeout=60) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("saraban.dds@bangkok.go.th", [LATKRABANG],
                                wide_letter("ลับที่สุด", "utf-16-le", "", marker="TOPSECRET-WIDE-55"))
        assert refused.value.smtp_code == 550 and b"top-secret" in refused.value.smtp_error
        queue_id = d.send(wide_letter("ลับมาก", "utf-16-le", ""), LATKRABANG)
        d.wait_idle()
        # A body and no PDF: held (no_document), and held sealed, as a ลับมาก letter.
        assert [q for q, in db_rows(d, "select queue_id from quarantine")] == [queue_id]
        assert (d.data_dir / "secret" / queue_id / "raw.sgv").read_bytes()[:4] == b"SGV1"
        assert files_containing(d.data_dir, MARKER) == []
        assert files_containing(d.data_dir, "TOPSECRET-WIDE-55") == []
