"""Alembic environment of saraban-gateway: run by storage/migrate.py, never by hand.

The caller hands over an open connection (config.attributes["connection"]) inside a
transaction that already holds the migration lock, so this file only configures the
comparison and runs the scripts in that transaction."""
from __future__ import annotations

from alembic import context

from storage.migrate import include_object
from storage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `saraban-gateway db upgrade` (storage/migrate.py)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # Batch mode renders ALTERs SQLite can do (copy-and-move) and plain ALTERs elsewhere,
    # so one script serves both databases.
    render_as_batch=True,
    compare_type=True,
    compare_server_default=False,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
