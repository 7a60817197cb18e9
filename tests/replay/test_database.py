"""Replay databases: migrated copies of one template, private, deleted when done."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from core.db.models import SetupMessage
from core.db.session import head_revision
from core.replay.database import ReplayDatabases


def exists(path: Path) -> bool:
    return path.exists()


async def test_each_day_gets_its_own_migrated_database_and_nothing_is_left_behind() -> None:
    opened = []
    async with ReplayDatabases(on_open=opened.append) as dbs:
        first, second = await dbs.fresh(), await dbs.fresh()
        assert opened == [first, second]
        assert await first.current_revision() == head_revision()
        async with first.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO setup_messages (discord_message_id, channel_id, author_id, posted_at, "
                "raw_text, content_hash, parse_status, warnings, revision, created_at, updated_at) "
                "VALUES (1, 2, 3, '2025-06-11 13:00:00', 'x', 'h', 'parsed', '[]', 1, "
                "'2025-06-11 13:00:00', '2025-06-11 13:00:00')"))
        async with first.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(SetupMessage))).scalar_one() == 1
        async with second.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(SetupMessage))).scalar_one() == 0
        path = Path(first.url.rsplit("///", 1)[1])
        folder = path.parent
        await first.dispose()
        dbs.discard(first)
        assert not exists(path)
        await second.dispose()
    assert not exists(folder)
