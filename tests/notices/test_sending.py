"""Sending through the smarthost: retries, crashes, no smarthost, permanent refusals."""
from __future__ import annotations

import threading

from tests.daemon import free_port
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink

LATKRABANG = "saraban.latkrabang@bangkok.go.th"


def _events(daemon, name: str, **match) -> list[dict]:
    return [e for e in daemon.events()
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items())]


def test_smarthost_down_is_retried_with_backoff_then_delivered(daemon_factory):
    sink = Sink(free_port())  # not started: connection refused
    d = daemon_factory(extra=notices_config(sink)).start()
    d.send(letter(), LATKRABANG)
    retries = d.wait_for(lambda: len(r := _events(d, "delivery_retry", kind="notice")) >= 3 and r,
                         what="three notice retries")
    delays = [r["retry_in"] for r in retries[:3]]
    assert delays == sorted(delays) and delays[0] < delays[2]  # exponential backoff
    assert "ConnectionRefused" in retries[0]["error"]
    status = d.status()
    assert status["outbox"]["notice"] == {"pending": 1}
    assert "ConnectionRefused" in status["notices"]["retrying"]["last_error"]
    assert status["outbox"]["folder"] == {"done": 1}  # filing does not wait for the notice
    assert "retrying ack:" in d.cli("status").stdout

    sink.start()
    try:
        [got] = sink.wait(1)
        assert d.wait_idle()["outbox"]["notice"] == {"done": 1}
        assert "ได้รับหนังสือแล้ว" in got.message["Subject"]
        assert len(_events(d, "notice_sent")) == 1
    finally:
        sink.stop()


def test_crash_between_registration_and_sending_still_sends_exactly_one(daemon_factory):
    sink = Sink(free_port())  # down while the daemon registers the letter
    d = daemon_factory(extra=notices_config(sink)).start()
    d.send(letter(), LATKRABANG)
    d.wait_for(lambda: _events(d, "delivery_retry", kind="notice"), what="a failed notice attempt")
    assert len(d.register()) == 1
    d.kill9()

    sink.start()
    try:
        d.start()
        [got] = sink.wait(1)
        status = d.wait_idle()
        assert status["outbox"]["notice"] == {"done": 1} and status["letters"] == 1
        assert len(sink.messages()) == 1
        assert got.message["X-Saraban-Notice"] == "ack"
    finally:
        sink.stop()


def test_crash_while_the_smarthost_holds_the_reply_sends_once_after_restart(daemon_factory):
    sink = Sink(free_port())
    held = threading.Event()
    sink.hold_data = held
    sink.reply_after_hold = "451 4.3.0 connection lost, not queued"
    sink.start()
    try:
        d = daemon_factory(extra=notices_config(sink)).start()
        d.send(letter(), LATKRABANG)
        assert sink.data_arrived.wait(60), d.log_tail()
        d.kill9()  # the notice is on the wire, its 250 never came: not recorded as done
        sink.hold_data = None
        held.set()
        assert sink.messages() == []

        d.start()
        [got] = sink.wait(1)
        status = d.wait_idle()
        assert status["outbox"]["notice"] == {"done": 1}
        assert len(sink.messages()) == 1
        assert got.message["Auto-Submitted"] == "auto-replied"
    finally:
        sink.stop()


def test_without_smarthost_notices_are_held_then_released(daemon_factory, sink):
    d = daemon_factory().start()  # no [notices] smarthost
    d.send(letter(), LATKRABANG)
    status = d.wait_idle()  # held notices do not keep the outbox busy
    assert status["outbox"]["notice"] == {"held": 1}
    assert status["notices"]["smarthost"] is None
    # Nobody is left guessing: status, the start-up log and check-config all say it.
    text = d.cli("status").stdout
    assert "notices    held: no smarthost (see WARNING)" in text
    assert "WARNING    notices are held: no smarthost is configured" in text
    assert "senders get no acknowledgement" in text
    assert [e for e in d.events() if e.get("event") == "notices_held"]
    checked = d.cli("check-config")
    assert "warning: notices are held: no smarthost is configured" in checked.stderr
    assert "1 warning(s)" in checked.stderr
    refused = d.cli("notices", "release", check=False)
    assert refused.returncode == 1 and "no smarthost" in refused.stderr
    d.stop()

    d.env = {"SARABAN_SMARTHOST": sink.address}  # the documented override
    d.start()
    released = d.cli("notices", "release")
    assert "released 1 held notice(s)" in released.stdout
    [got] = sink.wait(1)
    assert d.wait_idle()["outbox"]["notice"] == {"done": 1}
    assert got.rcpt_tos == ["saraban.dds@bangkok.go.th"]


def test_permanent_refusal_is_dead_at_once_not_retried_for_days(daemon_factory, sink):
    sink.refuse_rcpt = True
    d = daemon_factory(extra=notices_config(sink)).start()
    d.send(letter(), LATKRABANG)
    [dead] = d.wait_for(lambda: _events(d, "delivery_dead", kind="notice"), what="the notice to go dead")
    assert "550" in dead["error"] and dead["attempts"] == 1
    status = d.wait_idle()
    assert status["outbox"]["notice"] == {"dead": 1}
    assert status["outbox"]["folder"] == {"done": 1}
    assert _events(d, "delivery_retry", kind="notice") == []


def test_a_burst_of_notices_shares_one_smarthost_session_and_a_closed_one_is_replaced_at_once(daemon_factory):
    """Notices go over one kept SMTP session, as Postfix's client keeps its connections
    (not a TCP handshake, EHLO and QUIT per letter). When the smarthost has closed that
    session (restarted, idle timeout), the next notice goes at once on a new one: no
    failed attempt, no backoff."""
    sink = Sink(free_port()).start()
    d = daemon_factory(extra=notices_config(sink))
    # One delivery thread: each thread keeps its own session.
    d.config.write_text(d.config.read_text().replace("[delivery]\n", "[delivery]\nworkers = 1\n", 1))
    d.start()
    try:
        for n in range(3):
            d.send(letter(message_id=f"<burst-{n}@dds.bangkok.go.th>"), LATKRABANG)
        first = sink.wait(3)
        assert len({got.peer for got in first}) == 1, [got.peer for got in first]

        sink.stop()  # the smarthost goes away and comes back: the kept session is dead
        sink.start()
        d.send(letter(message_id="<after-restart@dds.bangkok.go.th>"), LATKRABANG)
        got = sink.wait(4)
        assert got[3].peer != first[0].peer and "after-restart" in got[3].message["In-Reply-To"]
        assert d.wait_idle()["outbox"]["notice"] == {"done": 4}

        # The same, told rather than found: the smarthost answers MAIL FROM with 421.
        sink.mail_reply_once = "421 4.4.2 idle too long, closing"
        d.send(letter(message_id="<after-421@dds.bangkok.go.th>"), LATKRABANG)
        got = sink.wait(5)
        assert "after-421" in got[4].message["In-Reply-To"] and got[4].peer != got[3].peer
        assert d.wait_idle()["outbox"]["notice"] == {"done": 5}
        assert _events(d, "delivery_retry", kind="notice") == []
        sent = _events(d, "notice_sent")
        assert [e["new_session"] for e in sent] == [True, False, False, True, True]
    finally:
        sink.stop()
