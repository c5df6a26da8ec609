"""/healthz and /metrics on the real daemon, over real HTTP, as a probe and Prometheus use them."""
from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.service.health import check_runners
from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter, make_pdf


@pytest.fixture
def gateway(tmp_path):
    port = free_port()
    daemon = Daemon(write_config(tmp_path, extra=f"[http]\nenabled = true\nport = {port}\n")).start()
    daemon.http = f"http://127.0.0.1:{port}"
    yield daemon
    daemon.stop()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_healthz_is_200_with_every_check_named(gateway):
    status, content_type, body = get(gateway.http + "/healthz")
    # No smarthost in the test configuration: healthy, but the body says who is not answered.
    [warning] = json.loads(body)["warnings"]
    assert warning.startswith("notices are held: no smarthost is configured")
    assert status == 200
    assert content_type.startswith("application/json")
    data = json.loads(body)
    assert data["status"] == "ok" and data["failed"] == []
    assert {name: check["ok"] for name, check in data["checks"].items()} == {
        "spool": True, "database": True, "runners": True, "disk": True, "numbering": True, "clock": True}
    assert data["checks"]["database"]["detail"].startswith("sqlite")
    assert data["checks"]["runners"]["detail"] == "2 running"  # one pipeline, one delivery


def test_healthz_is_503_and_names_the_spool_when_it_cannot_be_written(gateway):
    tmp = gateway.data_dir / "spool" / "tmp"
    shutil.rmtree(tmp)
    tmp.write_text("not a directory")  # what a full or read-only disk looks like to a write
    try:
        status, _, body = get(gateway.http + "/healthz")
        assert status == 503
        data = json.loads(body)
        assert data["status"] == "fail" and data["failed"] == ["spool"]
        assert str(tmp) in data["checks"]["spool"]["detail"]
        assert data["checks"]["database"]["ok"] and data["checks"]["runners"]["ok"]
    finally:
        tmp.unlink()
        tmp.mkdir()
    # Writable again: 200 at the next look, or within seconds where something that met
    # the missing directory meanwhile is being restarted (one suite run under load, at
    # session 58, read a 503 at the first look); the body says which check it was.
    deadline = time.monotonic() + 10
    while (answer := get(gateway.http + "/healthz"))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer[0] == 200, answer


def test_runner_check_names_the_dead_runner():
    assert check_runners({"pipeline-0": True, "delivery": False}) == (False, "not running: delivery")
    assert check_runners({"pipeline-0": False}, restarting=True)[0] is True


