"""Concurrent SMTP commits share the fsync of spool/new (gateway/spool.py GroupSync), and
sharing must never let a message's 250 go out before its directory entry is durable:
every commit returns only after an fsync that began after its own rename, and a failed
fsync fails every commit it was meant to cover (the sender gets 451 and retries)."""
from __future__ import annotations

import errno
import threading
import time

import pytest

from gateway import spool as spool_module
from gateway.spool import Spool


def _commit_many(spool: Spool, count: int) -> list[tuple[str, BaseException | None]]:
    drafts = [spool.draft("a@example.org", ["b@example.org"]) for _ in range(count)]
    for draft in drafts:
        draft.write(b"Subject: x\r\n\r\nbody\r\n")
    results: list[tuple[str, BaseException | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def commit(draft) -> None:
        start.wait()
        try:
            draft.commit()
            outcome = None
        except OSError as exc:
            outcome = exc
        with lock:
            results.append((draft.queue_id, outcome))
        draft.discard()

    threads = [threading.Thread(target=commit, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_no_commit_returns_before_an_fsync_that_started_after_its_rename(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    log: list[tuple[str, float, str]] = []  # (what, when, detail)
    lock = threading.Lock()
    real_rename, real_fsync_dir = spool_module.os.rename, spool_module.fsync_dir

    def rename(src, dst):
        real_rename(src, dst)
        with lock:
            log.append(("rename", time.monotonic(), str(dst)))

    def fsync_dir(path):
        with lock:
            log.append(("fsync_start", time.monotonic(), str(path)))
        time.sleep(0.005)  # a slow disk, so that renames pile up behind one fsync
        real_fsync_dir(path)
        with lock:
            log.append(("fsync_end", time.monotonic(), str(path)))

    monkeypatch.setattr(spool_module.os, "rename", rename)
    monkeypatch.setattr(spool_module, "fsync_dir", fsync_dir)
    returned: dict[str, float] = {}
    original_commit = spool_module.SpoolDraft.commit

    def commit(self, auth=None):
        queue_id = original_commit(self, auth)
        returned[queue_id] = time.monotonic()
        return queue_id

    monkeypatch.setattr(spool_module.SpoolDraft, "commit", commit)
    results = _commit_many(spool, 40)

    assert len(results) == 40 and all(error is None for _, error in results)
    assert sorted(spool.pending()) == sorted(q for q, _ in results)
    starts = [when for what, when, _ in log if what == "fsync_start"]
    ends = [when for what, when, _ in log if what == "fsync_end"]
    fsyncs = list(zip(starts, ends))
    assert len(fsyncs) < 40  # shared: fewer directory fsyncs than messages
    for queue_id, _ in results:
        renamed = next(when for what, when, dst in log if what == "rename" and queue_id in dst)
        assert any(renamed <= began and ended <= returned[queue_id] for began, ended in fsyncs), queue_id


def test_a_failed_directory_fsync_fails_every_commit_it_covered(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    failing = threading.Event()
    failing.set()
    real_fsync_dir = spool_module.fsync_dir

    def fsync_dir(path):
        time.sleep(0.005)
        if failing.is_set():
            raise OSError(errno.EIO, "I/O error")
        real_fsync_dir(path)

    monkeypatch.setattr(spool_module, "fsync_dir", fsync_dir)
    results = _commit_many(spool, 12)
    assert len(results) == 12
    assert all(isinstance(error, OSError) and error.errno == errno.EIO for _, error in results)

    failing.clear()  # the disk is back: the next commits succeed
    results = _commit_many(spool, 5)
    assert [error for _, error in results] == [None] * 5


@pytest.mark.parametrize("count", [1, 3])
def test_commits_one_at_a_time_still_fsync_the_directory_each(tmp_path, monkeypatch, count):
    spool = Spool(tmp_path / "spool")
    calls: list[str] = []
    real_fsync_dir = spool_module.fsync_dir
    monkeypatch.setattr(spool_module, "fsync_dir", lambda path: (calls.append(str(path)), real_fsync_dir(path)))
    for _ in range(count):
        draft = spool.draft("a@example.org", ["b@example.org"])
        draft.write(b"Subject: x\r\n\r\nbody\r\n")
        draft.commit()
        draft.discard()
    assert calls == [str(spool.new)] * count
