"""Group commit (gateway/pipeline/process.py): several letters registered in one
transaction, and what a failing letter in the middle of a batch does to the others."""
from __future__ import annotations

import pytest

from gateway.config.settings import load_settings
from gateway.pipeline import process
from gateway.pipeline.runner import run_once
from gateway.service.services import open_services
from storage.models import Letter, Message, OutboxItem
from tests.daemon import write_config
from tests.letters import letter

UNIT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def _spool(services, n: int, tag: str = "gc") -> list[str]:
    return [services.spool.accept(letter(message_id=f"<{tag}-{i}@dds.bangkok.go.th>"),
                                  "saraban.dds@bangkok.go.th", [UNIT]) for i in range(n)]


def _register(services) -> dict[str, int]:
    with services.db.session() as session:
        return {row.queue_id: row.number for row in session.query(Letter).all()}


def test_a_batch_registers_every_letter_once_with_gapless_numbers_and_empties_the_spool(services):
    queued = _spool(services, 6)
    commits = []
    real_session = services.db.session

    def counting_session():
        commits.append(1)
        return real_session()

    services.db.session = counting_session
    try:
        assert run_once(services) == 6
    finally:
        services.db.session = real_session
    register = _register(services)
    assert sorted(register) == sorted(queued)
    assert sorted(register.values()) == [1, 2, 3, 4, 5, 6]
    assert services.spool.pending() == []
    # One transaction opens the batch's messages and one registers them all (not 3 a letter).
    assert len(commits) == 2
    with services.db.session() as session:
        assert {m.state for m in session.query(Message).all()} == {"done"}
        folders = session.query(OutboxItem).filter_by(kind="folder").all()
        assert sorted(f.queue_id for f in folders) == sorted(queued)


def test_one_letter_failing_in_the_batch_costs_the_others_nothing(services, monkeypatch):
    queued = _spool(services, 5)
    bad = queued[2]
    real = process.dispose

    def dispose_failing_for_one(services_, session, recipient):
        if recipient.entry.queue_id == bad:
            raise RuntimeError("a bug in one letter's disposition")
        return real(services_, session, recipient)

    monkeypatch.setattr(process, "dispose", dispose_failing_for_one)
    run_once(services)
    register = _register(services)
    assert sorted(register) == sorted(q for q in queued if q != bad)
    assert sorted(register.values()) == [1, 2, 3, 4]  # the rolled-back batch left no gap
    assert services.spool.pending() == [bad]  # still there, waiting for its retry
    with services.db.session() as session:
        message = session.get(Message, bad)
        assert message.state == "processing" and message.reason.startswith("RuntimeError at test_group_commit.py:")

    monkeypatch.setattr(process, "dispose", real)
    from gateway.pipeline import runner

    runner._backoff.pop(bad, None)  # its back-off is the runner's; the test does not wait it out
    run_once(services)
    register = _register(services)
    assert register[bad] == 5 and len(register) == 5
    assert services.spool.pending() == []


def test_a_batch_redone_after_its_commit_registers_nothing_twice(services, monkeypatch):
    """A crash between the batch's commit and the spool removals: the spool files are
    still there; the next run sees finished messages and only removes them."""
    queued = _spool(services, 4)
    monkeypatch.setattr(process, "_finish_spool", lambda *_a, **_k: None)
    run_once(services)
    assert sorted(services.spool.pending()) == sorted(queued)
    monkeypatch.undo()
    run_once(services)
    register = _register(services)
    assert sorted(register.values()) == [1, 2, 3, 4]
    assert services.spool.pending() == []
    with services.db.session() as session:
        assert session.query(OutboxItem).filter_by(kind="folder").count() == 4


def test_a_resend_inside_the_same_batch_is_recognised(services):
    """Two copies of one letter (same sender, same Message-ID) in one batch: the second
    sees the first's registration in the batch's own transaction."""
    raw = letter(message_id="<same@dds.bangkok.go.th>")
    first = services.spool.accept(raw, "saraban.dds@bangkok.go.th", [UNIT])
    second = services.spool.accept(raw, "saraban.dds@bangkok.go.th", [UNIT])
    run_once(services)
    assert list(_register(services)) == [first]
    with services.db.session() as session:
        assert session.get(Message, second).outcome[UNIT].startswith("duplicate of 1/")
