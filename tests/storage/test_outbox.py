"""storage/outbox.py on SQLite and PostgreSQL, and the delivery runner's use of it:
added once, backed off, dead, retried; each item's log context is its own."""
from __future__ import annotations

import datetime as dt
import time

import pytest
import structlog
from sqlalchemy import update

from gateway.config.settings import load_settings
from gateway.delivery.errors import PermanentFailure
from gateway.delivery.runner import work_outbox
from gateway.service.services import open_services
from storage import outbox
from storage.db import Database
from storage.models import OutboxItem
from tests.daemon import write_config


def test_add_once_is_once_per_kind_and_key(database_url):
    db = Database(database_url)
    db.create_schema()
    try:
        with db.session() as session:
            first, new = outbox.add_once(session, "notice", "ack:q1:u", queue_id="q1", unit="u", payload={"n": 1})
            again, new_again = outbox.add_once(session, "notice", "ack:q1:u", queue_id="q1", payload={"n": 2})
            other, other_new = outbox.add_once(session, "alert", "ack:q1:u", queue_id="q1")
        assert (new, new_again, other_new) == (True, False, True)
        assert again.id == first.id and again.payload == {"n": 1}
        with db.session() as session:  # a later transaction (a reprocess) finds it too
            _, later = outbox.add_once(session, "notice", "ack:q1:u", queue_id="q1")
        assert later is False
        with db.session() as session:
            assert [i.kind for i in outbox.items_in_state(session)] == ["notice", "alert"]
    finally:
        db.dispose()


def test_an_attempt_scheduled_before_the_clock_stepped_back_is_due_now(database_url):
    """No attempt is scheduled more than retry_max ahead and a new item is due when it
    is made: one further ahead was written before the system clock went back."""
    db = Database(database_url)
    db.create_schema()
    try:
        with db.session() as session:
            new, _ = outbox.add_once(session, "folder", "q3:u", queue_id="q3", unit="u")
            failed, _ = outbox.add_once(session, "folder", "q4:u", queue_id="q4", unit="u")
            waiting, _ = outbox.add_once(session, "folder", "q5:u", queue_id="q5", unit="u")
        for item in (failed, waiting):
            outbox.fail(db, item.id, "OSError: refused", dead_after=3600, retry_base=5, retry_max=60)
        day_ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        with db.session() as session:  # the clock stepped back a day after these were written
            session.execute(update(OutboxItem).where(OutboxItem.id.in_([new.id, failed.id]))
                            .values(next_attempt_at=day_ahead))
        assert outbox.due(db, ["folder"], retry_max=60) == [(new.id, "q3"), (failed.id, "q4")]
    finally:
        db.dispose()


def test_failures_back_off_then_die_and_retry_brings_them_back(database_url):
    db = Database(database_url)
    db.create_schema()
    try:
        with db.session() as session:
            item, _ = outbox.add_once(session, "folder", "q2:u", queue_id="q2", unit="u")
        assert outbox.due(db, ["folder"]) == [(item.id, "q2")]
        first = outbox.fail(db, item.id, "OSError: refused", dead_after=3600, retry_base=5, retry_max=60)
        second = outbox.fail(db, item.id, "OSError: refused", dead_after=3600, retry_base=5, retry_max=60)
        assert (first.dead, first.retry_in, second.retry_in) == (False, 5, 10)
        assert outbox.due(db, ["folder"]) == []  # waiting for its next attempt
        dead = outbox.fail(db, item.id, "550 no such user", dead_after=3600, retry_base=5, retry_max=60,
                           permanent=True)
        assert dead.dead and dead.attempts == 3
        with db.session() as session:
            [row] = outbox.items_in_state(session, "dead")
            assert row.last_error == "550 no such user"
            retried, refused = outbox.retry_items(session, [item.id, 999])
        assert retried == [item.id] and refused == [f"999: {outbox.NO_SUCH_ITEM}"]
        assert outbox.due(db, ["folder"]) == [(item.id, "q2")]
        outbox.finish(db, item.id)
        assert outbox.pending_item(db, item.id) is None
        with db.session() as session:
            assert outbox.retry_items(session, [item.id]) == ([], [f"{item.id}: {outbox.ALREADY_DONE}"])
    finally:
        db.dispose()


