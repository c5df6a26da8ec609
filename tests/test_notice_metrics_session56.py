"""/metrics counts a notice as sent only when it was (session 56, operations red team).

A gateway without a smarthost holds every notice (`notices release` sends them once one
is configured), and one that must not be answered (an auto-reply, a rate limit) is
suppressed. Both were counted `saraban_outbox_total{kind="notice",result="done"}` and
`saraban_notices_sent_total`: a sysadmin's dashboard showed two acknowledgements sent
while `outbox list` said both were held and the senders had nothing. They are now
counted under `result="held"` / `result="suppressed"`, and only a notice the smarthost
took counts as sent."""
from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _samples(http: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(http + "/metrics", timeout=30) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _notice(result: str) -> tuple[str, tuple]:
    return "saraban_outbox_total", (("kind", "notice"), ("result", result))


def test_held_notices_are_not_counted_as_sent(tmp_path):
    port = free_port()
    d = Daemon(write_config(tmp_path, extra=f"[http]\nenabled = true\nport = {port}\n")).start()
    try:
        d.send(letter(subject="ขอเชิญประชุม"), LATKRABANG)
        d.send(letter(subject="ขอส่งรายงาน"), LATKRABANG)
        d.wait_idle()
        assert d.cli("outbox", "list", "--kind", "notice", "--state", "held").stdout.count("held") >= 2
        values = _samples(f"http://127.0.0.1:{port}")
    finally:
        d.stop()
    assert values.get(("saraban_notices_sent_total", ()), 0) == 0, values
    assert values.get(_notice("done"), 0) == 0
    assert values[_notice("held")] == 2
    assert values[("saraban_outbox_total", (("kind", "folder"), ("result", "done")))] == 2  # filed, as before


def test_a_suppressed_notice_is_counted_as_such_and_a_sent_one_as_sent(tmp_path):
    sink = Sink(free_port()).start()
    port = free_port()
    d = Daemon(write_config(tmp_path, extra=notices_config(sink) + f"[http]\nenabled = true\nport = {port}\n")).start()
    try:
        d.send(letter(subject="ขอเชิญประชุม"), LATKRABANG)  # an ordinary letter: acknowledged
        auto = letter(subject="ขอส่งรายงาน", sender="clerk2@dds.example.go.th").replace(
            b"\r\nSubject:", b"\r\nAuto-Submitted: auto-replied\r\nSubject:", 1)
        assert b"Auto-Submitted" in auto
        d.send(auto, LATKRABANG, sender="clerk2@dds.example.go.th")  # never answered (RFC 3834)
        d.wait_idle()
        values = _samples(f"http://127.0.0.1:{port}")
    finally:
        d.stop()
        sink.stop()
    assert len(sink.received) == 1
    assert values[("saraban_notices_sent_total", ())] == 1
    assert values[_notice("done")] == 1
    assert values[_notice("suppressed")] == 1
