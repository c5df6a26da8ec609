"""Python's warnings reach the log as JSON events, never as bare text in the stream.

CI's fresh install took cryptography 51, whose DSA deprecation warning pyHanko's import
says: the stamping child wrote it to stderr as two lines of text, unreadable to anything
that reads the daemon's JSON log (and failing the hostile-PDF test's check for them).
Each of the daemon's processes says a warning as one `python_warning` event, once per
place, and keeps a warning's words only when they are a deprecation's: a parser's
warning may quote the letter it read."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

from gateway.service.process_util import start_child


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # a bare line fails here


def test_a_warning_said_by_a_childs_imports_is_one_json_event(capfd):
    with warnings.catch_warnings():  # said here too, by this import: not this test's business
        warnings.simplefilter("ignore")
        from tests import warns_at_import
    capfd.readouterr()
    child = start_child("probe", warns_at_import.run)
    child.join(timeout=60)
    assert child.exitcode == 0
    out, err = capfd.readouterr()
    events = _events(out) + _events(err)
    said = [e for e in events if e["event"] == "python_warning"]
    assert [(e["category"], e["process"]) for e in said] == [
        ("ProbeDeprecationWarning", "probe"), ("UserWarning", "probe")], events
    deprecation, other = said
    assert deprecation["text"] == "probe_mode is deprecated and will be removed"
    assert deprecation["where"] == "warns_at_import.py:10"
    assert deprecation["level"] == "warning"
    assert "text" not in other and "ลับ" not in out + err  # said three times, logged once, unquoted


def test_the_supervisors_warnings_are_json_too():
    program = textwrap.dedent("""
        import warnings
        from gateway.service.log import setup_logging
        setup_logging("info", "json", process="supervisor")
        for _ in range(2):
            warnings.warn("old_option is deprecated", FutureWarning)
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout) + _events(done.stderr)
    assert [(e["event"], e["category"], e["text"], e["process"]) for e in events] == [
        ("python_warning", "FutureWarning", "old_option is deprecated", "supervisor")]
