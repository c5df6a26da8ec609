"""README's "try it": examples/send_examples.py against the running daemon."""
from __future__ import annotations

import subprocess
import sys

from tests.paths import REPO


def test_examples_are_registered_filed_or_quarantined(daemon):
    result = subprocess.run([sys.executable, "examples/send_examples.py", "--port", str(daemon.port)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("queued as") == 4
    status = daemon.wait_idle()
    entries = daemon.register()
    by_mid = {}
    for e in entries:
        by_mid.setdefault(e["message_id"], []).append(e)
    circular = by_mid["<example-01@ops.bangkok.go.th>"][0]
    assert circular["reference"] == "กท 0407/ว 57"
    assert circular["letter_date"] == "2022-06-13"
    assert circular["urgency"] == "most_urgent" and circular["kind"] == "circular"
    assert len(circular["attachments"]) == 3
    assert sorted(e["unit"] for e in by_mid["<example-02@dds.bangkok.go.th>"]) == [
        "saraban.dindaeng", "saraban.dindaeng.edu"]
    assert {f["rule"] for f in by_mid["<example-02@dds.bangkok.go.th>"][0]["findings"]} >= {"naming"}
    inline = by_mid["<example-03@dds.bangkok.go.th>"][0]
    assert inline["attachments"][0]["content_type"] == "application/pdf"  # inline octet-stream is still the letter
    assert "<example-04@dds.bangkok.go.th>" not in by_mid  # the disguised executable is quarantined
    assert status["quarantine"] == {"held": 1}
    assert len(daemon.maildir_files("latkrabang")) == 2
    assert len(daemon.maildir_files("dindaeng")) == 1 and len(daemon.maildir_files("dindaeng_edu")) == 1
    table = daemon.cli("register", "list").stdout
    assert "4 letter(s)" in table
