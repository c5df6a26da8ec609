"""Session 38: the kill campaign (tests/test_kill_campaign_session20.py) found a folder
copy's temporary file left in the unit's Maildir tmp/ after the delivery runner was
killed while writing it. The attempt done again wrote the copy whole, and nothing ever
removed the half-written one. Now the attempt done again removes it."""
from __future__ import annotations

import os

from gateway.delivery.maildir import deliver, maildir_for, message_name


def test_an_attempt_done_again_removes_the_half_written_file_of_the_one_killed(tmp_path):
    root = tmp_path / "folders"
    box = maildir_for(root, "latkrabang")
    name = message_name("18ee2dc4e89363fcd1dc3111", "saraban.latkrabang.cd&sw")
    killed = box / "tmp" / f".{name}.19989.11a4334c.tmp"  # as storage/fsync.py write_durably names it
    killed.write_bytes(b"From: half a letter\r\n")
    other = box / "tmp" / f".{message_name('18ee2dc4e89363fcd1dc3112', 'saraban.latkrabang')}.19990.00aa11bb.tmp"
    other.write_bytes(b"another copy being written now")
    clients = box / "tmp" / "1733300000.M1P2.mailhost"  # a mail client's own file in tmp/
    clients.write_bytes(b"not ours")

    filed = deliver(root, "latkrabang", "18ee2dc4e89363fcd1dc3111", "saraban.latkrabang.cd&sw",
                    b"From: the whole letter\r\n\r\nbody\r\n", in_doubt=True)
    assert filed.read_bytes() == b"From: the whole letter\r\n\r\nbody\r\n"
    assert sorted(os.listdir(box / "tmp")) == sorted([other.name, clients.name])
