"""Red team of the batches (group commit, session 17): the pipeline registering
`[pipeline] batch` letters in one transaction, the delivery runner working its outbox
`[delivery] batch` items at a time. One letter or item that fails must fail as itself;
nothing accepted is lost or duplicated, and every sender gets the notice owed once
(a notice sent again after kill -9 carries the same Message-ID: docs/notices.md).

One daemon for the module (SQLite, one delivery thread so that items share batches,
notices to an SMTP sink), with the machine's faults injected by
tests/faults/sitecustomize.py; the crash tests start their own."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.config.settings import load_settings
from gateway.delivery.runner import work_outbox
from gateway.pipeline import process as process_module
from gateway.pipeline import runner as runner_module
from gateway.pipeline.runner import run_once
from gateway.service.crashpoints import BATCH_POINTS
from gateway.service.services import open_services
from gateway.tools.emergency_import import import_emergency
from storage import outbox
from storage.db import Database
from storage.models import Letter, Message
from tests.daemon import Daemon, write_config
from tests.test_crash_safety import _exactly_once
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.paths import REPO
from tests.test_fidelity_red_team import sink  # noqa: F401 (the module's sink)
from tests.test_group_commit import services  # noqa: F401 (a pipeline's services in this process)
from tests.test_tools_emergency import write_book
from tests.tools_helpers import this_be_year

BANGKOK = dt.timezone(dt.timedelta(hours=7))
LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng.admin@bangkok.go.th"


def _answers(sink, message_id: str) -> list:  # noqa: ANN001 - tests/servers Sink
    return [r for r in sink.messages() if r.message["In-Reply-To"] == message_id]


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("faults")
    for name in ("dir-fsync", "killer", "delivery-killer"):
        (folder / name).write_text("", encoding="utf-8")
    return {"dir_fsync": folder / "dir-fsync", "killer": folder / "killer",
            "delivery_killer": folder / "delivery-killer"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink, faults):  # noqa: F811
    config = write_config(tmp_path_factory.mktemp("batches17"), extra=notices_config(sink))
    config.write_text(config.read_text().replace("[delivery]\n", "[delivery]\nworkers = 1\n", 1)
                      .replace("[pipeline]\n", "[pipeline]\nmax_attempts = 2\n", 1))
    env = {"SARABAN_TEST_DIR_FSYNC_FAILS": str(faults["dir_fsync"]), "SARABAN_TEST_KILLER": str(faults["killer"]),
           "SARABAN_TEST_DELIVERY_KILLER": str(faults["delivery_killer"]),
           "PYTHONPATH": f"{REPO / 'tests' / 'faults'}:{REPO}"}
    d = Daemon(config, env=env).start()
    yield d
    d.stop()


def _outbox(d: Daemon, queue_id: str) -> list[dict]:
    """The letter's outbox items as `outbox list --json` shows them."""
    return [i for i in json.loads(d.cli("outbox", "list", "--json").stdout) if i["queue_id"] == queue_id]


def _items(d: Daemon, queue_id: str) -> list[SimpleNamespace]:
    """The letter's outbox rows (kind, state, last_error), read in this process: a wait
    polls many times, and a command's start costs ~1 s of CPU."""
    db = Database(load_settings(d.config, environ={}).database_url)
    try:
        with db.session() as session:
            return [SimpleNamespace(kind=i.kind, state=i.state, last_error=i.last_error)
                    for i in outbox.items_in_state(session) if i.queue_id == queue_id]
    finally:
        db.engine.dispose()


