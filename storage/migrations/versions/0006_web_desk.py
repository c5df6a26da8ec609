"""web desk: accounts, sessions, notes, assignments, Thai substring search index

Revision ID: 0006_web_desk
Revises: 0005_sender_auth
Create Date: 2026-11-29 01:30:00

Thai is written without spaces between words, so the register is searched by
substring. SQLite: an FTS5 table with the trigram tokenizer over the letters' subject,
sender and reference, kept current by triggers (it holds no text of its own:
content='letters'). PostgreSQL: pg_trgm and one GIN index over the same text, used by
ILIKE '%...%'. Classified entries have those columns NULL, so nothing secret is indexed.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_web_desk'
down_revision = '0005_sender_auth'
branch_labels = None
depends_on = None

# The same expression is searched in storage/desk.py (SEARCH_TEXT); PostgreSQL uses
# the index only for that exact expression.
SEARCH_TEXT = ("(coalesce(subject, '') || ' ' || coalesce(sender_name, '') || ' ' || sender"
               " || ' ' || coalesce(reference, ''))")
FTS_COLUMNS = "subject, sender_name, sender, reference"


def upgrade() -> None:
    op.create_table('desk_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('thai_digits', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('desk_sessions',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('lang', sa.String(length=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['desk_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    with op.batch_alter_table('desk_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_sessions_user_id'), ['user_id'], unique=False)
    op.create_table('letter_notes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('who', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('letter_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_notes_letter_id'), ['letter_id'], unique=False)
    op.create_table('letter_assignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('who', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('letter_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_assignments_letter_id'), ['letter_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_letters_search_trgm ON letters USING gin ({SEARCH_TEXT} gin_trgm_ops)")
    else:
        op.execute(f"CREATE VIRTUAL TABLE letters_fts USING fts5({FTS_COLUMNS}, "
                   "content='letters', content_rowid='id', tokenize='trigram')")
        op.execute("INSERT INTO letters_fts(letters_fts) VALUES ('rebuild')")
        new = "new.id, new.subject, new.sender_name, new.sender, new.reference"
        old = "old.id, old.subject, old.sender_name, old.sender, old.reference"
        op.execute(f"CREATE TRIGGER letters_fts_ai AFTER INSERT ON letters BEGIN "
                   f"INSERT INTO letters_fts(rowid, {FTS_COLUMNS}) VALUES ({new}); END")
        op.execute(f"CREATE TRIGGER letters_fts_ad AFTER DELETE ON letters BEGIN "
                   f"INSERT INTO letters_fts(letters_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {old}); END")
        op.execute(f"CREATE TRIGGER letters_fts_au AFTER UPDATE ON letters BEGIN "
                   f"INSERT INTO letters_fts(letters_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {old}); "
                   f"INSERT INTO letters_fts(rowid, {FTS_COLUMNS}) VALUES ({new}); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_letters_search_trgm")
    else:
        for trigger in ("letters_fts_ai", "letters_fts_ad", "letters_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS letters_fts")
    with op.batch_alter_table('letter_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letter_assignments_letter_id'))
    op.drop_table('letter_assignments')
    with op.batch_alter_table('letter_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letter_notes_letter_id'))
    op.drop_table('letter_notes')
    with op.batch_alter_table('desk_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_sessions_user_id'))
    op.drop_table('desk_sessions')
    op.drop_table('desk_users')