def test_the_letters_copies_are_never_given_up_by_age_other_items_are(database_url):
    db = Database(database_url)
    db.create_schema()
    try:
        with db.session() as session:
            ids = {kind: outbox.add_once(session, kind, f"q3:{kind}", queue_id="q3", unit="u")[0].id
                   for kind in ("folder", "registrar", "notice", "alert")}
        failed = {kind: outbox.fail(db, item_id, "OSError: refused", dead_after=0, retry_base=5, retry_max=60)
                  for kind, item_id in ids.items()}
        assert {k: (f.dead, f.overdue) for k, f in failed.items()} == {
            "folder": (False, True), "registrar": (False, True), "notice": (True, False), "alert": (True, False)}
        assert failed["folder"].retry_in == 5
        permanent = outbox.fail(db, ids["folder"], "550 no such user", dead_after=0, retry_base=5, retry_max=60,
                                permanent=True)
        assert permanent.dead and not permanent.overdue
        from storage.counts import counts
        with db.session() as session:
            figures = counts(session, overdue_after=0)
        assert figures.outbox["registrar"] == {"pending": 1, "overdue": 1}
        assert figures.outbox["folder"] == {"dead": 1}
    finally:
        db.dispose()


def test_each_item_is_worked_in_its_own_log_context(tmp_path):
    settings = load_settings(write_config(tmp_path))
    seen = []

    def handler(services, item):
        seen.append(dict(structlog.contextvars.get_contextvars()))
        if item.unit == "saraban.pomprap":
            raise PermanentFailure("550 no such user")

    with open_services(settings, "delivery", upgrade_schema=True) as services:
        with services.db.session() as session:
            for unit in ("saraban.pomprap", "saraban.latkrabang"):
                outbox.add_once(session, "folder", f"q3:{unit}", queue_id="q3", unit=unit)
        structlog.contextvars.clear_contextvars()
        assert work_outbox(services, handlers={"folder": handler}) == 2
        left = dict(structlog.contextvars.get_contextvars())
    assert [(s["unit"], s["kind"], s["queue_id"]) for s in seen] == [
        ("saraban.pomprap", "folder", "q3"), ("saraban.latkrabang", "folder", "q3")]
    assert left == {}  # nothing of the last item leaks into what the runner logs next
    db = Database(settings.database_url)
    with db.session() as session:
        states = {i.unit: i.state for i in outbox.items_in_state(session)}
    db.dispose()
    assert states == {"saraban.pomprap": "dead", "saraban.latkrabang": "done"}


def test_delivery_threads_share_the_work_by_letter_each_item_once(tmp_path):
    """[delivery] workers: each thread takes the letters whose queue id falls to it; a
    letter's folder copy and notice (queued one after the other) stay on one thread,
    so the receive stamps are spread over the threads, not all on one."""
    settings = load_settings(write_config(tmp_path))
    seen: dict[int, list[tuple[str, str]]] = {0: [], 1: []}
    with open_services(settings, "delivery", upgrade_schema=True) as services:
        with services.db.session() as session:
            for n in range(8):
                for kind in ("folder", "notice"):
                    outbox.queue_once(session, kind, f"q{n}:u", queue_id=f"q{n}", unit="u")
        for part in (0, 1):
            def handler(_services, item, part=part):
                seen[part].append((item.queue_id, item.kind))
            work_outbox(services, handlers={"folder": handler, "notice": handler}, part=(part, 2))
    handled = seen[0] + seen[1]
    assert sorted(handled) == sorted((f"q{n}", k) for n in range(8) for k in ("folder", "notice"))
    letters = [{q for q, _ in seen[part]} for part in (0, 1)]
    assert letters[0] and letters[1] and not letters[0] & letters[1]
    assert all(kinds == {"folder", "notice"} for kinds in (
        {k for q2, k in handled if q2 == q} for q in letters[0] | letters[1]))


def test_delivery_speaks_no_sql():
    """The delivery runner, its backends and `outbox` go through storage/outbox.py."""
    import ast

    from tests.paths import REPO

    files = sorted((REPO / "gateway" / "delivery").glob("*.py")) + [REPO / "gateway" / "cli" / "outbox.py"]
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "sqlalchemy"]
    assert len(files) >= 10 and offenders == []


def test_a_handlers_bookkeeping_is_written_with_its_item_done_and_a_settled_item_is_left_alone(tmp_path):
    """The runner writes what a handler returns (the folder copy's stamped-PDF record) in
    the transaction that marks its item done: not when the attempt fails, once when it
    succeeds. A handler that already recorded the item's end (a suppressed notice)
    returns SETTLED and the runner leaves the item as it is."""
    settings = load_settings(write_config(tmp_path))
    attempts = []

    def folder(services, item):
        attempts.append(item.id)
        if len(attempts) == 1:
            raise OSError("the folder server is away")
        return lambda session: outbox.add_once(session, "alert", f"noted:{item.key}", queue_id=item.queue_id)

    def notice(services, item):
        return outbox.SETTLED

    with open_services(settings, "delivery", upgrade_schema=True) as services:
        with services.db.session() as session:
            outbox.add_once(session, "folder", "q4:u", queue_id="q4", unit="u")
            outbox.add_once(session, "notice", "ack:q4:u", queue_id="q4", unit="u")
        work_outbox(services, handlers={"folder": folder, "notice": notice})
        with services.db.session() as session:
            after_failure = {(i.kind, i.state) for i in outbox.items_in_state(session, None)}
        with services.db.session() as session:  # due again at once
            for row in outbox.items_in_state(session, "pending"):
                row.next_attempt_at = row.created_at
        work_outbox(services, handlers={"folder": folder, "notice": notice})
        with services.db.session() as session:
            after_success = sorted((i.kind, i.key, i.state) for i in outbox.items_in_state(session, None))
    assert after_failure == {("folder", "pending"), ("notice", "pending")}  # nothing noted yet
    assert after_success == [("alert", "noted:q4:u", "pending"), ("folder", "q4:u", "done"),
                             ("notice", "ack:q4:u", "pending")]


