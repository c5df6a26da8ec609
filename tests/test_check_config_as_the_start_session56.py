"""`check-config` says OK only of what the daemon can start with (session 56, operations
red team).

docs/install.md step 5 runs `check-config` as the gateway's user "to check the
configuration as the service will read it"; until session 56 it said `configuration
OK` of configurations the start then refused:

* a `data_dir` that is a file, or that this user cannot make or write (`run`: "File
  exists", "permission denied");
* a register (`saraban.db`) that `db upgrade` run as root had made in the gateway
  user's data directory (`run`: `database_unavailable`, "attempt to write a readonly
  database");
* `seal_key` without `seal_cert`, a seal file that is not there, a `stamp_font` that is
  not there (`run`: "[signatures] seal_key and seal_cert must be set together").

Each is now one sentence naming the key (or the file) and the configuration, exit 2;
the start's own answers are unchanged."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.cli_fork import run_gateway
from tests.daemon import write_config
from tests.paths import REPO

NOBODY = 65534


def _check(config: Path) -> tuple[int, str]:
    result = run_gateway(["--config", str(config), "check-config"])
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return result.returncode, result.stderr


def test_a_data_dir_that_is_a_file_is_refused_as_the_start_refuses_it(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "var").write_text("not a folder")
    code, said = _check(config)
    assert code == 2, said
    assert f"saraban-gateway: {config}: [storage] data_dir {tmp_path / 'var'} is not a folder" in said
    assert "configuration OK" not in said
    assert said.count("is not a folder") == 1  # the spool, folders and database under it: said once
    started = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "run"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode != 0  # the start refuses it too ("File exists")


def test_seal_files_and_the_stamp_font_the_start_refuses_are_refused(tmp_path):
    lone = write_config(tmp_path / "lone", extra='[signatures]\nseal_key = "seal.pem"\n')
    code, said = _check(lone)
    assert code == 2 and "[signatures] seal_key and seal_cert must be set together" in said, said
    started = subprocess.run([sys.executable, "-m", "gateway", "--config", str(lone), "run"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 2 and "seal_key and seal_cert must be set together" in started.stderr

    missing = write_config(tmp_path / "missing",
                           extra='[signatures]\nseal_key = "seal-key.pem"\nseal_cert = "seal-cert.pem"\n')
    code, said = _check(missing)
    assert code == 2 and "[signatures] seal: cannot read" in said and "seal-key.pem" in said, said

    font = write_config(tmp_path / "font", extra='[signatures]\nstamp_font = "/nonexistent/THSarabunNew.ttf"\n')
    code, said = _check(font)
    assert code == 2 and "[signatures] stamp_font /nonexistent/THSarabunNew.ttf does not exist" in said, said


def test_the_honest_first_install_still_passes(tmp_path):
    """Nothing made yet: the data directory does not exist, its parent is writable; the
    stamp on, with the key store's seal the start will make."""
    config = write_config(tmp_path, extra="[signatures]\nstamp = true\n")
    code, said = _check(config)
    assert code == 0, said
    assert "configuration OK" in said
    assert not (tmp_path / "var").exists()  # check-config makes nothing


def _as_nobody(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
                          cwd="/", capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.fixture
def nobodys_place():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    if _as_nobody(sys.executable, "-c", "import gateway.cli.main").returncode != 0:
        pytest.skip("this checkout or its interpreter cannot be read by nobody")
    place = Path(tempfile.mkdtemp(prefix="saraban-check-", dir="/tmp"))
    place.chmod(0o755)
    yield place
    shutil.rmtree(place, ignore_errors=True)


def test_the_gateways_user_is_told_of_what_root_made_in_its_data_directory(nobodys_place):
    """The data directory is the gateway user's (as systemd-tmpfiles makes it), but a
    sysadmin ran `db upgrade` as root in it first (docs/database.md: "migrates by
    hand"): the register is root's, and the start as the gateway's user fails."""
    config = write_config(nobodys_place)
    config.chmod(0o644)
    data = nobodys_place / "var"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    by_root = run_gateway(["--config", str(config), "db", "upgrade"])
    assert by_root.returncode == 0, by_root.stderr
    database = data / "saraban.db"
    assert database.stat().st_uid == 0
    result = _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), "check-config")
    assert result.returncode == 2, result.stderr
    assert (f"saraban-gateway: {config}: {database} (in [storage] data_dir) cannot be written by nobody "
            f"(uid 65534) (it belongs to root)") in result.stderr, result.stderr
    assert "configuration OK" not in result.stderr and "Traceback" not in result.stderr

    # Given to the gateway's user, as the sentence says: OK.
    for path in [data, *data.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    result = _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), "check-config")
    assert result.returncode == 0 and "configuration OK" in result.stderr, result.stderr

    # A parent the gateway's user may not write: the data directory cannot be made.
    shutil.rmtree(data)
    result = _as_nobody(sys.executable, "-m", "gateway", "--config", str(config), "check-config")
    assert result.returncode == 2, result.stderr
    assert (f"[storage] data_dir {data} cannot be made in {nobodys_place} by nobody (uid 65534) "
            "(it belongs to root)") in result.stderr, result.stderr
