"""imap_leases.listed_at: when the last whole listing of a central mailbox began

A pulled letter is received at its INTERNALDATE, which whoever APPENDs or copies a
message into the mailbox chooses. One first listed after a listing that began at T
reached the mailbox after T: an older INTERNALDATE is not believed (a backdated
receipt in a register), and the listing's time must survive a restart.

Revision ID: 0012_imap_listed_at
Revises: 0011_attachment_sha256_index
Create Date: 2026-12-01 03:15:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012_imap_listed_at'
down_revision = '0011_attachment_sha256_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have it.
    if 'listed_at' not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns('imap_leases')}:
        with op.batch_alter_table('imap_leases') as batch:
            batch.add_column(sa.Column('listed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('imap_leases') as batch:
        batch.drop_column('listed_at')