def test_a_batch_is_marked_done_together_and_one_refused_bookkeeping_holds_up_no_other(tmp_path):
    """The runner marks a batch's finished items done in one transaction (issue 16),
    each with its handler's bookkeeping. One item whose bookkeeping the database
    refuses (here: a second alert row with the same id) is left pending for its retry;
    the others of its batch are done with theirs."""
    settings = load_settings(write_config(tmp_path))

    def folder(services, item):
        if item.queue_id == "q1":
            return lambda session: outbox.queue_once(session, "alert", "taken", queue_id="q1") and session.execute(
                outbox._OUTBOX.insert().values(id=1, kind="x", key="y", queue_id="q1", payload={}))
        return lambda session: outbox.queue_once(session, "alert", f"noted:{item.key}", queue_id=item.queue_id)

    with open_services(settings, "delivery", upgrade_schema=True) as services:
        with services.db.session() as session:
            for n in range(4):
                outbox.queue_once(session, "folder", f"q{n}:u", queue_id=f"q{n}", unit="u")
        assert work_outbox(services, handlers={"folder": folder}) == 4
        with services.db.session() as session:
            states = sorted((i.kind, i.key, i.state) for i in outbox.items_in_state(session, None))
    assert states == [("alert", "noted:q0:u", "pending"), ("alert", "noted:q2:u", "pending"),
                      ("alert", "noted:q3:u", "pending"),
                      ("folder", "q0:u", "done"), ("folder", "q1:u", "pending"), ("folder", "q2:u", "done"),
                      ("folder", "q3:u", "done")]


def test_a_batch_whose_files_are_not_durable_is_not_marked_done(tmp_path, monkeypatch):
    """A batch's folder files are synced (their directories, once each) before the
    transaction that marks the batch done: when that sync fails (an I/O error), no item
    that wrote there is done: each is a failed attempt (backed off, the error kept), and
    is filed again, each file once and its directory synced, when it works."""
    from storage import fsync

    settings = load_settings(write_config(tmp_path))
    folder = tmp_path / "unit"
    (folder / "tmp").mkdir(parents=True)

    def handler(services, item):
        target = folder / item.key
        if not target.exists():
            fsync.write_durably(target, b"letter", tmp_dir=folder / "tmp")
        else:  # found, as gateway/delivery/maildir.py finds a copy: its directory synced too
            fsync.sync_dir(folder)

    real = fsync.fsync_dir
    failing = {"on": True}

    synced = []

    def flaky(path):
        if failing["on"] and path == folder:
            raise OSError(5, "Input/output error")
        synced.append(path)
        real(path)

    monkeypatch.setattr(fsync, "fsync_dir", flaky)
    with open_services(settings, "delivery", upgrade_schema=True) as services:
        with services.db.session() as session:
            for n in range(3):
                outbox.queue_once(session, "folder", f"q{n}", queue_id=f"q{n}", unit="u")
        work_outbox(services, handlers={"folder": handler})
        with services.db.session() as session:
            after_failure = sorted((i.state, i.attempts, i.last_error) for i in outbox.items_in_state(session, None))
        work_outbox(services, handlers={"folder": handler})  # still failing, not yet due: nothing
        failing["on"] = False
        time.sleep(settings.delivery.retry_base * 2)  # due again
        work_outbox(services, handlers={"folder": handler})
        with services.db.session() as session:
            after = sorted(i.state for i in outbox.items_in_state(session, None))
    assert after_failure == [("pending", 1, "OSError: [Errno 5] Input/output error")] * 3
    assert after == ["done"] * 3 and sorted(p.name for p in folder.iterdir()) == ["q0", "q1", "q2", "tmp"]
    assert synced == [folder]  # once for the batch that found the three files written


