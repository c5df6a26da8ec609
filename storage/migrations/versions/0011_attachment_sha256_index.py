"""letter_attachments.sha256 indexed: a letter sent again in a new e-mail is found by its files

Each ordinary letter looks for a letter of the same sender, unit and last 30 days with
exactly its files (gateway/pipeline/dispose.py, warning `same_files`); without the index
the look-up read every attachment of the sender's letters of the month.

Revision ID: 0011_attachment_sha256_index
Revises: 0010_imap_intake_problems
Create Date: 2026-12-01 00:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011_attachment_sha256_index'
down_revision = '0010_imap_intake_problems'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have it.
    indexes = {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('letter_attachments')}
    if 'ix_letter_attachments_sha256' not in indexes:
        op.create_index('ix_letter_attachments_sha256', 'letter_attachments', ['sha256'])


def downgrade() -> None:
    op.drop_index('ix_letter_attachments_sha256', table_name='letter_attachments')
