"""A runner that keeps dying is restarted less and less often (up to every 5 s), and the
supervisor's loop does not wait for it: the wait was a sleep in the supervisor's tick,
so SIGTERM and SIGHUP were handled up to 5 s late a tick for each runner in a crash loop
(session 53, from the operations red team's list)."""
from __future__ import annotations

import time

from gateway.config.settings import load_settings
from gateway.service.daemon import Child, Supervisor
from tests.daemon import write_config


class _Dead:
    pid, exitcode = 4242, 1

    def is_alive(self) -> bool:
        return False


def test_a_runner_in_a_crash_loop_is_restarted_later_without_holding_the_tick(tmp_path):
    supervisor = Supervisor(load_settings(write_config(tmp_path)))
    spawned: list[str] = []
    supervisor._spawn = lambda child, after_pids=(): spawned.append(child.name)  # noqa: SLF001
    looping = Child("pipeline-0", "gateway.pipeline.runner:main", (), process=_Dead(), restarts=30)
    supervisor.children = [looping]

    started = time.monotonic()
    supervisor.check()
    assert time.monotonic() - started < 1.0  # the tick goes on: SIGTERM is heard at once
    assert spawned == [] and looping.restarts == 31 and looping.respawn_at is not None
    supervisor.check()  # a tick before it is due: neither counted again nor started
    assert spawned == [] and looping.restarts == 31

    looping.respawn_at = time.monotonic() - 0.01  # due now
    supervisor.check()
    assert spawned == ["pipeline-0"] and looping.respawn_at is None