def test_a_batchs_vault_objects_are_synced_once_before_it_is_marked_done(tmp_path, monkeypatch):
    """The stamped PDFs a batch puts in the vault are written without an fsync each and
    made durable by one syncfs of the vault's filesystem, before the transaction that
    marks the batch done; an object found whole (an earlier attempt renamed it, maybe
    without its sync) is synced with them. When that syncfs fails, no item that put an
    object is done: each is a failed attempt, its error kept."""
    import os

    from storage import fsync

    settings = load_settings(write_config(tmp_path))
    events = []
    real_syncfs, real_fsync, real_finish = fsync.syncfs, os.fsync, outbox.finish_many
    failing = {"on": False}

    def syncfs(path):
        events.append(("syncfs", path))
        if failing["on"]:
            raise OSError(5, "Input/output error")
        real_syncfs(path)

    monkeypatch.setattr(fsync, "syncfs", syncfs)
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync",)) or real_fsync(fd))
    monkeypatch.setattr(outbox, "finish_many", lambda db, done: events.append(("done", len(done))) or real_finish(db, done))

    def handler(services, item):
        services.vault.put(b"%PDF-1.7 stamped " + item.key.encode())
        services.vault.put(b"%PDF-1.7 the same for all")

    with open_services(settings, "delivery", upgrade_schema=True) as services:
        vault_root = services.vault.root
        with services.db.session() as session:
            for n in range(3):
                outbox.queue_once(session, "folder", f"q{n}", queue_id=f"q{n}", unit="u")
        failing["on"] = True
        work_outbox(services, handlers={"folder": handler})
        with services.db.session() as session:
            after_failure = sorted((i.state, i.attempts, i.last_error) for i in outbox.items_in_state(session, None))
        failed_events = list(events)
        events.clear()
        failing["on"] = False
        with services.db.session() as session:  # due again at once
            for row in outbox.items_in_state(session, "pending"):
                row.next_attempt_at = row.created_at
        work_outbox(services, handlers={"folder": handler})
        with services.db.session() as session:
            after = sorted(i.state for i in outbox.items_in_state(session, None))
        objects = sorted(p.read_bytes() for p in vault_root.rglob("*") if p.is_file())
    assert after_failure == [("pending", 1, "OSError: [Errno 5] Input/output error")] * 3
    assert failed_events == [("syncfs", vault_root), ("done", 0)]  # nothing marked done
    assert events == [("syncfs", vault_root), ("done", 3)] and after == ["done"] * 3
    assert objects == [b"%PDF-1.7 stamped q0", b"%PDF-1.7 stamped q1", b"%PDF-1.7 stamped q2",
                       b"%PDF-1.7 the same for all"]


def test_the_delivery_runners_reads_do_not_wait_for_a_writer(tmp_path):
    """On SQLite, a pipeline runner's register transaction holds the write lock. The
    delivery runner looking for work and reading an item (with its letter) must not
    queue behind it (up to the 60 s busy timeout) nor hold it up: its reads take no
    lock, and see what was committed before."""
    import time

    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'saraban.db'}")
    db.create_schema()
    try:
        with db.session() as session:
            item, _ = outbox.add_once(session, "folder", "q3:u", queue_id="q3", unit="u")
        with db.session() as writer:  # BEGIN IMMEDIATE: the write lock, until the block ends
            writer.execute(text("UPDATE outbox SET unit = 'v'"))
            started = time.monotonic()
            due = outbox.due(db, ["folder"])
            read = outbox.pending_item(db, item.id, with_letter=("folder",))
            waited = time.monotonic() - started
        assert due == [(item.id, "q3")] and read.unit == "u" and read.letter is None
        assert waited < 5, f"the reads waited {waited:.1f} s for the writer"
        assert outbox.pending_item(db, item.id).unit == "v"  # and the writer's commit is seen after
    finally:
        db.dispose()


@pytest.mark.parametrize("state", ["held", "suppressed", "withdrawn"])
def test_a_decided_item_is_not_retried_by_the_command_line_or_the_desk(database_url, state):
    """`outbox retry` and the desk's operations page share retry_items: a notice held for
    a smarthost, suppressed (no notice to a sender whose domain did not vouch for it) or
    withdrawn (the rejection notice of a letter since released) was made pending by the
    desk, and a suppressed or withdrawn one by the command line too, and went out."""
    db = Database(database_url)
    db.create_schema()
    try:
        with db.session() as session:
            decided = outbox.add_once(session, "notice", f"q9:{state}", queue_id="q9", unit="u")[0]
            failed = outbox.add_once(session, "notice", "q9:dead", queue_id="q9", unit="u")[0]
            decided.state, failed.state = state, "dead"
        with db.session() as session:
            retried, refused = outbox.retry_items(session, [decided.id, failed.id])
        assert retried == [failed.id]
        assert refused == [f"{decided.id}: {outbox.NOT_FAILED[state]}"]
        assert refused[0].startswith(f"{decided.id}: {state}, not failed")
        assert "ส่งซ้ำ" in refused[0]  # the Thai half, for the clerk at the desk
        with db.session() as session:
            assert session.get(OutboxItem, decided.id).state == state
            assert session.get(OutboxItem, failed.id).state == "pending"
    finally:
        db.dispose()
