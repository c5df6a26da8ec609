"""outbox(kind, created_at): the notice rate limits read the past hour, not all history

Revision ID: 0008_outbox_recent_by_kind
Revises: 0007_letter_subjects
Create Date: 2026-11-29 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_outbox_recent_by_kind'
down_revision = '0007_letter_subjects'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have the index.
    if 'ix_outbox_kind_created' in {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('outbox')}:
        return
    op.create_index('ix_outbox_kind_created', 'outbox', ['kind', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_outbox_kind_created', table_name='outbox')