def test_metrics_count_what_happened(gateway):
    gateway.send(letter(), "saraban.latkrabang@bangkok.go.th")
    gateway.send(letter(), "saraban.latkrabang@bangkok.go.th")
    gateway.send(letter(), "saraban.pomprap@bangkok.go.th")
    with gateway.smtp() as client:
        client.ehlo("test.example")
        client.mail("saraban.dds@bangkok.go.th")
        assert client.rcpt("saraban.nosuchunit@bangkok.go.th")[0] == 550
        assert client.rcpt("someone@example.com")[0] == 550
    # A letter the rules refuse: three executable attachments. It is one letter refused,
    # counted once under each reason, not once for each file (a letter of 3,000 such
    # files counted 3,000).
    programs = [(f"setup{i}.exe", b"MZ\x90\x00" + bytes([i]) * 200) for i in range(3)]
    gateway.send(letter(files=programs), "saraban.latkrabang@bangkok.go.th")
    gateway.wait_idle()

    status, content_type, text = get(gateway.http + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    values = samples(text)
    assert values[("saraban_accepted_total", ())] == 4
    assert values[("saraban_registered_total", (("book", "general"), ("unit", "saraban.latkrabang")))] == 2
    assert values[("saraban_registered_total", (("book", "general"), ("unit", "saraban.pomprap")))] == 1
    assert values[("saraban_rejected_total", (("reason", "unknown_unit"), ("stage", "smtp")))] == 1
    assert values[("saraban_rejected_total", (("reason", "relay"), ("stage", "smtp")))] == 1
    rules_rejections = {labels: v for (name, labels), v in values.items()
                        if name == "saraban_rejected_total" and ("stage", "rules") in labels}
    assert rules_rejections and set(rules_rejections.values()) == {1}, rules_rejections
    assert (("reason", "executable"), ("stage", "rules")) in rules_rejections, rules_rejections
    assert values[("saraban_outbox_total", (("kind", "folder"), ("result", "done")))] == 3
    # Latency histograms: one observation per registered letter / filed copy.
    assert values[("saraban_registration_latency_seconds_count", ())] == 3
    assert values[("saraban_end_to_end_latency_seconds_count", ())] == 3
    assert values[("saraban_end_to_end_latency_seconds_bucket", (("le", "+Inf"),))] == 3
    # Queue depths, read live.
    assert values[("saraban_spool_messages", (("state", "pending"),))] == 0
    assert values[("saraban_outbox_items", (("kind", "folder"), ("state", "done")))] == 3
    assert values[("saraban_quarantine_items", (("state", "held"),))] == 1
    assert values[("saraban_database_up", ())] == 1
    assert values[("saraban_runner_up", (("runner", "delivery"),))] == 1
    assert values[("saraban_runner_up", (("runner", "pipeline-0"),))] == 1


def test_metrics_survive_a_runner_reload(gateway):
    """Counts of runner processes that were replaced (SIGHUP) are still counted."""
    import signal

    gateway.send(letter(), "saraban.latkrabang@bangkok.go.th")
    gateway.wait_idle()
    mark = len(gateway.events())
    gateway.proc.send_signal(signal.SIGHUP)
    gateway.wait_for(lambda: any(e.get("event") == "reloaded" for e in gateway.events()[mark:]), what="reload")
    gateway.send(letter(), "saraban.latkrabang@bangkok.go.th")
    gateway.wait_idle()
    values = samples(get(gateway.http + "/metrics")[2])
    assert values[("saraban_registered_total", (("book", "general"), ("unit", "saraban.latkrabang")))] == 2
    assert values[("saraban_reloads_total", (("result", "ok"),))] == 1


def test_unknown_path_and_method(gateway):
    assert get(gateway.http + "/nothing")[0] == 404
    request = urllib.request.Request(gateway.http + "/healthz", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 405


def test_an_emergency_register_import_is_not_intake_latency(gateway, tmp_path):
    """Letters from the paper emergency register arrived on paper long ago: filing them
    now must not add their age to the gateway's latency (issue 14, item 16)."""
    import datetime as dt

    from gateway.intake.clock_guard import EARLIEST_YEAR
    from rules.thai_time import BANGKOK, be_year
    from tests.test_tools_emergency import write_book

    gateway.send(letter(), "saraban.latkrabang@bangkok.go.th")
    gateway.wait_idle()
    (tmp_path / "scan1.pdf").write_bytes(make_pdf("scanned letter"))
    # Days old, but not before the register first ran (EARLIEST_YEAR): such a row is a
    # slip of the year and refused (session 54).
    now = dt.datetime.now(BANGKOK)
    received = next(t for t in (now - dt.timedelta(days=3), now - dt.timedelta(hours=2), now - dt.timedelta(minutes=1))
                    if be_year(t) >= EARLIEST_YEAR)
    book = write_book(tmp_path, [["กท 0403 / ฉ 001", f"{be_year(received)}-{received:%m-%d %H:%M}", "", "",
                                  "สำนักการคลัง", "", "ขอส่งรายงาน", "", "scan1.pdf"]])
    gateway.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang")
    gateway.wait_idle()
    values = samples(get(gateway.http + "/metrics")[2])
    assert values[("saraban_outbox_total", (("kind", "folder"), ("result", "done")))] == 2  # both filed
    assert values[("saraban_end_to_end_latency_seconds_count", ())] == 1  # only the mailed one
    assert values[("saraban_end_to_end_latency_seconds_sum", ())] < 3600
    assert values[("saraban_registration_latency_seconds_count", ())] == 1


def test_a_failing_route_answers_500_without_the_errors_text():
    """The error (here one holding a database URL with its password) goes to the log;
    the body says where to look."""
    import asyncio

    from structlog.testing import capture_logs

    from gateway.service.http_server import HttpServer

    async def broken():
        raise RuntimeError("could not connect to postgresql://saraban:s3cret@db/saraban")

    async def scenario() -> bytes:
        server = HttpServer({"/healthz": broken})
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            answer = await reader.read()
            writer.close()
            return answer
        finally:
            await server.close()

    with capture_logs() as events:
        answer = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"s3cret" not in answer and b"RuntimeError" not in answer
    assert b"http_handler_failed" in answer
    assert [e["event"] for e in events if e["log_level"] == "error"] == ["http_handler_failed"]
