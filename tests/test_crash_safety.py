"""kill -9 at any moment: every accepted message ends registered exactly once per
recipient unit and filed exactly once."""
from __future__ import annotations

import smtplib
import threading
import time
import uuid

import pytest

from gateway.service.crashpoints import POINTS
from tests.daemon import Daemon, write_config
from tests.letters import letter

UNITS = ["saraban.latkrabang@bangkok.go.th", "saraban.dindaeng.admin@bangkok.go.th"]


def _exactly_once(d: Daemon, expected_queue_ids: set[str]) -> None:
    entries = d.register()
    per_unit: dict[tuple[str, str], int] = {}
    for e in entries:
        key = (e["queue_id"], e["unit"])
        per_unit[key] = per_unit.get(key, 0) + 1
    assert all(count == 1 for count in per_unit.values()), per_unit
    for queue_id in expected_queue_ids:
        for unit in ("saraban.latkrabang", "saraban.dindaeng.admin"):
            assert per_unit.get((queue_id, unit)) == 1, (queue_id, unit)
    for unit, folder in (("saraban.latkrabang", "latkrabang"), ("saraban.dindaeng.admin", "dindaeng_admin")):
        numbers = sorted(e["number"] for e in entries if e["unit"] == unit)
        assert numbers == list(range(1, len(numbers) + 1)), numbers  # gapless
        assert len(d.maildir_files(folder)) == len(numbers)  # filed exactly once


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_step_then_restart_finishes_exactly_once(tmp_path, point):
    config = write_config(tmp_path)
    d = Daemon(config, env={"SARABAN_CRASHPOINT": point}).start()
    queue_id = d.send(letter(), UNITS)
    d.proc.wait(60)  # the crash point killed the whole daemon
    assert d.proc.returncode != 0
    d.env = {}
    d.start()
    try:
        d.wait_idle()
        _exactly_once(d, {queue_id})
        assert d.status()["messages"] == {"done": 1}
    finally:
        d.stop()


def test_kill9_during_a_burst_of_intake_and_processing(tmp_path):
    """Clients keep sending while the daemon is killed; like real MTAs they resend
    what got no 250. Nothing acknowledged is lost and nothing is registered twice."""
    config = write_config(tmp_path)
    d = Daemon(config).start()
    acknowledged: dict[str, str] = {}  # message-id -> queue id
    unacknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        n = 0
        while not stop.is_set() and n < 40:
            n += 1
            mid = f"<burst-{worker}-{n}-{uuid.uuid4().hex[:6]}@dds.bangkok.go.th>"
            raw = letter(message_id=mid)
            try:
                queue_id = d.send(raw, UNITS)
            except (OSError, smtplib.SMTPException, AssertionError):
                with lock:
                    unacknowledged[mid] = raw
                continue
            with lock:
                acknowledged[mid] = queue_id

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    d.wait_for(lambda: len(acknowledged) >= 20, what="20 acknowledged messages")
    d.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    d.start()
    try:
        for mid, raw in unacknowledged.items():
            d.send(raw, UNITS)  # the sender's MTA retries
        d.wait_idle(timeout=120)
        _exactly_once(d, set(acknowledged.values()))
        registered_ids = [e["message_id"] for e in d.register() if e["unit"] == "saraban.latkrabang"]
        assert sorted(registered_ids) == sorted(set(registered_ids))  # one letter, one number
        assert set(acknowledged) <= set(registered_ids)
    finally:
        d.stop()


def test_kill_between_the_spool_commit_and_the_250_the_retry_is_the_same_letter(tmp_path):
    """The daemon dies after the letter is durable in spool/new and before its `250` is
    written (INTAKE_POINTS): the sender's MTA saw the connection drop, not a reply, and
    sends the same bytes again. The letter is registered and filed once per unit, under
    the first entry; the second is recognised as the same letter (nothing registered),
    and every acknowledgement the sender gets carries the one receive number."""
    from gateway.service.crashpoints import INTAKE_POINTS
    from tests.daemon import free_port
    from tests.notices.conftest import notices_config
    from tests.notices.sink import Sink

    sink = Sink(free_port()).start()
    try:
        config = write_config(tmp_path, extra=notices_config(sink))
        d = Daemon(config, env={"SARABAN_CRASHPOINT": INTAKE_POINTS[0]}).start()
        raw = letter(message_id="<killed-before-250@dds.bangkok.go.th>")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            d.data_reply(raw, UNITS)
        d.proc.wait(60)
        [waiting] = [p.name[:-4] for p in (d.data_dir / "spool" / "new").glob("*.msg")]
        d.env = {}
        d.start()
        try:
            code, reply = d.data_reply(raw, UNITS)  # the MTA's retry
            assert code == 250, reply
            d.wait_idle()
            _exactly_once(d, {waiting})
            assert {e["receive_no"].split("/")[0] for e in d.register()} == {"1"}
            assert d.status()["messages"] == {"done": 2}
            acks = sink.wait(1)
            assert all("เลขรับ 1/" in m.message["Subject"] for m in acks), [m.message["Subject"] for m in acks]
        finally:
            d.stop()
    finally:
        sink.stop()
