"""Which interpreter `make` makes the .venv with (session 47): Debian's own python3 where
it is 3.11 or newer and can make a venv, else the first python3 on PATH; and a .venv
made with another interpreter is made again (its `.python` marker changes, and
`.installed` depends on it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO


def make(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["make", "--no-print-directory", "-s", "-f", str(REPO / "Makefile"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def debian_python_usable() -> bool:
    return subprocess.run(["/usr/bin/python3", "-c", "import sys, ensurepip; sys.exit(sys.version_info < (3, 11))"],
                          capture_output=True).returncode == 0 if os.path.exists("/usr/bin/python3") else False


def test_the_venv_is_made_with_debians_python_where_it_can_be():
    chosen = make("--eval", "chosen: ; @echo $(PYTHON)", "chosen")
    assert chosen == ("/usr/bin/python3" if debian_python_usable() else "python3")
    # A sysadmin's choice wins, and without Debian's the first python3 on PATH is taken.
    assert make("--eval", "chosen: ; @echo $(PYTHON)", "chosen", "PYTHON=/opt/python3.12") == "/opt/python3.12"
    assert make("--eval", "chosen: ; @echo $(PYTHON)", "chosen", "DEBIAN_PYTHON=") == "python3"


def test_another_interpreter_marks_the_venv_to_be_made_again(tmp_path):
    venv = tmp_path / "venv"
    marker = venv / ".python"
    other = tmp_path / "other-python"  # says it is another interpreter, as `-c` asks
    other.write_text("#!/bin/sh\necho /opt/other/python3.13 3.13.9\n")
    other.chmod(0o755)
    make(f"VENV={venv}", f"PYTHON={sys.executable}", str(marker), cwd=tmp_path)
    first = marker.read_text()
    assert first.split() == [os.path.realpath(sys.executable), sys.version.split()[0]]
    os.utime(marker, (1_000_000_000, 1_000_000_000))
    make(f"VENV={venv}", f"PYTHON={sys.executable}", str(marker), cwd=tmp_path)  # the same one
    assert marker.stat().st_mtime == 1_000_000_000 and marker.read_text() == first
    make(f"VENV={venv}", f"PYTHON={other}", str(marker), cwd=tmp_path)  # another one
    assert marker.stat().st_mtime > 1_000_000_000
    assert marker.read_text().split() == ["/opt/other/python3.13", "3.13.9"]
    # and the .venv's `.installed` is made after it, so from the new one
    rules = subprocess.run(["make", "-p", "-q", "-f", str(REPO / "Makefile"), f"VENV={venv}", "FORCE"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout
    assert f"{venv}/bin/.installed: pyproject.toml {marker}" in rules
