"""Engine, sessions and migrations.

:class:`Database` owns one async engine and one ``async_sessionmaker``; repositories receive
the session factory and open one session per unit of work. On SQLite the connection is set up
with WAL journaling, foreign keys and a busy timeout; other backends need nothing extra.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.errors import StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine for ``url``, creating the SQLite file's folder if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(url: str | None = None) -> Config:
    """Build an Alembic configuration pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(conn: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """Return the newest migration revision shipped with the code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class Database:
    """The project database: one engine, one session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    @property
    def backend(self) -> str:
        """Return the dialect name (``sqlite``, ``postgresql``...)."""
        return self.engine.dialect.name

    async def upgrade(self, revision: str = "head") -> str | None:
        """Apply migrations up to ``revision`` and return the revision now in force."""
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_upgrade, revision)
            async with self.engine.connect() as conn:
                return await conn.run_sync(_current)
        except SQLAlchemyError as exc:
            raise StorageError(f"database migration failed: {exc.__class__.__name__}: {exc}") from exc

    async def current_revision(self) -> str | None:
        """Return the migration revision the database is at (None when empty)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


async def open_database(url: str, *, migrate: bool = True, **engine_kwargs: Any) -> Database:
    """Open the database at ``url``, applying pending migrations first unless told not to."""
    db = Database(url, **engine_kwargs)
    if migrate:
        rev = await db.upgrade()
        log.info("database at revision %s (%s)", rev, db.backend)
    return db
