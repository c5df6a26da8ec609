"""messages.sha256 indexed: a letter sent again byte for byte without a Message-ID is found by its bytes

A sending server whose 250 was lost sends the same bytes again; scanners and scripts
often write no Message-ID. Each such letter looks for a message with the same raw
sha256 registered for the unit from the same sender (storage/register.py
`find_same_message_id`); without the index the look-up read the whole messages table.

Revision ID: 0013_message_sha256_index
Revises: 0012_imap_listed_at
Create Date: 2026-12-05 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013_message_sha256_index'
down_revision = '0012_imap_listed_at'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have it.
    indexes = {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('messages')}
    if 'ix_messages_sha256' not in indexes:
        op.create_index('ix_messages_sha256', 'messages', ['sha256'])


def downgrade() -> None:
    op.drop_index('ix_messages_sha256', table_name='messages')
