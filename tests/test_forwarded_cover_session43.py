"""A letter that forwards an earlier letter as an attachment (message/rfc822), through
the real daemon: SMTP in, the register, the clerk's copy with its receive stamp, the
acknowledgement to the sender (red team deliv43, run_forward_cover.py).

Until session 43 the PDF inside the forwarded message, first in mail order, was taken
for the cover letter: the register held the old letter's ที่, เรื่อง and date, the copy
was titled with the old เรื่อง, the stamp went on the old letter and the sender's
acknowledgement confirmed the old เรื่อง."""
from __future__ import annotations

import email
import email.policy
import time
import uuid

import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.rules.test_forwarded_cover import NEW, NEW_NAME, OLD, OLD_NAME, _message, _pdf, forwarded, old_letter

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture(scope="module")
def sink():
    s = Sink(free_port()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink):
    extra = "[signatures]\nstamp = true\n" + notices_config(sink)
    d = Daemon(write_config(tmp_path_factory.mktemp("forwarded"), extra=extra)).start()
    yield d
    d.stop()


def _send(gw: Daemon, subject: str, *parts) -> tuple[str, str]:
    msg = _message(subject, "เรียน ผู้อำนวยการเขตลาดกระบัง ส่งหนังสือ พร้อมหนังสือเดิมที่อ้างถึง", *parts)
    message_id = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    msg["Message-ID"] = message_id
    return gw.send(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), LATKRABANG), message_id


def _filed(gw: Daemon, queue_id: str):
    gw.wait_idle()
    entry = next(e for e in gw.register() if e["queue_id"] == queue_id)
    [path] = [p for p in gw.maildir_files("latkrabang") if p.name.startswith(queue_id)]
    copy = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    files = {p.get_filename(): p.get_payload(decode=True) for p in copy.walk()
             if not p.is_multipart() and p.get_content_disposition() == "attachment"}
    return entry, copy, files


def _acknowledgement(sink: Sink, message_id: str):
    """The notice that answers the letter `message_id` (its In-Reply-To)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [m.message for m in sink.messages("saraban.dds@bangkok.go.th")
                 if m.message["In-Reply-To"] == message_id]
        if found:
            [ack] = found
            return ack
        time.sleep(0.05)
    raise AssertionError(f"no notice answered {message_id}")


def test_the_new_letter_is_registered_and_stamped_not_the_old_one_it_forwards(gw, sink):
    queue_id, message_id = _send(gw, "ขอเชิญประชุมคณะทำงาน", forwarded(old_letter()), _pdf(NEW_NAME, NEW))
    entry, copy, files = _filed(gw, queue_id)
    assert (entry["reference"], entry["subject"], entry["letter_date"]) == \
        ("กท 0407/ว 57", "ขอเชิญประชุมคณะทำงาน", "2025-12-22")
    assert copy["Subject"] == f"[รับ {entry['receive_no']}] ขอเชิญประชุมคณะทำงาน"
    assert copy["X-Saraban-Stamp"] == "stamped: 2568_dds_0407_57.stamped.pdf"
    assert files[NEW_NAME] == NEW and "2568_dds_0407_57.stamped.pdf" in files
    assert "2568_cgd_0301_1234.stamped.pdf" not in files
    ack = _acknowledgement(sink, message_id)
    assert "ขอเชิญประชุมคณะทำงาน" in ack["Subject"] and "ขอข้อมูลงบประมาณปีเก่า" not in ack["Subject"]


def test_a_letter_whose_only_pdf_is_the_forwarded_one_is_registered_and_stamped_from_it(gw, sink):
    queue_id, message_id = _send(gw, "ส่งต่อหนังสือ", forwarded(old_letter()))
    entry, copy, files = _filed(gw, queue_id)
    assert (entry["reference"], entry["subject"], entry["letter_date"]) == \
        ("กท 0301/1234", "ขอข้อมูลงบประมาณปีเก่า", "2025-01-15")
    assert copy["X-Saraban-Stamp"] == "stamped: 2568_cgd_0301_1234.stamped.pdf"
    assert files[OLD_NAME] == OLD
    assert "ขอข้อมูลงบประมาณปีเก่า" in _acknowledgement(sink, message_id)["Subject"]
