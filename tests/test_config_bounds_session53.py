"""Numbers of seconds no wait can take (session 53, operations red team).

TOML has `inf`, and `gt=0` let it and any huge number through: `[pipeline]
poll_interval = 1e10` passed check-config and the start, then the pipeline and delivery
runners died at their first idle nap (OverflowError in the wait) and were restarted for
ever, `runner_died` after `runner_died`: letters got their 250 and were never filed."""
from __future__ import annotations

import pytest

from tests.daemon import Daemon, write_config
from tests.tools_helpers import cli


def _config(tmp_path, section: str, line: str):
    config = write_config(tmp_path)
    text = config.read_text()
    key = line.split("=")[0].strip()
    if f"[{section}]\n" in text:
        lines = text.split("\n")
        start = lines.index(f"[{section}]")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        lines[start + 1:end] = [x for x in lines[start + 1:end] if not x.startswith(f"{key} ")]
        lines.insert(start + 1, line)
        text = "\n".join(lines)
    else:
        text += f"\n[{section}]\n{line}\n"
    config.write_text(text)
    return config


@pytest.mark.parametrize("section,line", [
    ("pipeline", "poll_interval = 1e10"),
    ("register", "check_retry = inf"),
    ("service", "runner_grace = inf"),
    ("delivery", "retry_max = 1e300"),
    ("dns", "timeout = inf"),
])
def test_check_config_refuses_a_wait_no_clock_can_take(tmp_path, section, line):
    result = cli(_config(tmp_path, section, line), "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{section}.{line.split()[0]}" in result.stderr
    assert "at most 315360000 (ten years)" in result.stderr


@pytest.mark.parametrize("line", ["session_hours = 100000000000", "lockout_minutes = 100000000000",
                                  "session_idle_minutes = 100000000000"])
def test_check_config_refuses_a_desk_time_no_date_can_take(tmp_path, line):
    """Turned into a timedelta at each sign-in (OverflowError), and passed check-config."""
    result = cli(_config(tmp_path, "web", line), "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"web.{line.split()[0]}" in result.stderr


def test_the_daemon_does_not_start_with_one(tmp_path):
    daemon = Daemon(_config(tmp_path, "pipeline", "poll_interval = 1e10"))
    with pytest.raises(RuntimeError, match="pipeline.poll_interval"):
        daemon.start()


def test_ten_years_is_still_taken(tmp_path):
    assert cli(_config(tmp_path, "delivery", "dead_after = 315360000"), "check-config").returncode == 0
