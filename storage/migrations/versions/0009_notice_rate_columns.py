"""outbox.rate_key, outbox.rate_domain: the notice rate limits count matching rows only

Until this revision the limits read the JSON payload of every notice of the past hour
for each decision: 10 000 notices in an hour made one decision cost ~120 ms (SQLite),
and decisions are made one at a time.

Revision ID: 0009_notice_rate_columns
Revises: 0008_outbox_recent_by_kind
Create Date: 2026-11-29 12:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009_notice_rate_columns'
down_revision = '0008_outbox_recent_by_kind'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have them.
    columns = {c['name'] for c in inspector.get_columns('outbox')}
    if 'rate_key' not in columns:
        with op.batch_alter_table('outbox') as batch:
            batch.add_column(sa.Column('rate_key', sa.String(320), nullable=True))
            batch.add_column(sa.Column('rate_domain', sa.String(255), nullable=True))
        # Notices decided before: their keys are in the payload (gateway/notices/decide.py).
        if bind.dialect.name == 'postgresql':
            key, domain = "payload::json->>'rate_key'", "payload::json->>'rate_domain'"
        else:
            key, domain = "json_extract(payload, '$.rate_key')", "json_extract(payload, '$.rate_domain')"
        op.execute(f"UPDATE outbox SET rate_key = substr({key}, 1, 320), rate_domain = substr({domain}, 1, 255) "
                   "WHERE kind = 'notice'")
    indexes = {i['name'] for i in inspector.get_indexes('outbox')}
    if 'ix_outbox_rate_key' not in indexes:
        op.create_index('ix_outbox_rate_key', 'outbox', ['kind', 'rate_key', 'created_at'])
    if 'ix_outbox_rate_domain' not in indexes:
        op.create_index('ix_outbox_rate_domain', 'outbox', ['kind', 'rate_domain', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_outbox_rate_domain', table_name='outbox')
    op.drop_index('ix_outbox_rate_key', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('rate_domain')
        batch.drop_column('rate_key')
