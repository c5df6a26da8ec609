"""letters.mail_subject: the raw mail subject beside เรื่อง (subject) read from the letter

Revision ID: 0007_letter_subjects
Revises: 0006_web_desk
Create Date: 2026-11-29 01:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007_letter_subjects'
down_revision = '0006_web_desk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries registered before this revision keep the mail subject in `subject`
    # (it was all the register had); new ones get เรื่อง there and the raw subject here.
    # A database adopted by stamping (storage/migrate.py BASELINE) was made by
    # create_all and may already have the column.
    if 'mail_subject' in {c['name'] for c in sa.inspect(op.get_bind()).get_columns('letters')}:
        return
    with op.batch_alter_table('letters') as batch:
        batch.add_column(sa.Column('mail_subject', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('letters') as batch:
        batch.drop_column('mail_subject')
