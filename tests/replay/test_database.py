"""Replay databases: migrated copies of one template, private, deleted when done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from core.brokers.models import OrderRequest, OrderSide, OrderStatus, OrderType
from core.brokers.sim import SimBroker
from core.clock import FakeClock
from core.db.models import SetupMessage
from core.db.models.sim import SimAccountRow, SimOrderRow
from core.db.session import head_revision
from core.marketdata.sim import SimMarketData
from core.replay.database import ReplayDatabases


def exists(path: Path) -> bool:
    return path.exists()


def file_of(db) -> Path:
    """Return the SQLite file a database's URL names."""
    return Path(make_url(db.url).database)


async def _insert_post(db) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO setup_messages (discord_message_id, channel_id, author_id, posted_at, "
            "raw_text, content_hash, parse_status, warnings, revision, created_at, updated_at) "
            "VALUES (1, 2, 3, '2025-06-11 13:00:00', 'x', 'h', 'parsed', '[]', 1, "
            "'2025-06-11 13:00:00', '2025-06-11 13:00:00')"))


async def _posts(db) -> int:
    async with db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(SetupMessage))).scalar_one()


async def test_each_day_gets_its_own_migrated_database_and_nothing_is_left_behind() -> None:
    opened = []
    async with ReplayDatabases(on_open=opened.append) as dbs:
        first, second = await dbs.fresh(), await dbs.fresh()
        assert opened == [first, second]
        assert await first.current_revision() == head_revision()
        await _insert_post(first)
        assert await _posts(first) == 1
        assert await _posts(second) == 0
        path = file_of(first)
        folder = path.parent
        assert exists(path)
        await first.dispose()
        dbs.discard(first)
        assert not exists(path)
        await second.dispose()
    assert not exists(folder)



async def test_a_discarded_database_serves_the_next_day_on_a_new_empty_file() -> None:
    async with ReplayDatabases() as dbs:
        first = await dbs.fresh()
        await _insert_post(first)
        old = file_of(first)
        await first.dispose()
        dbs.discard(first)
        assert not exists(old)
        second = await dbs.fresh()
        # one engine for day after day (SQLAlchemy's caches are per engine), on a new file
        assert second.engine is first.engine
        new = file_of(second)
        assert new != old and exists(new) and not exists(old)
        assert await second.current_revision() == head_revision()
        assert await _posts(second) == 0
        await _insert_post(second)
        assert await _posts(second) == 1
        await second.dispose()
        dbs.discard(second)
        assert not exists(new)


async def _stored_account(db) -> tuple[Decimal, datetime]:
    async with db.sessions() as s:
        row = await s.get(SimAccountRow, 1)
        assert row is not None
        return row.cash, row.processed_until.replace(tzinfo=UTC)


START = datetime(2025, 6, 11, 13, 31, tzinfo=UTC)


async def _replay_exchange(db, bars_dir: Path, **options: bool) -> tuple[SimBroker, FakeClock]:
    clock = FakeClock(START)
    broker = SimBroker(db, clock, SimMarketData(clock, bars_dir=bars_dir), background=False,
                       **options)
    await broker.start()
    return broker, clock


async def _buy_one(broker: SimBroker):
    return await broker.submit_order(OrderRequest(
        client_order_id="r-1", symbol="SPY", qty=Decimal(1), side=OrderSide.BUY,
        type=OrderType.MARKET))


async def test_a_replayed_exchange_writes_what_changes_and_not_each_minute_that_passes(
        bars_dir: Path) -> None:
    async with ReplayDatabases() as dbs:
        db = await dbs.fresh()
        broker, clock = await _replay_exchange(db, bars_dir, save_idle=False)
        written = broker.commits
        for _ in range(5):
            clock.advance(timedelta(minutes=1))
            await broker.sync()
        assert broker.commits == written  # only time passed: nothing written
        assert (await _stored_account(db))[1] == START
        order = await _buy_one(broker)
        assert order.status is OrderStatus.FILLED and broker.commits == written + 1
        # the fill's write carries the cash and how far the exchange had got
        assert await _stored_account(db) == ((await broker.get_account()).cash, clock.now())
        await broker.close()
        await db.dispose()


async def test_a_replay_exchange_that_does_not_persist_writes_nothing_and_forgets_nothing(
        bars_dir: Path) -> None:
    async with ReplayDatabases() as dbs:
        db = await dbs.fresh()
        broker, clock = await _replay_exchange(db, bars_dir, persist=False)
        order = await _buy_one(broker)
        assert order.status is OrderStatus.FILLED and broker.commits == 0
        async with db.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(SimOrderRow))).scalar_one() == 0
        clock.advance(timedelta(days=1))  # the next day: a persisting exchange reads it back
        await broker.sync()
        assert (await broker.get_order(order.id)).status is OrderStatus.FILLED
        assert (await broker.get_order_by_client_id("r-1")).id == order.id
        assert (await broker.get_account()).cash < broker.starting_cash  # paid for in memory
        await broker.close()
        await db.dispose()


async def test_a_replay_databases_sessions_commit_roll_back_and_give_their_connection_back() -> None:
    def post(message_id: int) -> SetupMessage:
        at = datetime(2025, 6, 11, 13, 0, tzinfo=UTC)
        return SetupMessage(discord_message_id=message_id, channel_id=2, author_id=3,
                            posted_at=at, raw_text="x", content_hash="h", parse_status="parsed",
                            warnings=[], revision=1, created_at=at, updated_at=at)

    async with ReplayDatabases() as dbs:
        db = await dbs.fresh()
        async with db.sessions.begin() as s:
            s.add(post(1))
        with pytest.raises(RuntimeError, match="midway"):
            async with db.sessions.begin() as s:
                s.add(post(2))
                await s.flush()
                raise RuntimeError("midway")
        assert await _posts(db) == 1  # the first committed, the second rolled back
        async with db.sessions() as s:
            s.add(post(3))
            await s.flush()  # never committed: closing rolls it back
        assert await _posts(db) == 1
        assert db.engine.sync_engine.pool.checkedout() == 0  # every connection came back
        await db.dispose()
