"""imap_leases.last_error(_at), imap_messages.raw_sha256/sender/subject: IMAP intake
problems shown by `status`, and a letter known by its bytes after a mailbox restore

Until this revision a wrong password or an unreachable server was only in the JSON log
(`status` said "nothing yet"), a letter left on the server for being too big showed as
"skipped 1" with no sender or subject, and a letter without a Message-ID re-delivered
under a new UIDVALIDITY was registered again.

Revision ID: 0010_imap_intake_problems
Revises: 0009_notice_rate_columns
Create Date: 2026-11-30 10:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010_imap_intake_problems'
down_revision = '0009_notice_rate_columns'
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have them.
    leases = {c['name'] for c in inspector.get_columns('imap_leases')}
    if 'last_error' not in leases:
        with op.batch_alter_table('imap_leases') as batch:
            batch.add_column(sa.Column('last_error', sa.String(500), nullable=True))
            batch.add_column(sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column('connected_at', sa.DateTime(timezone=True), nullable=True))
    messages = {c['name'] for c in inspector.get_columns('imap_messages')}
    if 'raw_sha256' not in messages:
        with op.batch_alter_table('imap_messages') as batch:
            batch.add_column(sa.Column('raw_sha256', sa.String(64), nullable=True))
            batch.add_column(sa.Column('sender', sa.String(512), nullable=True))
            batch.add_column(sa.Column('subject', sa.String(300), nullable=True))
    indexes = {i['name'] for i in inspector.get_indexes('imap_messages')}
    if 'ix_imap_message_sha' not in indexes:
        op.create_index('ix_imap_message_sha', 'imap_messages', ['mailbox', 'raw_sha256'])


def downgrade() -> None:
    op.drop_index('ix_imap_message_sha', table_name='imap_messages')
    with op.batch_alter_table('imap_messages') as batch:
        batch.drop_column('subject')
        batch.drop_column('sender')
        batch.drop_column('raw_sha256')
    with op.batch_alter_table('imap_leases') as batch:
        batch.drop_column('connected_at')
        batch.drop_column('last_error_at')
        batch.drop_column('last_error')
