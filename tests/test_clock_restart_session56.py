"""A clock stepped back, then the daemon restarted (session 56, crash red team).

A letter's queue id is its arrival time in nanoseconds, and it names the letter's folder
copy. After `backup restore`, the receive numbers given since the backup are read back
from the newest `[register] check_copies` copies of each folder, newest by that name
(gateway/delivery/numbers_seen.py). Within one run the queue ids never went below the
last one given, whatever the clock did (session 38); a restart forgot it and followed
only the letters still waiting. A clock stepped back an hour and a restart (a reboot
after an NTP correction) then named the letters filed since an hour older than the ones
filed before the step: after a restore, their numbers were not read back and the next
letter took 4/2569, the number a letter filed before the restore already carried."""
from __future__ import annotations

import datetime as dt
import email
import shutil

from tests.daemon import Daemon, TestClock, write_config
from tests.letters import letter
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
# Small, so that three copies filed before the step fill what is read back (500 by default:
# a busy unit's hour before the step).
READ_BACK = "[register]\ncheck_copies = 3\n"


def _numbers_in_folder(d: Daemon) -> list[str]:
    return sorted(email.message_from_bytes(p.read_bytes())["X-Saraban-Receive-No"]
                  for p in d.maildir_files("latkrabang"))


def test_after_a_step_back_and_a_restart_a_restore_gives_no_number_twice(tmp_path):
    year = this_be_year()
    clock = TestClock(tmp_path / "clock")
    old = Daemon(write_config(tmp_path / "old", extra=READ_BACK), env=clock.env).start()
    try:
        for n in range(3):
            old.send(letter(subject=f"ก่อนสำรองข้อมูล {n}"), LAT)
        old.wait_idle()
        archive = tmp_path / "backup" / "saraban.tar.gz"
        old.cli("backup", "create", str(archive))
    finally:
        old.stop()
    clock.set(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))  # NTP steps the clock back
    old.start()  # the host rebooted
    try:
        for n in range(2):
            old.send(letter(subject=f"หลังปรับนาฬิกา {n}"), LAT)
        old.wait_idle()
        filed = old.register()
    finally:
        old.stop()
    assert [e["receive_no"] for e in filed] == [f"{n}/{year}" for n in range(1, 6)]

    new = Daemon(write_config(tmp_path / "new", extra=READ_BACK), env=clock.env)
    new.cli("backup", "restore", str(archive))
    shutil.move(tmp_path / "old" / "var" / "folders", new.data_dir / "folders")  # the newest folders
    new.start()
    try:
        new.send(letter(subject="หลังกู้คืน"), LAT)
        new.wait_for(lambda: len(new.register()) == 4, what="the letter after the restore registered")
        new.wait_idle()
        assert [e["receive_no"] for e in new.register()] == [f"{n}/{year}" for n in (1, 2, 3, 6)]
        assert _numbers_in_folder(new) == sorted(f"{n}/{year}" for n in range(1, 7))  # none twice
    finally:
        new.stop()
    # Named in the order they were filed, the step notwithstanding.
    assert [e["queue_id"] for e in filed] == sorted(e["queue_id"] for e in filed)
