"""`saraban-gateway web`, the desk without the mail daemon, keeps a large upload (a paper
letter's scan, perhaps ลับมาก, in the emergency register) where the daemon keeps its own:
on the data directory's volume, not in TMPDIR's, where Starlette's temporary file of an
upload over 1 MB was made and its blocks left after it was unlinked."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.daemon import free_port, write_config
from tests.paths import REPO
from tests.web.client import signed_in, temporary_files_mid_upload
from tests.web.conftest import PASSWORD
from tests.cli_fork import run_gateway
from tests.tools_helpers import this_be_year


def test_the_desk_alone_spools_a_large_upload_in_the_data_directory_not_tmpdir(tmp_path):
    config = write_config(tmp_path / "gw")
    added = run_gateway(["--config", str(config), "users", "add", "somsri", "--role", "clerk",
                         "--unit", "saraban.latkrabang", "--password-stdin"], input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    data_dir = tmp_path / "gw" / "var"
    left = data_dir / "spool" / "uploads-desk" / "999999999"  # a desk killed in an upload, long gone
    left.mkdir(parents=True)
    (left / "tmpabc").write_bytes(b"a scan's first megabyte")
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "web", "--port", str(port)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, TMPDIR=str(tmpdir)))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.2)
        seen = temporary_files_mid_upload(signed_in(f"http://127.0.0.1:{port}", "somsri"), proc.pid, this_be_year())
        own = data_dir / "spool" / "uploads-desk" / str(proc.pid)
        assert seen and all(target.startswith(str(own)) for target in seen), seen
        assert list(tmpdir.iterdir()) == []
        assert not left.exists()  # what a desk killed in an upload left is shredded at the next start
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        # uvicorn ends the process with the SIGTERM it caught: the folder stays, empty,
        # until the next start clears it as it did the one above.
        assert not own.exists() or list(own.iterdir()) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
