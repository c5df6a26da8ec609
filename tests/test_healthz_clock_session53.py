"""/healthz while the clock is in a year before the register's (session 53, operations
red team).

An NTP step back over New Year's midnight, a VM restored from a snapshot, a clock battery
that died: SMTP answers every letter 451 4.3.0 until the clock is right (docs/operations.md,
"The system clock"). No letter was taken, and /healthz, what the monitoring looks at,
said ok: only `status` and the log said why."""
from __future__ import annotations

import datetime as dt
import json

from rules.thai_time import BANGKOK
from tests.daemon import Daemon, TestClock, free_port, write_config
from tests.letters import letter
from tests.test_http_health_metrics import get

DINDAENG = "saraban.dindaeng@bangkok.go.th"


def test_healthz_fails_while_letters_are_refused_for_the_clock(tmp_path):
    clock = TestClock(tmp_path / "clock")
    clock.set(dt.datetime(2034, 1, 1, 0, 0, 5, tzinfo=BANGKOK))
    port = free_port()
    gw = Daemon(write_config(tmp_path / "gw", extra=f"[http]\nenabled = true\nport = {port}\n"),
                env=clock.env).start()
    try:
        gw.send(letter(), DINDAENG)  # 1/2577
        gw.wait_idle()
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        # NTP steps the clock back 10 seconds, into 2576.
        clock.set(dt.datetime(2033, 12, 31, 23, 59, 55, tzinfo=BANGKOK))
        with gw.smtp() as client:
            client.ehlo("dds.bangkok.go.th")
            assert client.mail("saraban.dds@bangkok.go.th")[0] == 451
        status, _, body = get(f"http://127.0.0.1:{port}/healthz")
        data = json.loads(body)
        assert status == 503, data
        assert data["failed"] == ["clock"]
        assert "the host's clock says 2576 but the register has begun 2577" in data["checks"]["clock"]["detail"]

        clock.set(dt.datetime(2034, 1, 1, 0, 0, 20, tzinfo=BANGKOK))
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        gw.stop()