def test_a_unit_folder_that_cannot_be_synced_fails_its_own_copy_not_the_batch(gw, sink, faults):
    """The dindaeng folder's share answers EIO to a directory fsync (a network share's
    hiccup). The delivery batch synced its directories at its end and, one of them
    failing, recorded nothing: every item of the batch was done again a second later,
    so the acknowledgement of the letter (and of every letter beside it in the batch)
    went to its sender again every second, and the failing copy showed no failed
    attempt in `outbox list`. Now the copy that met the fault is a failed attempt of
    its own (backed off, the cause in `outbox list`), the other items are done once,
    and once the share is back the copy is filed, once."""
    folder = gw.data_dir / "folders" / "dindaeng_admin"
    faults["dir_fsync"].write_text(str(folder), encoding="utf-8")
    try:
        mid = "<fsync-eio-1@dds.bangkok.go.th>"
        queue_id = gw.send(letter(message_id=mid), [LATKRABANG, DINDAENG])
        gw.wait_for(lambda: len(_answers(sink, mid)) >= 2, what="the acknowledgements (one a unit)")

        def failed_copy():
            return [i for i in _items(gw, queue_id) if i.kind == "folder" and i.state == "pending" and i.last_error]
        gw.wait_for(failed_copy, timeout=20, what="the dindaeng copy's failed attempt")
        [copy] = [i for i in _outbox(gw, queue_id) if i["kind"] == "folder" and i["state"] == "pending"]
        assert copy["unit"] == "saraban.dindaeng.admin" and copy["attempts"] >= 1, copy
        assert "details in the log" in copy["last_error"], copy  # in words, not Python's
        time.sleep(2)  # a batch done again each second would have answered twice more
        assert len(_answers(sink, mid)) == 2
        assert len([p for p in gw.maildir_files("latkrabang") if p.name.startswith(queue_id)]) == 1
    finally:
        faults["dir_fsync"].write_text("", encoding="utf-8")
    gw.wait_idle()
    assert len([p for p in gw.maildir_files("dindaeng_admin") if p.name.startswith(queue_id)]) == 1
    assert len({r.message["Message-ID"] for r in _answers(sink, mid)}) == len(_answers(sink, mid)) == 2
    assert {i.state for i in _items(gw, queue_id)} == {"done"}


def test_a_letter_that_kills_the_runner_is_parked_and_the_letters_of_its_batch_are_registered(gw, sink, faults):
    """A letter that takes the pipeline runner down each time it is checked (as the
    OOM killer ends a runner a letter made grow past the machine's memory), in a batch
    of three. The runner died, was restarted, took the same batch and died again, for
    ever: neither that letter nor the two beside it (nor any letter behind them) was
    ever registered, and nothing told anyone. Now a batch holding a letter an earlier
    run died on is tried one letter at a time, in arrival order: the two others are
    registered and acknowledged, and the killer, opened `[pipeline] max_attempts` (2
    here) times without finishing, is parked: held in quarantine with the reason in
    Thai and English, and the central unit alerted."""
    faults["killer"].write_text("KILLS-THE-RUNNER", encoding="utf-8")
    pipeline = _runner_pid(gw, "pipeline-0")
    os.kill(pipeline, signal.SIGSTOP)  # the three arrive together: one batch
    try:
        mids = [f"<killer-batch-{n}@dds.bangkok.go.th>" for n in range(3)]
        queued = [gw.send(letter(message_id=mid, extra_headers={"X-Test-Fault": "KILLS-THE-RUNNER"} if n == 1 else None), LATKRABANG)
                  for n, mid in enumerate(mids)]
    finally:
        os.kill(pipeline, signal.SIGCONT)
    try:
        gw.wait_for(lambda: not gw.status_here()["spool"]["pending"], timeout=90, what="the spool to empty")
    finally:
        faults["killer"].write_text("", encoding="utf-8")
    gw.wait_idle()
    registered = {e["queue_id"]: e["number"] for e in gw.register("--unit", "saraban.latkrabang")}
    assert queued[0] in registered and queued[2] in registered and queued[1] not in registered
    assert registered[queued[0]] < registered[queued[2]]  # in the order they arrived
    for mid in (mids[0], mids[2]):
        assert len(_answers(sink, mid)) == 1
    [held] = [e for e in json.loads(gw.cli("quarantine", "list", "--json").stdout) if e["queue_id"] == queued[1]]
    [reason] = held["reasons"]
    assert reason["rule"] == "parked" and "RunnerKilled" in reason["message_en"] and "ระบบตรวจหนังสือฉบับนี้ไม่สำเร็จ" in reason["message_th"]
    assert [a for a in _items(gw, queued[1]) if a.kind == "alert" and a.state == "done"]  # the central unit's
    assert not _answers(sink, mids[1])  # the fault is the gateway's: no notice to the sender


