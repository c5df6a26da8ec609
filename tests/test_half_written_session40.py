"""A vault object half-written when its writer was killed (kill -9 between the write and
the rename) is removed at the next start (session 40's run of the kill campaign found
one left in vault/tmp, one more at each such kill). One whose writer still runs (a
command beside the daemon) is left to it."""
from __future__ import annotations

import os

from tests.letters import letter, make_pdf

GONE_PID = 4_000_000  # above any pid_max: no such process


def test_half_written_vault_objects_of_dead_writers_are_removed_at_start(daemon_factory):
    d = daemon_factory()
    left = {}
    for store in ("vault", "secret"):
        tmp = d.data_dir / store / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        dead = tmp / f".{'ab' * 32}.{GONE_PID}.0a1b2c3d.tmp"
        alive = tmp / f".{'cd' * 32}.{os.getpid()}.0a1b2c3d.tmp"
        dead.write_bytes(b"half a file")
        alive.write_bytes(b"being written")
        left[store] = (dead, alive)
    d.start()
    d.send(letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover"))]), "saraban.latkrabang@bangkok.go.th")
    d.wait_idle(60)
    for dead, alive in left.values():
        assert not dead.exists()
        assert alive.read_bytes() == b"being written"
    assert len(d.register()) == 1
