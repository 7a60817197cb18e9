"""Alembic environment: runs on a connection handed in by :mod:`core.db.session`.

``python -m bot db upgrade`` and start-up both go through ``Database.upgrade``, which passes
an open connection in ``config.attributes["connection"]``. Run from the ``alembic`` command
line, the URL comes from ``-x url=...`` or ``DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from core.db import models  # noqa: F401 - registers every table on the metadata
from core.db.base import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from core.db.session import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///data/aplus.db")
    )
    asyncio.run(_run_async(url))
