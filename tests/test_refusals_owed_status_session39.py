"""Session 39: ลับที่สุด (top secret) refusals the register could not take at the end of
DATA are kept in refusals-owed.json until it can (session 38). `status` did not count
them: a sysadmin saw "refused top_secret 1" while two more refusals waited in a file
nobody named. Now `status` counts them and warns until they are written."""
from __future__ import annotations

import os

from tests.test_refusals_owed_session38 import _recorded, _refused, _started_with_one_refusal


def test_status_counts_the_refusals_owed_while_the_register_is_away_and_forgets_them_once_written(
        daemon_factory, tmp_path):
    d = _started_with_one_refusal(daemon_factory)
    path = d.data_dir / "saraban.db"
    away = tmp_path / "away.db"
    os.rename(path, away)
    _refused(d, "<ts-2@dds.bangkok.go.th>")
    _refused(d, "<ts-3@dds.bangkok.go.th>")
    d.wait_for_event("refusal_not_recorded", 30, message_id="<ts-3@dds.bangkok.go.th>")

    status = d.status()
    assert status["refused_not_recorded"] == {"top_secret": 2}, status
    [warning] = [w for w in status["warnings"] if "refusals-owed.json" in w]
    assert warning.startswith("2 refusal(s) at the end of DATA (top_secret 2) are not yet in the register")
    shown = d.cli("status").stdout
    assert "refused    not yet recorded: top_secret 2" in shown, shown

    os.rename(away, path)
    d.wait_for_event("refusals_recorded_late", 30)
    assert len(_recorded(d)) == 3
    status = d.status()
    assert status["refused_not_recorded"] == {} and status["refused"] == {"top_secret": 3}, status
    assert not [w for w in status["warnings"] if "refusals-owed.json" in w]
    assert "not yet recorded" not in d.cli("status").stdout


def test_status_names_a_damaged_file_of_refusals_owed(daemon_factory):
    d = daemon_factory()
    d.start()
    (d.data_dir / "refusals-owed.json").write_text("{not json", encoding="utf-8")
    status = d.status()
    assert status["refused_not_recorded"] == {"unreadable": 1}, status
    assert any("refusals-owed.json" in w for w in status["warnings"]), status["warnings"]
