"""Storing setup messages on a real database file: idempotent, edit-aware, delete-safe."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.db.models import (
    MessageRevision,
    SetupMessage,
    SignalRow,
    SignalStatus,
    SignalTransition,
    TargetRow,
)
from core.db.session import Database, head_revision, open_database
from core.setups import IncomingMessage, IngestOutcome, SetupStore
from tests.conftest import CORPUS

POSTED = datetime(2025, 6, 11, 13, 53, 25, tzinfo=UTC)
TEXT = (CORPUS / "2025-06-11_line_separators.txt").read_text(encoding="utf-8")


def message(content: str = TEXT, mid: int = 1382357055884759191, **kw) -> IncomingMessage:
    base = dict(discord_message_id=mid, channel_id=200000000000000001,
                author_id=100000000000000001, posted_at=POSTED, content=content)
    base.update(kw)
    return IncomingMessage(**base)


async def count(db: Database, model: type) -> int:
    async with db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_migrations_build_every_table_from_an_empty_database(tmp_path: Path) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            tables = set((await conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type='table'"))).scalars())
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
        assert {"setup_messages", "ticker_setups", "signals", "targets", "biases",
                "message_revisions", "signal_transitions"} <= tables
        assert journal == "wal" and fks == 1
        assert await db.upgrade() == head_revision()  # a second upgrade is a no-op
    finally:
        await db.dispose()


async def test_a_real_post_is_stored_with_every_signal_target_and_bias(db: Database) -> None:
    store = SetupStore(db.sessions)
    result = await store.ingest(message())
    assert result.outcome is IngestOutcome.CREATED
    stored = await store.get(1382357055884759191)
    assert stored is not None
    assert stored.trading_date == date(2025, 6, 11)
    assert stored.posted_at == POSTED  # timezone-aware UTC back out of SQLite
    assert [s.symbol for s in stored.setups] == ["SPY", "TSLA", "NVDA"]
    spy = stored.setups[0]
    assert len(spy.signals) == 6
    bounce = next(s for s in spy.signals if s.category == "bounce")
    assert (bounce.trigger_low, bounce.trigger_high) == (Decimal("596.50"), Decimal("598.10"))
    assert [t.price for t in bounce.targets] == [Decimal("601.28"), Decimal("604.10"), Decimal("606.37")]
    assert all(s.status == SignalStatus.PENDING for s in spy.signals)
    tsla_bias = stored.setups[1].bias
    assert tsla_bias is not None and tsla_bias.flip_direction == "bearish"
    assert tsla_bias.flip_price == Decimal("333.30")


async def test_ingesting_the_same_message_twice_stores_it_once(db: Database) -> None:
    store = SetupStore(db.sessions)
    first = await store.ingest(message())
    again = await store.ingest(message())
    assert first.outcome is IngestOutcome.CREATED and again.outcome is IngestOutcome.UNCHANGED
    assert await count(db, SetupMessage) == 1
    assert await count(db, SignalRow) == 18


async def test_two_concurrent_ingests_of_one_message_store_it_once(db: Database) -> None:
    store = SetupStore(db.sessions)
    results = await asyncio.gather(*(store.ingest(message()) for _ in range(4)))
    assert sorted(r.outcome for r in results).count(IngestOutcome.CREATED) == 1
    assert await count(db, SetupMessage) == 1
    assert await count(db, SignalRow) == 18


async def test_an_edit_updates_levels_in_place_and_keeps_the_history(db: Database) -> None:
    store = SetupStore(db.sessions)
    await store.ingest(message())
    before = await store.get(1382357055884759191)
    spy_breakout_id = next(s.id for s in before.setups[0].signals
                           if s.category == "breakout" and s.aggressiveness == "aggressive")
    edited_text = TEXT.replace("Aggressive Breakout 606.75", "Aggressive Breakout 607.10")
    edited_text = edited_text.replace("🔻 Conservative Breakdown 598.85 🔻 596.50, 594.40, 591.90\n", "")
    result = await store.ingest(message(edited_text, edited_at=datetime(2025, 6, 11, 14, 0, tzinfo=UTC)))
    assert result.outcome is IngestOutcome.UPDATED
    kinds = sorted((c.symbol, c.kind) for c in result.changes)
    assert kinds == [("SPY", "changed"), ("SPY", "removed")]
    assert "606.75" in next(c.detail for c in result.changes if c.kind == "changed")

    after = await store.get(1382357055884759191)
    assert after.revision == 2 and [r.revision for r in after.revisions] == [1, 2]
    assert after.revisions[0].raw_text == TEXT
    breakout = next(s for s in after.setups[0].signals if s.id == spy_breakout_id)
    assert breakout.trigger_low == Decimal("607.10")  # same row, new level
    assert any("edited" in t.reason and "606.75" in t.reason for t in breakout.transitions)
    removed = next(s for s in after.setups[0].signals
                   if s.category == "breakdown" and s.aggressiveness == "conservative")
    assert removed.status == SignalStatus.INVALIDATED
    assert removed.status_reason == "removed in edit"
    assert await count(db, SignalRow) == 18  # nothing deleted
    assert await count(db, MessageRevision) == 2


async def test_a_deleted_message_invalidates_its_live_signals_and_keeps_its_rows(db: Database) -> None:
    store = SetupStore(db.sessions)
    await store.ingest(message())
    result = await store.delete(1382357055884759191, at=datetime(2025, 6, 11, 15, 0, tzinfo=UTC))
    assert result.outcome is IngestOutcome.DELETED
    assert len(result.invalidated_signal_ids) == 18
    stored = await store.get(1382357055884759191)
    assert stored.deleted_at is not None
    assert all(s.status == SignalStatus.INVALIDATED for st in stored.setups for s in st.signals)
    assert await count(db, SignalTransition) == 36  # one "read", one "deleted" per signal
    assert (await store.delete(1382357055884759191)).outcome is IngestOutcome.UNCHANGED
    assert (await store.delete(42)).outcome is IngestOutcome.UNKNOWN


async def test_chatter_is_stored_as_not_aplus_and_never_watched(db: Database) -> None:
    store = SetupStore(db.sessions)
    result = await store.ingest(message("SPY looking strong today, might rip", mid=7))
    assert result.status == "not_aplus"
    assert await count(db, SignalRow) == 0
    assert (await store.get(7)).raw_text == "SPY looking strong today, might rip"


async def test_malformed_levels_keep_the_message_and_its_warnings(db: Database) -> None:
    store = SetupStore(db.sessions)
    text_ = (CORPUS / "malformed_levels.txt").read_text(encoding="utf-8")
    result = await store.ingest(message(text_, mid=8))
    assert result.status == "no_signals"
    stored = await store.get(8)
    assert stored.warnings and any("x.xx" in w or "ABC" in w for w in stored.warnings)
    assert await count(db, TargetRow) == 0


async def test_the_database_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    db = await open_database(url)
    await SetupStore(db.sessions).ingest(message())
    await db.dispose()
    db2 = await open_database(url)
    try:
        store = SetupStore(db2.sessions)
        assert (await store.ingest(message())).outcome is IngestOutcome.UNCHANGED
        assert await store.last_message_id(200000000000000001) == 1382357055884759191
        assert len(await store.signals(date(2025, 6, 11))) == 18
    finally:
        await db2.dispose()


def test_naive_timestamps_are_refused_rather_than_guessed() -> None:
    from core.db.base import UTCDateTime

    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 6, 11, 9, 30), dialect=None)  # type: ignore[arg-type]
