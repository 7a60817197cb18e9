"""Shared fixtures: a migrated database per test (SQLite file in a temp dir by default).

Set ``TEST_DATABASE_URL`` (e.g. ``postgresql+asyncpg://...``) to run the persistence tests
against another backend; each test then gets a fresh schema (``make test-postgres``).

Set ``HYPOTHESIS_PROFILE=soak`` for the long property runs (``make soak``): tests whose
settings leave ``max_examples`` to the profile, or scale with ``settings.default``, then run
10,000 examples.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings

from core.clock import FakeClock
from core.db.session import Database, open_database

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "aplus"

settings.register_profile("soak", max_examples=10_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 09:00 New York on 2025-06-11 (13:00 UTC)."""
    return FakeClock(datetime(2025, 6, 11, 13, 0, tzinfo=UTC))


async def _postgres_database(base_url: str) -> tuple[Database, str]:
    from sqlalchemy import text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(base_url)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    db = Database(base_url, connect_args={"server_settings": {"search_path": schema}})
    await db.upgrade()
    return db, schema


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A freshly migrated database."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql"):
        database, schema = await _postgres_database(url)
        try:
            yield database
        finally:
            from sqlalchemy import text

            await database.dispose()
            admin = Database(url)
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()
        return
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    try:
        yield database
    finally:
        await database.dispose()
