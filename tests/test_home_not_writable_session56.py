"""The daemon run by a user whose home cannot be written (session 56, operations red team).

PyThaiNLP (the Thai word breaking and normalising of rules/thai_text.py) made its data
folder, ~/pythainlp-data, when it was first imported. The gateway's user under the
shipped unit has a writable home (the data directory), but `nobody`, a system account
made with `useradd -r` (HOME=/nonexistent) or a container's user has none: the import
raised PermissionError in the pipeline, and every letter with Thai text, that is every
letter, was parked after `[pipeline] max_attempts` tries: "ระบบตรวจหนังสือฉบับนี้ไม่สำเร็จ
5 ครั้ง ...", not registered, no receive number. PyThaiNLP is now used read-only (its
package's own word lists; nothing is made or downloaded)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cli_fork import run_gateway
from tests.daemon import write_config
from tests.letters import letter
from tests.paths import REPO

NOBODY = 65534


@pytest.fixture
def place():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the daemon as another user")
    where = Path(tempfile.mkdtemp(prefix="saraban-home-", dir="/tmp"))
    where.chmod(0o755)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_a_thai_letter_is_registered_by_a_user_without_a_writable_home(place):
    config = write_config(place)
    config.chmod(0o644)
    data = place / "var"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHAINLP")}
    env.update(HOME="/nonexistent", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    log = open(place / "daemon.log", "w+b")
    daemon = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                               sys.executable, "-m", "gateway", "--config", str(config), "run"],
                              cwd="/", env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(600):  # the start, bounded
            log.seek(0)
            for line in log.read().decode("utf-8", "replace").splitlines():
                if '"smtp_listening"' in line:
                    port = json.loads(line)["port"]
            if port is not None or daemon.poll() is not None:
                break
            time.sleep(0.1)
        assert port is not None, (place / "daemon.log").read_text()
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.sendmail("saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"],
                            letter(subject="ขอเชิญประชุมคณะกรรมการ"))
        listed = []
        for _ in range(300):  # until registered or parked, bounded
            result = run_gateway(["--config", str(config), "register", "list", "--json"])
            listed = json.loads(result.stdout or "[]") if result.returncode == 0 else []
            log.seek(0)
            said = log.read().decode("utf-8", "replace")
            if listed or '"message_parked"' in said:
                break
            time.sleep(0.2)
        assert '"process_failed"' not in said and '"message_parked"' not in said, said[-3000:]
        assert [entry["subject"] for entry in listed] == ["ขอเชิญประชุมคณะกรรมการ"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        log.close()
