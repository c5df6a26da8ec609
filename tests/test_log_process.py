"""Every event a process logs names the process, whichever of its threads logs it
(gateway/service/log.py): an operator who filters the log by `process` sees all of a
runner's letters, not those of its first thread only."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import REPO

_SCRIPT = """
import logging, threading
import structlog
from gateway.service.log import setup_logging
setup_logging("info", "json", process="delivery")
log = structlog.get_logger("gateway.runner.delivery")
log.info("filed", unit="u1")
def second():
    log.info("filed", unit="u2")
    with structlog.contextvars.bound_contextvars(queue_id="q2"):
        log.info("notice_sent")
    logging.getLogger("aiosmtpd").warning("a library's warning")
t = threading.Thread(target=second, name="delivery-1")
t.start(); t.join()
with structlog.contextvars.bound_contextvars(process="stamp-override"):
    log.info("bound_by_hand")
"""


def test_every_thread_s_events_name_their_process():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, cwd=REPO, timeout=60)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["filed", "filed", "notice_sent", "a library's warning", "bound_by_hand"]
    assert [e.get("process") for e in events[:4]] == ["delivery"] * 4
    assert events[2]["queue_id"] == "q2"
    assert events[4]["process"] == "stamp-override"  # a binding of the moment still wins
