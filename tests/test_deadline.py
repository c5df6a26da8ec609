"""The deadline of a blocking network conversation (gateway/service/deadline.py): one
thread keeps every deadline of the process; a conversation still going at its deadline
is cut and says so in words; one that ended in time is never cut afterwards, however
many there are and whatever their lengths."""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from gateway.service.deadline import Deadline, DeadlinePassed


def _read_until_closed(sock: socket.socket) -> None:
    while sock.recv(1024):
        pass
    raise ConnectionError("closed")


def test_a_conversation_that_outlasts_its_deadline_is_cut_and_named():
    ours, theirs = socket.socketpair()
    stop = threading.Event()

    def trickle() -> None:  # one byte every 0.2 s: a socket timeout would never fire
        while not stop.wait(0.2):
            try:
                theirs.send(b"2")
            except OSError:
                return

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(DeadlinePassed, match=r"the smarthost test:25 did not finish answering within 1 s"):
            with Deadline(1.0, lambda: ours, "the smarthost test:25"):
                _read_until_closed(ours)
    finally:
        stop.set()
        ours.close()
        theirs.close()
    assert 0.9 < time.monotonic() - started < 30


def test_a_later_shorter_deadline_is_cut_first_and_the_longer_one_is_not():
    long_ours, long_theirs = socket.socketpair()
    short_ours, short_theirs = socket.socketpair()
    holding = threading.Event()
    release = threading.Event()
    outcome: list = []

    def long_conversation() -> None:
        with Deadline(60.0, lambda: long_ours, "the relay"):
            holding.set()
            release.wait(30)
            long_theirs.send(b"still here")
            outcome.append(long_ours.recv(100))

    thread = threading.Thread(target=long_conversation)
    thread.start()
    try:
        assert holding.wait(30)
        with pytest.raises(DeadlinePassed, match="the directory"):
            with Deadline(0.3, lambda: short_ours, "the directory"):
                _read_until_closed(short_ours)
        release.set()
        thread.join(30)
        assert outcome == [b"still here"]  # its socket was left alone
    finally:
        release.set()
        for sock in (long_ours, long_theirs, short_ours, short_theirs):
            sock.close()


def test_conversations_that_ended_in_time_are_never_cut_afterwards():
    pairs = [socket.socketpair() for _ in range(40)]
    errors: list = []

    def converse(ours: socket.socket, theirs: socket.socket, seconds: float) -> None:
        try:
            with Deadline(seconds, lambda: ours, "the smarthost"):
                theirs.send(b"250 OK")
                assert ours.recv(100) == b"250 OK"
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=converse, args=(*pair, 0.3 + (i % 4) * 0.1)) for i, pair in enumerate(pairs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    time.sleep(1.0)  # past every one of their deadlines
    try:
        assert not errors
        for ours, theirs in pairs:  # each connection still carries a reply both ways
            theirs.send(b"next")
            assert ours.recv(100) == b"next"
            ours.send(b"back")
            assert theirs.recv(100) == b"back"
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def test_an_error_in_time_is_the_error_itself():
    with pytest.raises(KeyError):
        with Deadline(30.0, lambda: None, "the smarthost"):
            raise KeyError("not a deadline")


def test_a_forked_child_keeps_its_own_deadlines():
    with Deadline(5.0, lambda: None, "before the fork"):
        pass
    pid = os.fork()
    if pid == 0:  # the child: a deadline must still cut
        code = 1
        signal.alarm(20)  # not a hung test if it does not
        try:
            ours, theirs = socket.socketpair()
            try:
                with Deadline(0.3, lambda: ours, "the smarthost"):
                    _read_until_closed(ours)
            except DeadlinePassed:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_connection_that_cannot_be_cut_leaves_the_watch_cutting_the_next_ones():
    class NotASocket:
        def shutdown(self, how):
            raise RuntimeError("a client's own object, not a socket")

    with pytest.raises(DeadlinePassed, match="the odd one"):
        with Deadline(0.1, lambda: NotASocket(), "the odd one"):
            time.sleep(0.5)
            raise KeyError("after its deadline")
    ours, theirs = socket.socketpair()
    ours.settimeout(20)  # a watch that died would leave the read to this, not hang the suite
    try:
        with pytest.raises(DeadlinePassed):
            with Deadline(0.3, lambda: ours, "the smarthost"):
                _read_until_closed(ours)
    finally:
        ours.close()
        theirs.close()


def test_the_watch_is_woken_only_by_a_deadline_sooner_than_it_looks_again(monkeypatch):
    """Deadlines added and ended many times a second (a notice each) leave the watch
    asleep; one further off than the idle wake-up is still cut at its time, and one
    sooner than that wakes the watch at once."""
    from gateway.service import deadline as module

    monkeypatch.setattr(module, "IDLE_WAKE", 0.4)
    watch = module._Watch()
    monkeypatch.setattr(module, "_watch", watch)
    notified = []
    real_notify = watch._changed.notify
    monkeypatch.setattr(watch._changed, "notify", lambda *a: notified.append(1) or real_notify(*a))
    ours, theirs = socket.socketpair()
    try:
        with Deadline(30.0, lambda: ours, "the smarthost"):
            pass  # starts the thread
        time.sleep(0.2)
        for _ in range(200):
            with Deadline(30.0, lambda: ours, "the smarthost"):
                pass
        assert notified == []
        started = time.monotonic()
        with pytest.raises(DeadlinePassed, match="the relay did not finish answering within 1 s"):
            with Deadline(1.2, lambda: ours, "the relay"):  # later than the watch looks again
                _read_until_closed(ours)
        assert 1.1 < time.monotonic() - started < 2.0
    finally:
        ours.close()
        theirs.close()
    ours, theirs = socket.socketpair()
    try:
        time.sleep(0.1)
        with pytest.raises(DeadlinePassed):
            with Deadline(30.0, lambda: ours, "the smarthost"):
                with Deadline(0.05, lambda: ours, "the directory"):  # sooner: wakes it
                    started = time.monotonic()
                    _read_until_closed(ours)
        assert time.monotonic() - started < 0.3
        assert notified
    finally:
        ours.close()
        theirs.close()
