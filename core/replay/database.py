"""A throw-away SQLite database for one replayed day, driven in the event loop's thread.

The engine talks to its database through SQLAlchemy's async engine over aiosqlite, which runs
every call (cursor, execute, fetch, close) on a worker thread and hands the result back through
the event loop: a few thread hops per statement. Live that costs nothing worth measuring; a
replayed day issues thousands of small statements, and on a loaded machine the hops dominate.

:class:`InlineConnection` is aiosqlite's connection with the worker thread taken out: each call
runs at once in the calling thread. SQL, schema, transactions and the engine's code are exactly
the live ones; only where the sqlite3 calls execute changes. It is meant for a private database
file in a temporary folder, never for the project database shared with a running bot.

Sessions close in place. SQLAlchemy closes an async session (and ends a ``sessions.begin()``
block) in a task of its own, shielded, so that a cancellation cannot abandon the close halfway
and leave a connection out of its pool; that costs a task and two turns of the event loop per
session, a fifth of a small session's time here. Nothing cancels a replayed day's work halfway
(an interrupt ends the process, and the database is thrown away), so a replay's sessions close
directly. For the same reason the pool does not roll a connection back when it comes back: the
session that used it has already committed or rolled back.

Migrating a fresh database takes longer than replaying a quiet day, so :class:`ReplayDatabases`
migrates one template file once and copies it for every day. A database handed back with
:meth:`~ReplayDatabases.discard` is reused, pointed at the next day's file: one engine (one
dialect) for a whole backtest, so SQLAlchemy compiles each statement once and its caches, keyed
by dialect, do not grow day after day.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

from core.db.session import Database

log = logging.getLogger(__name__)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run immediately in the caller's thread."""

    def __await__(self):  # type: ignore[override]
        return self._connect().__await__()

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def stop(self) -> asyncio.Future | None:
        """Close the sqlite3 connection (there is no thread to stop)."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        """Close the connection."""
        self.stop()


def _connector(path: Path) -> sqlite3.Connection:
    # as aiosqlite opens it for the live database: the sqlite3 module's own transaction
    # handling (a write starts one; commit and rollback end it), not autocommit
    return sqlite3.connect(str(path), check_same_thread=False)


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _fast_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # A replay database is disposable: no fsync.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


class _Session(AsyncSession):
    """An async session that closes in place when its ``async with`` block ends."""

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Begin:
    """``sessions.begin()``: commit (or roll back on an error), then close, in place."""

    __slots__ = ("session", "transaction")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.transaction: AsyncSessionTransaction | None = None

    async def __aenter__(self) -> AsyncSession:
        self.transaction = self.session.begin()
        await self.transaction.__aenter__()
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        assert self.transaction is not None
        try:
            await self.transaction.__aexit__(*exc)
        finally:
            await self.session.close()


class _Sessions(async_sessionmaker[AsyncSession]):
    """The session factory of a replay database (see the module's notes)."""

    def begin(self) -> _Begin:  # type: ignore[override]
        return _Begin(self())


def inline_database(path: Path | Callable[[], Path]) -> Database:
    """Open the SQLite file at ``path`` with :class:`InlineConnection` connections.

    ``path`` may be a function: each new connection opens the file it names then.
    """
    where = path if callable(path) else (lambda: path)
    db = Database(_url(where()),
                  async_creator=lambda: InlineConnection(partial(_connector, where()), 64),
                  pool_reset_on_return=None)
    db.sessions = _Sessions(db.engine, class_=_Session, expire_on_commit=False)
    event.listen(db.engine.sync_engine, "connect", _fast_pragmas)
    return db


class _Day:
    """A database handed out by :class:`ReplayDatabases` and the file it opens now."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = inline_database(lambda: self.path)


class ReplayDatabases:
    """Hand out fresh, migrated databases in a private temporary folder.

    The first call migrates a template; each database after that is a copy of it. Use as an
    async context manager; leaving it deletes every file. Days open at the same time get
    separate databases; a discarded one comes back, on a new file, for a later day.
    """

    def __init__(self, on_open: Callable[[Database], None] | None = None, *,
                 folder: Path | None = None) -> None:
        # called with each day's database (benchmarks count statements); a reused database
        # comes back to it for each day it serves
        self._on_open = on_open
        self._parent = folder  # where the private folder goes (the system's temp by default)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._template: Path | None = None
        self._count = 0
        self._open: dict[int, _Day] = {}  # by id of the Database handed out
        self._idle: list[_Day] = []

    async def __aenter__(self) -> ReplayDatabases:
        self._dir = tempfile.TemporaryDirectory(prefix="aplus-replay-", dir=self._parent)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for day in [*self._idle, *self._open.values()]:
            await day.db.dispose()
        self._idle.clear()
        self._open.clear()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def fresh(self) -> Database:
        """Return a new, migrated, empty database (dispose of it when done)."""
        if self._dir is None:
            raise RuntimeError("ReplayDatabases is not open")
        folder = Path(self._dir.name)
        if self._template is None:
            template = folder / "template.db"
            db = inline_database(template)
            try:
                await db.upgrade()
            finally:
                await db.dispose()
            self._template = template
        self._count += 1
        path = folder / f"day-{self._count}.db"
        shutil.copyfile(self._template, path)
        if self._idle:
            day = self._idle.pop()
            await day.db.dispose()  # no pooled connection may still point at the old file
            day.path = path
            day.db.url = _url(path)
        else:
            day = _Day(path)
        self._open[id(day.db)] = day
        if self._on_open is not None:
            self._on_open(day.db)
        return day.db

    def discard(self, db: Database) -> None:
        """Delete the file of a database handed out by :meth:`fresh` (after disposing of it)."""
        day = self._open.pop(id(db), None)
        if day is None:
            return
        for suffix in ("", "-wal", "-shm"):
            Path(f"{day.path}{suffix}").unlink(missing_ok=True)
        self._idle.append(day)
