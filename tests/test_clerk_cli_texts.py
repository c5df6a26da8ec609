"""Operator commands read as a person reads them (issue 14, items 14 and 15)."""
from __future__ import annotations

import subprocess
import sys
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from tests.letters import make_pdf
from tests.paths import REPO


def gateway(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def unnamed_letter(tmp_path):
    msg = MIMEMultipart()
    msg["From"] = "saraban.dds@bangkok.go.th"
    msg["To"] = "saraban.latkrabang@bangkok.go.th"
    msg["Subject"] = "ด่วนที่สุด เรื่อง ขอเชิญประชุม"
    msg.attach(MIMEText("ตามแนบ", "plain", "utf-8"))
    msg.attach(MIMEApplication(make_pdf("letter"), "pdf"))  # no file name at all
    path = tmp_path / "unnamed.eml"
    path.write_bytes(msg.as_bytes())
    return path


def test_rules_check_names_an_unnamed_file_and_refuses_an_unknown_unit(tmp_path):
    eml = unnamed_letter(tmp_path)
    out = gateway("rules", "check", str(eml), "--unit", "saraban.latkrabang")
    assert "file           : (no file name) (application/pdf" in out.stdout
    assert "None" not in out.stdout
    assert "urgency        : ด่วนที่สุด (most_urgent)" in out.stdout
    assert "reference      : -" in out.stdout
    unknown = gateway("rules", "check", str(eml), "--unit", "saraban.nowhere")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert 'unknown unit "saraban.nowhere": not in the unit directory' in unknown.stderr
