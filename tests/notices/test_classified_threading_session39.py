"""Session 39's red team: the acknowledgement of a ลับ letter was queued with the whole
References header the sender wrote (up to 20 ids, each the sender's own text), kept in
plain in the outbox (the register's database and its -wal) and sent back in the notice.
docs/secrecy.md says the queued record of a classified letter keeps only the From's
address and the loop guard's reason. Now its notice is threaded by the letter's own
Message-ID alone."""
from __future__ import annotations

from tests.classified.helpers import LATKRABANG, add_registrar, files_containing, make_gateway_key
from tests.letters import letter
from tests.notices.conftest import notices_config

CANARY = "ZQXJ-REFS-7731-KPLV"


def _daemon(daemon_factory, sink):
    d = daemon_factory(extra=notices_config(sink))
    make_gateway_key(d)
    add_registrar(d)
    return d.start()


def _threaded(subject: str) -> bytes:
    return letter(subject=subject, message_id="<own-39@dds.bangkok.go.th>",
                  extra_headers={"References": f"<{CANARY}.a@dds.bangkok.go.th> <{CANARY}.b@x.example>",
                                 "In-Reply-To": f"<{CANARY}.b@x.example>"})


def test_a_classified_letters_notice_threads_by_its_own_message_id_only(daemon_factory, sink):
    d = _daemon(daemon_factory, sink)
    d.send(_threaded("ลับ เรื่องการสอบสวนข้อเท็จจริงกรณีพิเศษ"), LATKRABANG)
    [got] = sink.wait(1)
    assert got.message["In-Reply-To"] == "<own-39@dds.bangkok.go.th>"
    assert got.message["References"] == "<own-39@dds.bangkok.go.th>"
    assert CANARY not in got.data.decode("utf-8", "replace")
    d.wait_idle()
    assert files_containing(d.data_dir, CANARY) == []


def test_an_ordinary_letters_notice_keeps_the_thread(daemon_factory, sink):
    d = _daemon(daemon_factory, sink)
    d.send(_threaded("ขอเชิญประชุม"), LATKRABANG)
    [got] = sink.wait(1)
    assert got.message["References"].split() == [f"<{CANARY}.a@dds.bangkok.go.th>", f"<{CANARY}.b@x.example>",
                                                 "<own-39@dds.bangkok.go.th>"]