def test_a_copy_that_kills_the_delivery_runner_is_dead_and_the_notices_of_its_batch_go_once(gw, sink, faults):
    """Building one letter's folder copy takes the delivery runner down, each time (a
    copy too large for the machine's memory: the OOM killer). The runner was started
    again, took the same batch and died again, for ever: the letter beside it in the
    batch was acknowledged again at each start (twelve times in a minute, the same
    Message-ID), the killer's copy never marked, and every item behind it waited. Now
    the batch it died in is worked one item at a time: the other letter is filed and
    acknowledged (a second time at most, with the same Message-ID, as after any kill),
    the killer's own acknowledgement goes, and its copy is dead in `outbox list`
    (retriable once the cause is fixed)."""
    faults["delivery_killer"].write_text("KILLS-THE-DELIVERY", encoding="utf-8")
    delivery = _runner_pid(gw, "delivery")
    os.kill(delivery, signal.SIGSTOP)  # both letters' items wait for it: one batch
    try:
        innocent = gw.send(letter(message_id="<beside-delivery-killer@dds.bangkok.go.th>"), LATKRABANG)
        killer = gw.send(letter(message_id="<delivery-killer@dds.bangkok.go.th>",
                                extra_headers={"X-Test-Fault": "KILLS-THE-DELIVERY"}), LATKRABANG)
        gw.wait_for(lambda: len(_items(gw, killer)) == 2, what="both letters registered")
    finally:
        os.kill(delivery, signal.SIGCONT)
    try:
        gw.wait_for(lambda: [i for i in _items(gw, killer) if i.kind == "folder" and i.state == "dead"],
                    timeout=120, what="the killer's copy to be dead")
    finally:
        faults["delivery_killer"].write_text("", encoding="utf-8")
    gw.wait_idle()
    beside = _answers(sink, "<beside-delivery-killer@dds.bangkok.go.th>")
    assert 1 <= len(beside) <= 2 and len({r.message["Message-ID"] for r in beside}) == 1
    assert len(_answers(sink, "<delivery-killer@dds.bangkok.go.th>")) == 1
    assert len([p for p in gw.maildir_files("latkrabang") if p.name.startswith(innocent)]) == 1
    [copy] = [i for i in _outbox(gw, killer) if i["kind"] == "folder"]
    assert copy["state"] == "dead" and copy["last_error"], copy


def _runner_pid(d: Daemon, runner: str) -> int:
    return [e["pid"] for e in d.events() if e.get("event") == "runner_spawned" and e["runner"] == runner][-1]


def _start_held(d: Daemon, point: str | None, runner: str) -> int:
    """Start the daemon (kill -9 at `point`) with `runner` stopped (SIGSTOP) as soon as it
    is spawned, before it has imported anything; returns its pid."""
    offset = d.log_path.stat().st_size if d.log_path.exists() else 0
    d.env = {"SARABAN_CRASHPOINT": point} if point else {}
    d.start()
    [pid] = [e["pid"] for e in d.events(offset) if e.get("event") == "runner_spawned" and e["runner"] == runner]
    os.kill(pid, signal.SIGSTOP)
    return pid


def _crashed(d: Daemon, pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
    d.proc.wait(60)  # the crash point killed the whole daemon
    assert d.proc.returncode == -signal.SIGKILL


def test_kill9_inside_batches_then_restart_every_letter_and_notice_once(tmp_path, sink):  # noqa: F811
    """kill -9 inside batches, three times over, each crash in the recovery of the one
    before: between the vault's syncfs and the register transaction of eight letters
    (after_vault); then, once they are registered again, in the middle of the
    transaction deciding a delivery thread's notices, with a second thread beside it
    (in_notice_decisions); then after the first batch of the restarted delivery runner
    is marked done, before the next one is synced (after_batch_done). The runner at
    stake is held (SIGSTOP) until its letters or items wait for it together, so that
    they meet it as one batch. Restarted, every letter is registered once for each unit,
    filed once, and its sender has the acknowledgement owed for each unit: at least
    once, and a second one only with the same Message-ID."""
    assert BATCH_POINTS == ("in_notice_decisions", "after_batch_done")
    config = write_config(tmp_path, extra=notices_config(sink))
    config.write_text(config.read_text().replace("[delivery]\n", "[delivery]\nworkers = 2\n", 1))
    d = Daemon(config)
    try:
        pipeline = _start_held(d, "after_vault", "pipeline-0")
        sent = {}
        for n in range(8):
            mid = f"<batch-kill-{n}@dds.bangkok.go.th>"
            sent[mid] = d.send(letter(message_id=mid), [LATKRABANG, DINDAENG])
        _crashed(d, pipeline)
        assert d.register() == []  # the batch's transaction never ran

        offset = d.log_path.stat().st_size
        delivery = _start_held(d, "in_notice_decisions", "delivery")
        d.wait_for(lambda: len([e for e in d.events(offset) if e.get("event") == "message_finished"]) == 8,
                   what="the eight letters registered again")
        _crashed(d, delivery)
        assert not _answers(sink, next(iter(sent)))  # nothing was sent before the decision

        delivery = _start_held(d, "after_batch_done", "delivery")
        _crashed(d, delivery)

        d.env = {}
        d.start()
        d.wait_idle()
        _exactly_once(d, set(sent.values()))
        for mid in sent:
            answers = d.wait_for(lambda: len({r.message["Message-ID"] for r in _answers(sink, mid)}) == 2 and
                                 _answers(sink, mid), what=f"both acknowledgements of {mid}")
            assert len({r.message["Message-ID"] for r in answers}) == 2, [r.message["Message-ID"] for r in answers]
    finally:
        d.stop()


# -- receive numbers inside one batch (in process: the pipeline's own functions) ---------


def _numbers(services) -> dict[str, tuple[int, int, str]]:  # noqa: ANN001 - Services
    """queue id -> (year, number, outcome) of each letter of the unit."""
    with services.db.session() as session:
        registered = {row.queue_id: (row.year, row.number) for row in session.query(Letter).all()}
        outcomes = {m.queue_id: m.outcome.get(LATKRABANG, "") for m in session.query(Message).all()}
    return {queue_id: (*registered.get(queue_id, (0, 0)), outcome) for queue_id, outcome in outcomes.items()}


def test_one_batch_across_the_year_boundary_with_a_resend_numbers_each_year_from_one(services):
    """One batch of five letters for one unit: two received in the last second of
    2573 in Bangkok, two in the first of 2574, and the second one sent again in 2574
    (same sender, same Message-ID). Each year's register starts at 1, in arrival
    order; the resend is the 2573 letter's duplicate, numbered nowhere."""
    eve = dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=BANGKOK)
    dawn = dt.datetime(2031, 1, 1, 0, 0, 1, tzinfo=BANGKOK)
    arrivals = [(eve, "a"), (eve, "b"), (dawn, "c"), (dawn, "b"), (dawn, "d")]
    queued = [services.spool.accept(letter(message_id=f"<year-{tag}@dds.bangkok.go.th>"),
                                    "saraban.dds@bangkok.go.th", [LATKRABANG], received_at=when)
              for when, tag in arrivals]
    assert run_once(services) == 5
    numbers = _numbers(services)
    assert [numbers[q][:2] for q in queued] == [(2573, 1), (2573, 2), (2574, 1), (0, 0), (2574, 2)]
    assert numbers[queued[3]][2] == "duplicate of 2/2573"


