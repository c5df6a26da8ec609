"""The child-process mechanism shared by the stamping child, the signature workers and
the PDF reader (gateway/service/worker_process.py): a child found dead while idle is
replaced for the next job and the owner's event logged; a child that overruns the
deadline is killed; a child that dies on a job reads as "crashed"; a job refused at once
(a broken pipe) goes to a new child, once; close() leaves no process behind."""
from __future__ import annotations

import os
import signal
import time

import structlog
from structlog.testing import capture_logs

from gateway.service.worker_process import WorkerProcess
from tests.processes import gone


def _echo(conn) -> None:
    """Answers each job with its own bytes; b"sleep" and b"die" act as a hostile file would."""
    while True:
        try:
            job = conn.recv_bytes()
        except EOFError:
            os._exit(0)
        if job == b"sleep":
            time.sleep(300)
        if job == b"die":
            os._exit(3)
        conn.send_bytes(job)


def _worker() -> WorkerProcess:
    return WorkerProcess(_echo, (), "echo", log=structlog.get_logger("test"), replaced="echo_replaced",
                         idle_reason="the echo process ended while idle")




def _kill_and_wait(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after SIGKILL"
        time.sleep(0.02)


def test_a_child_killed_while_idle_is_replaced_for_the_next_job_and_the_event_logged():
    worker = _worker()
    try:
        worker.send_bytes(b"one")
        assert worker.answer(30) == b"one"
        first = worker.process.pid
        _kill_and_wait(first)
        with capture_logs() as events:
            worker.send_bytes(b"two", job="2")
            assert worker.answer(30) == b"two"
        assert worker.process.pid != first
    finally:
        worker.close()
    assert [(e["event"], e["reason"], e["exitcode"], e["job"]) for e in events] == [
        ("echo_replaced", "the echo process ended while idle", -signal.SIGKILL, "2")]


def test_a_child_that_overruns_the_deadline_is_killed_and_the_next_job_gets_a_new_one():
    worker = _worker()
    try:
        worker.send_bytes(b"sleep")
        started = time.monotonic()
        assert worker.answer(0.5) == "timeout"
        assert time.monotonic() - started < 10
        assert worker.process is None  # killed: no child until the next job
        with capture_logs() as events:
            worker.send_bytes(b"after")
            assert worker.answer(30) == b"after"
        assert events == []  # killed for its overrun, not found dead while idle
    finally:
        worker.close()


def test_the_overrun_child_itself_isgone():
    worker = _worker()
    try:
        worker.send_bytes(b"sleep")
        pid = worker.process.pid
        assert worker.answer(0.2) == "timeout"
        assert gone(pid)
    finally:
        worker.close()


def test_a_child_that_dies_on_a_job_reads_as_crashed_and_is_replaced_quietly():
    worker = _worker()
    try:
        worker.send_bytes(b"die")
        pid = worker.process.pid
        assert worker.answer(30) == "crashed"
        assert gone(pid) and worker.process is None
        with capture_logs() as events:
            worker.send_bytes(b"after")
            assert worker.answer(30) == b"after"
        assert events == []
    finally:
        worker.close()


def test_a_broken_pipe_at_send_goes_to_a_new_child_once():
    """Dead so shortly before the send that the idle check saw it alive: the job never
    reached it, so a new child takes it."""
    worker = _worker()
    try:
        worker.send_bytes(b"one")
        assert worker.answer(30) == b"one"
        dead = worker.process
        _kill_and_wait(dead.pid)
        dead.is_alive = lambda: True  # the race: the check before the send missed it
        with capture_logs() as events:
            worker.send_bytes(b"two")
            assert worker.answer(30) == b"two"
        assert worker.process is not dead and worker.process.is_alive()
        assert events == []
        assert dead.exitcode == -signal.SIGKILL  # reaped, not left a zombie
    finally:
        worker.close()


def test_close_leaves_no_process_alive_idle_or_in_a_job():
    idle, busy = _worker(), _worker()
    idle.send_bytes(b"one")
    assert idle.answer(30) == b"one"
    busy.send_bytes(b"sleep")
    time.sleep(0.2)
    children = [idle.process, busy.process]
    started = time.monotonic()
    idle.close()
    busy.close(grace=0.5)
    assert time.monotonic() - started < 5
    assert [c.exitcode for c in children] == [0, -signal.SIGKILL]  # left on EOF; killed after the grace
    assert all(gone(c.pid) for c in children)
    assert idle.process is busy.process is None
