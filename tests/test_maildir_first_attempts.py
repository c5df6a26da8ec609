"""A Maildir copy is filed once without listing the unit's cur/ when no earlier attempt
can have filed it (gateway/delivery/route.py `FirstAttempts`): cur/ holds every letter a
clerk has read, and listing it for every copy cost ~28 ms a copy with a year of letters
there. An item that may have been filed before (it existed when the runner first looked,
it failed before, it was worked here already, or the database is PostgreSQL, which other
gateways may share) is still looked for in cur/ first, so it is never filed twice."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.config.settings import load_settings
from gateway.delivery import maildir, route
from gateway.delivery.runner import work_outbox
from gateway.pipeline.runner import run_once
from gateway.service.services import open_services
from storage.models import OutboxItem
from tests.daemon import write_config
from tests.letters import letter, make_pdf

UNIT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture
def services(tmp_path, monkeypatch):
    monkeypatch.setattr(route, "_first_attempts", route.FirstAttempts())  # this test's "process"
    with open_services(load_settings(write_config(tmp_path)), "delivery", upgrade_schema=True) as s:
        yield s


def _register(services, tag: str) -> str:
    queue_id = services.spool.accept(letter(subject=f"ขอเชิญประชุม {tag}", files=[("a.pdf", make_pdf(tag))],
                                            message_id=f"<{tag}@dds.bangkok.go.th>"),
                                     "saraban.dds@bangkok.go.th", [UNIT])
    assert run_once(services) == 1
    return queue_id


def _copies(services, queue_id: str) -> list[str]:
    return sorted(p.parent.name for p in services.settings.folders_dir.rglob(f"{queue_id}.*") if p.is_file())


def _cur_listed(monkeypatch) -> list[str]:
    """The copies looked for in cur/ (`maildir.delivered_in` lists it), by name."""
    listed: list[str] = []
    real = maildir.delivered_in

    def delivered_in(folder, name):  # noqa: ANN001, ANN202
        listed.append(name)
        return real(folder, name)

    monkeypatch.setattr(maildir, "delivered_in", delivered_in)
    return listed


def test_a_letter_new_to_the_runner_is_filed_once_without_listing_cur(services, monkeypatch):
    first = _register(services, "first")
    listed = _cur_listed(monkeypatch)
    work_outbox(services)
    assert _copies(services, first) == ["new"]
    assert len(listed) == 1  # it was there when the runner first looked: looked for everywhere
    listed.clear()
    later = _register(services, "later")
    work_outbox(services)
    assert _copies(services, later) == ["new"]
    assert listed == []


def test_a_copy_an_earlier_runner_filed_and_a_clerk_read_is_not_filed_again(services):
    """The runner before this one filed the copy and died before recording it; the
    clerk's client has since moved it to cur/. This runner finds it there."""
    queue_id = _register(services, "read")
    with services.db.session() as session:
        item = session.query(OutboxItem).filter_by(kind="folder", queue_id=queue_id).one()
        name = maildir.message_name(queue_id, item.unit)
    cur = maildir.maildir_for(services.settings.folders_dir, "latkrabang") / "cur"
    (cur / f"{name}:2,S").write_bytes(b"Subject: the copy filed before\r\n\r\nread\r\n")
    work_outbox(services)
    assert _copies(services, queue_id) == ["cur"]
    with services.db.session() as session:
        assert session.query(OutboxItem).filter_by(kind="folder", queue_id=queue_id).one().state == "done"


def test_which_items_are_in_doubt(services):
    _register(services, "before")
    first_attempts = route.FirstAttempts(kept=2)
    with services.db.session() as session:
        before = max(item.id for item in session.query(OutboxItem).all())

    def item(item_id: int, attempts: int = 0) -> SimpleNamespace:
        return SimpleNamespace(id=item_id, attempts=attempts)

    assert first_attempts.in_doubt(services, item(before))  # there at the first look
    assert not first_attempts.in_doubt(services, item(before + 1))
    assert first_attempts.in_doubt(services, item(before + 1))  # worked here already
    assert first_attempts.in_doubt(services, item(before + 2, attempts=1))  # failed before
    assert not first_attempts.in_doubt(services, item(before + 3))
    assert not first_attempts.in_doubt(services, item(before + 4))
    # Only `kept` are remembered: the ones let go count as worked.
    assert first_attempts.in_doubt(services, item(before + 1))
    assert first_attempts.in_doubt(services, item(before + 3))
    shared = SimpleNamespace(db=SimpleNamespace(engine=SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))))
    assert route.FirstAttempts().in_doubt(shared, item(10**9))  # another gateway may have filed it