def test_an_emergency_import_between_arrival_and_the_batch_takes_its_number_once(services, tmp_path):
    """Three letters wait in the spool for their batch while the registrar imports the
    emergency register's one letter of the outage for the same unit: the import takes
    the next number, the batch the ones after it, no number twice, none skipped."""
    queued = [services.spool.accept(letter(message_id=f"<emergency-batch-{n}@dds.bangkok.go.th>"),
                                    "saraban.dds@bangkok.go.th", [LATKRABANG]) for n in range(3)]
    year = this_be_year()
    (tmp_path / "scan.pdf").write_bytes(make_pdf("scanned letter"))
    book = write_book(tmp_path, [["กท 0403 / ฉ 001", f"1 ม.ค. {year} 00.01 น.", "", "", "สำนักการคลัง", "",
                                  "ขอส่งรายงาน", "", "scan.pdf"]])
    [imported] = import_emergency(services, book, "saraban.latkrabang")
    assert imported["receive_no"] == f"1/{year}"
    assert run_once(services) == 3
    numbers = _numbers(services)
    assert [numbers[q][:2] for q in queued] == [(year, 2), (year, 3), (year, 4)]
    assert sorted(n for y, n, _ in numbers.values() if y == year) == [1, 2, 3, 4]


def test_batches_of_one_work_each_letter_and_each_item_alone(services, monkeypatch):
    """`[pipeline] batch = 1` and `[delivery] batch = 1`: the behaviour before batches,
    each letter opened and registered in transactions of its own, each outbox item
    marked done in its own."""
    monkeypatch.setattr(services.settings.pipeline, "batch", 1)
    monkeypatch.setattr(services.settings.delivery, "batch", 1)
    queued = [services.spool.accept(letter(message_id=f"<alone-{n}@dds.bangkok.go.th>"),
                                    "saraban.dds@bangkok.go.th", [LATKRABANG]) for n in range(3)]
    batches = []
    real = process_module.process_batch
    monkeypatch.setattr(runner_module, "process_batch", lambda s, ids, *a, **k: batches.append(ids) or real(s, ids, *a, **k))
    assert run_once(services) == 3
    assert batches == [[q] for q in queued]
    assert [numbers[:2] for numbers in map(_numbers(services).get, queued)] == [(this_be_year(), n) for n in (1, 2, 3)]

    finished = []
    real_finish = outbox.finish_many
    monkeypatch.setattr(outbox, "finish_many", lambda db, done: finished.append(len(done)) or real_finish(db, done))
    work_outbox(services, handlers={"folder": lambda *_: None})
    assert finished == [1, 1, 1]


