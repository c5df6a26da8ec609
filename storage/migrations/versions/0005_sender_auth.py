"""letters.sender_auth and messages.sender_auth: the sender's SPF/DKIM/ARC/DMARC verdict (ยืนยันผู้ส่ง)

Revision ID: 0005_sender_auth
Revises: 0004_imap_intake
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_sender_auth'
down_revision = '0004_imap_intake'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Letters registered before this have no verdict: NULL, shown as "ไม่มีข้อมูล".
    # A database adopted from before migrations (create_all of today's models) has it.
    for table in ("letters", "messages"):
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
        if "sender_auth" in columns:
            continue
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('sender_auth', sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("messages", "letters"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('sender_auth')
