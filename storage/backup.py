"""A consistent copy of the SQLite register while the daemon runs, and putting one back.

SQLite's online backup API copies the database page by page inside a read
transaction: the copy is the register as of one moment, with every receive number
either wholly in it or not at all, however busy the daemon is. PostgreSQL has its own
tool for that (pg_dump / pg_restore, docs/install.md)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, func, select

from storage.models import Letter


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:/// URL, None for any other database."""
    prefix = "sqlite:///"
    return Path(url[len(prefix):]) if url.startswith(prefix) else None


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, fsync'ed."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with open(target, "rb") as f:
        os.fsync(f.fileno())


def count_letters(path: Path) -> int:
    """How many register entries a database file holds (0 when it has no register)."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Letter)).scalar_one()
    except Exception:  # noqa: BLE001 - an empty or foreign file: nothing registered
        return 0
    finally:
        engine.dispose()