def test_a_letter_that_failed_with_its_reason_recorded_leaves_its_next_batch_whole(services, monkeypatch):
    """Only a run that died on its batch (a letter opened, nothing recorded) has the
    next batch tried one letter at a time: a letter whose failure was recorded (an
    exception, a storage wait) is retried within a whole batch, with one transaction
    for all."""
    [bad] = [services.spool.accept(letter(message_id="<failed-once@dds.bangkok.go.th>"),
                                   "saraban.dds@bangkok.go.th", [LATKRABANG])]
    real = process_module.dispose
    monkeypatch.setattr(process_module, "dispose", lambda *a: (_ for _ in ()).throw(RuntimeError("once")))
    run_once(services)
    monkeypatch.setattr(process_module, "dispose", real)
    runner_module._backoff.pop(bad, None)  # its back-off is the runner's; the test does not wait it out
    queued = [bad] + [services.spool.accept(letter(message_id=f"<after-failed-{n}@dds.bangkok.go.th>"),
                                            "saraban.dds@bangkok.go.th", [LATKRABANG]) for n in range(3)]
    opened = []
    real_open = process_module._open_messages
    monkeypatch.setattr(process_module, "_open_messages",
                        lambda s, letters, *a: opened.append(len(letters)) or real_open(s, letters, *a))
    assert run_once(services) == 4
    assert opened == [4] and services.spool.pending() == []
    assert [_numbers(services)[q][1] for q in queued] == [1, 2, 3, 4]


def test_failures_the_database_could_not_record_are_no_deaths(services, monkeypatch):
    """PostgreSQL restarting again and again: each time the letter is opened, its
    register transaction and then the record of its failure are refused. Nothing in
    the database says it failed, as if the runner had died on it, but the runner saw
    it fail: it is retried, never parked, and registered once the database stays."""
    [queued] = [services.spool.accept(letter(message_id="<flapping-db@dds.bangkok.go.th>"),
                                      "saraban.dds@bangkok.go.th", [LATKRABANG])]
    real = process_module.dispose
    monkeypatch.setattr(process_module, "dispose", lambda *a: (_ for _ in ()).throw(RuntimeError("away")))
    monkeypatch.setattr(runner_module, "record_failure", lambda *a: (_ for _ in ()).throw(RuntimeError("away")))
    for _ in range(services.settings.pipeline.max_attempts + 2):
        runner_module._backoff[queued] = (runner_module._backoff[queued][0] if queued in runner_module._backoff
                                          else 0, 0.0)  # due again now, its failures remembered
        run_once(services)
    monkeypatch.setattr(process_module, "dispose", real)
    runner_module._backoff[queued] = (1, 0.0)
    run_once(services)
    assert _numbers(services)[queued][:2] == (this_be_year(), 1)
    assert services.spool.pending() == [] and services.spool.parked() == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_pipeline_runners_racing_on_one_batch_register_each_letter_once(tmp_path, request, database):
    """Two runners take the same six letters at the same moment (their claims lost: a
    spool shared by mistake, a runner restarted while its old self still works), on
    SQLite and on PostgreSQL. Whichever wins, each letter is registered once, numbered
    1 to 6 in arrival order with no gap, filed once, and none is parked or left in the
    spool once the loser has seen the winner's work."""
    url = request.getfixturevalue("postgres_database_url") if database == "postgresql" else None
    settings = load_settings(write_config(tmp_path, database_url=url))
    with open_services(settings, "pipeline", upgrade_schema=True) as one, open_services(settings, "pipeline") as two:
        queued = [one.spool.accept(letter(message_id=f"<race-{n}@dds.bangkok.go.th>"),
                                   "saraban.dds@bangkok.go.th", [LATKRABANG]) for n in range(6)]
        start = threading.Barrier(2)
        errors: list[tuple[str, str]] = []

        def runner(services) -> None:  # noqa: ANN001
            start.wait()
            process_module.process_batch(services, queued, lambda q, exc: errors.append((q, type(exc).__name__)))

        threads = [threading.Thread(target=runner, args=(s,)) for s in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for queue_id, _name in errors:  # the loser tries again, as its back-off would
            process_module.process_batch(one, [queue_id], lambda q, exc: pytest.fail(f"{q}: {exc!r}"))
        numbers = _numbers(one)
        assert [numbers[q][1] for q in queued] == [1, 2, 3, 4, 5, 6], errors
        assert one.spool.pending() == [] and one.spool.parked() == []
        with one.db.session() as session:
            assert {m.state for m in session.query(Message).all()} == {"done"}
            folders = [i.queue_id for i in outbox.items_in_state(session, kind="folder")]
        assert sorted(folders) == sorted(queued)
