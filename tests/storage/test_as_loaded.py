"""storage.db.as_loaded: an instance made from a row as the ORM's loader makes one,
detached, with the state the model's constructor gave it before (its identity, no
pending change, absent columns expired), and refusing a name the model does not have."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.exc import DetachedInstanceError

from storage.db import Database, as_loaded
from storage.models import Letter, LetterAttachment, OutboxItem


def by_constructor(model, values: dict):
    instance = model(**values)
    make_transient_to_detached(instance)
    return instance


def state(instance) -> tuple:
    s = sa_inspect(instance)
    return (s.key, s.detached, s.transient, s.pending, dict(s.committed_state), set(s.unloaded),
            set(s.expired_attributes), {k: v for k, v in instance.__dict__.items() if k != "_sa_instance_state"})


def full_row(model, **values) -> dict:
    row = {column.key: None for column in model.__table__.columns}
    row.update(values)
    return row


NOW = dt.datetime(2026, 12, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
CASES = [
    (OutboxItem, full_row(OutboxItem, id=7, kind="notice", key="ack:q:u", queue_id="q", state="pending",
                          attempts=2, payload={"undecided": {"a": [1, 2]}}, created_at=NOW)),
    (Letter, full_row(Letter, id=3, number=15, year=2569, unit="saraban.x@bangkok.go.th", received_at=NOW)),
    (Letter, {"id": 4, "number": 16, "year": 2569}),  # the register's partial values
    (LetterAttachment, full_row(LetterAttachment, id=9, letter_id=3, position=0, filename="ลับ.pdf",
                                sha256="0" * 64, size=10)),
]


@pytest.mark.parametrize("model, values", CASES, ids=lambda v: getattr(v, "__name__", "values"))
def test_the_instance_is_the_one_the_constructor_made(model, values):
    ours, theirs = as_loaded(model, values), by_constructor(model, values)
    assert state(ours) == state(theirs)
    assert sa_inspect(ours).detached and sa_inspect(ours).key[1] == (values["id"],)
    for key, value in values.items():
        assert getattr(ours, key) == value
    absent = {column.key for column in model.__table__.columns} - set(values)
    for key in absent:  # not loaded: expired, as before, never a silent None
        with pytest.raises(DetachedInstanceError):
            getattr(ours, key)


def test_a_name_the_model_does_not_have_is_refused_as_the_constructor_refuses_it():
    with pytest.raises(TypeError, match="'no_such' is an invalid keyword argument for OutboxItem"):
        as_loaded(OutboxItem, {"id": 1, "no_such": 2})
    with pytest.raises(TypeError):
        OutboxItem(id=1, no_such=2)


def test_a_loaded_instance_added_to_a_session_is_updated_not_inserted(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    from storage.models import Base

    Base.metadata.create_all(db.engine)
    with db.session() as session:
        session.add(OutboxItem(kind="folder", key="k", queue_id="q", state="pending", attempts=0, payload={}))
    with db.reading() as conn:
        row = conn.execute(OutboxItem.__table__.select()).first()
    item = as_loaded(OutboxItem, row)
    assert item.kind == "folder" and item.payload == {}
    with db.session() as session:
        session.add(item)
        item.state = "done"
    with db.reading() as conn:
        rows = conn.execute(OutboxItem.__table__.select()).all()
    assert [(r.id, r.state) for r in rows] == [(row.id, "done")]
