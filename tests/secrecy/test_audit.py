from __future__ import annotations

import json
import multiprocessing
import os
import re
import stat

import pytest

from gateway.secrecy.audit import AuditError, append_event, audit_path, verify_chain


@pytest.fixture
def trail(tmp_path):
    path = audit_path(tmp_path / "var")
    for i in range(1, 6):
        append_event(path, action="view", letter_id=f"L-{i}", who=f"officer{i}", via="cli")
    return path


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def _write(path, lines):
    path.write_bytes(b"".join(lines))


def test_an_untouched_trail_verifies(trail):
    ok, bad, message = verify_chain(trail)
    assert (ok, bad) == (True, None)
    assert "5 entries" in message


def test_entries_carry_who_when_action_letter_and_previous_hash(trail):
    first, second = [json.loads(line) for line in _lines(trail)[:2]]
    assert first["who"] == "officer1" and first["action"] == "view" and first["letter_id"] == "L-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", first["when"])
    assert first["prev"] == "0" * 64
    import hashlib
    assert second["prev"] == hashlib.sha256(_lines(trail)[0].rstrip(b"\n")).hexdigest()


def test_audit_file_is_private(trail):
    assert stat.S_IMODE(os.stat(trail).st_mode) == 0o600


def test_editing_a_line_is_detected(trail):
    lines = _lines(trail)
    lines[2] = lines[2].replace(b"officer3", b"officer9")
    _write(trail, lines)
    assert verify_chain(trail)[:2] == (False, 4)


def test_editing_the_last_line_is_detected(trail):
    lines = _lines(trail)
    lines[4] = lines[4].replace(b"L-5", b"L-6")
    _write(trail, lines)
    ok, bad, message = verify_chain(trail)
    assert (ok, bad) == (False, 5)


def test_deleting_a_middle_line_is_detected(trail):
    lines = _lines(trail)
    del lines[1]
    _write(trail, lines)
    assert verify_chain(trail)[:2] == (False, 2)


def test_deleting_the_last_lines_is_detected(trail):
    _write(trail, _lines(trail)[:3])
    ok, bad, message = verify_chain(trail)
    assert (ok, bad) == (False, 4)
    assert "deleted" in message


def test_reordering_is_detected(trail):
    lines = _lines(trail)
    lines[1], lines[2] = lines[2], lines[1]
    _write(trail, lines)
    assert verify_chain(trail)[:2] == (False, 2)


def test_a_torn_last_line_is_reported(trail):
    trail.write_bytes(trail.read_bytes() + b'{"seq":6,"who"')
    ok, bad, _ = verify_chain(trail)
    assert (ok, bad) == (False, 6)
    with pytest.raises(AuditError, match="newline"):
        append_event(trail, action="view", letter_id="L-7")


def test_deleting_the_whole_log_is_detected(trail):
    trail.unlink()
    assert verify_chain(trail)[0] is False


def test_a_missing_head_is_reported(trail):
    trail.with_name("audit.log.head").unlink()
    ok, _, message = verify_chain(trail)
    assert not ok and "head" in message


def test_an_interrupted_append_that_left_the_head_behind_still_verifies(trail, tmp_path):
    head = trail.with_name("audit.log.head")
    before = head.read_bytes()
    append_event(trail, action="view", letter_id="L-6")
    head.write_bytes(before)  # as if the process died between the log fsync and the head
    ok, _, message = verify_chain(trail)
    assert ok and "lags" in message


def test_no_trail_yet_is_fine(tmp_path):
    assert verify_chain(tmp_path / "audit.log") == (True, None, "no audit entries yet")


def _append_many(path, worker):
    for i in range(15):
        append_event(path, action="export", letter_id=f"W{worker}-{i}", who=f"w{worker}")


def test_concurrent_processes_keep_one_chain(tmp_path):
    path = audit_path(tmp_path / "var")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    ok, bad, message = verify_chain(path)
    assert ok, message
    assert len(_lines(path)) == 60
