"""Marks: unrealized P&L, Greeks, portfolio exposure and snapshots from option quotes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.clock import NEW_YORK
from core.db.models.trading import PositionRow, PositionSnapshot
from core.engine.config import EngineConfig
from core.engine.engine import TradingEngine
from core.events import PositionMarked
from core.options.select import SelectionRules
from tests.engine.conftest import write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH


async def test_marking_prices_the_position_and_sums_the_portfolio_greeks(rig_factory, tmp_path: Path) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(EngineConfig(auto_confirm=True,
                                         selection=SelectionRules(scalp_min_hours_left=31)))
    await rig.post(SETUP)
    await rig.run_day(until="10:20")  # SPY long calls, NVDA long calls, both open
    exposure = await rig.engine.mark_positions()
    await rig.engine.write_snapshots()  # what the timer does every snapshot_write_seconds
    async with rig.db.sessions() as s:
        positions = (await s.execute(select(PositionRow).where(PositionRow.status == "open"))).scalars().all()
        snaps = (await s.execute(select(PositionSnapshot))).scalars().all()
    assert {p.underlying for p in positions} == {"SPY", "NVDA"}
    assert exposure.positions == 2
    expected_delta = sum(p.greeks["delta"] * p.qty_open * 100 for p in positions)
    assert abs(exposure.delta - expected_delta) < 1e-6 and exposure.delta > 0  # long calls
    assert exposure.theta < 0  # long options decay
    for p in positions:
        quote = await rig.market.option_quote(p.contract)
        mark = Decimal(str(quote.mid))
        assert p.last_mark == mark
        assert p.unrealized_pnl == ((mark - p.avg_entry) * p.qty_open * 100).quantize(Decimal("0.01"))
    assert {s.position_id for s in snaps} >= {p.id for p in positions}


async def test_between_snapshots_marks_live_in_memory_and_queries_show_them(
    rig_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(EngineConfig(auto_confirm=True, snapshot_interval_seconds=3600,
                                         selection=SelectionRules(scalp_min_hours_left=31)))
    await rig.post(SETUP)
    await rig.run_day(until="10:20")  # the first marks were stored when SPY opened
    async with rig.db.sessions() as s:
        stored = {p.id: p.last_mark for p in (await s.execute(select(PositionRow))).scalars()}
    rig.clock.advance(timedelta(minutes=3))  # quotes move; the next snapshot is an hour away
    await rig.engine.mark_positions()
    async with rig.db.sessions() as s:
        still = {p.id: p.last_mark for p in (await s.execute(select(PositionRow))).scalars()}
    assert still == stored  # nothing written between snapshots
    shown = await rig.engine.positions()
    assert len(shown) == 2
    for p in shown:
        quote = await rig.market.option_quote(p.contract)
        assert p.last_mark == Decimal(str(quote.mid))  # queries show the live mark
    assert {p.id: p.last_mark for p in shown} != stored


# --- the cache of open positions the mark pass keeps between passes -------------------------

CACHED = dict(auto_confirm=True, snapshot_interval_seconds=3600,
              selection=SelectionRules(scalp_min_hours_left=31))


async def open_positions(rig) -> dict[str, PositionRow]:
    async with rig.db.sessions() as s:
        rows = (await s.execute(select(PositionRow).where(PositionRow.status == "open"))).scalars()
        return {p.underlying: p for p in rows}


async def cached_rig(rig_factory, tmp_path: Path, until: str):
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(EngineConfig(**CACHED))
    await rig.post(SETUP)
    await rig.run_day(until=until)
    return rig


async def test_a_fill_that_opens_a_position_is_marked_on_the_next_pass(rig_factory, tmp_path: Path) -> None:
    rig = await cached_rig(rig_factory, tmp_path, until="10:10")  # SPY open, marked, stored
    spy = (await open_positions(rig))["SPY"]
    assert set(rig.engine.marks) == {spy.id}
    await rig.run_day(since="10:10", until="10:20")  # NVDA breaks out at 10:15 and fills
    nvda = (await open_positions(rig))["NVDA"]
    exposure = await rig.engine.mark_positions()  # no snapshot due: the cache is what is read
    assert set(rig.engine.marks) == {spy.id, nvda.id}
    assert exposure.positions == 2
    quote = await rig.market.option_quote(nvda.contract)
    assert rig.engine.marks[nvda.id].mark == Decimal(str(quote.mid))
    shown = {p.id: p for p in await rig.engine.positions()}
    assert shown[nvda.id].last_mark == Decimal(str(quote.mid))
    await rig.bus.drain()
    assert nvda.id in {e.position_id for e in rig.of(PositionMarked)}


async def test_a_closed_position_is_no_longer_marked(rig_factory, tmp_path: Path) -> None:
    rig = await cached_rig(rig_factory, tmp_path, until="10:20")
    rig.engine.config = rig.engine.config.model_copy(update={"mark_event_min_change_pct": 0.0})
    held = await open_positions(rig)
    spy, nvda = held["SPY"], held["NVDA"]
    before = await rig.engine.mark_positions()
    assert before.positions == 2 and set(rig.engine.marks) == {spy.id, nvda.id}
    await rig.engine.close_position(nvda.id, "alice")
    rig.clock.advance(timedelta(seconds=5))
    await rig.step()  # the exit fills and the position closes
    assert set(await open_positions(rig)) == {"SPY"}
    await rig.bus.drain()
    seen = len(rig.events)
    rig.clock.advance(timedelta(minutes=2))  # past the P&L event throttle
    after = await rig.engine.mark_positions()
    assert after.positions == 1 and set(rig.engine.marks) == {spy.id}
    spy_delta = (await rig.market.option_quote(spy.contract)).greeks.delta * spy.qty_open * 100
    assert abs(after.delta - spy_delta) < 1e-6
    await rig.bus.drain()
    assert {e.position_id for e in rig.events[seen:] if isinstance(e, PositionMarked)} == {spy.id}


async def test_a_restart_rebuilds_the_cache_from_the_database(rig_factory, tmp_path: Path) -> None:
    rig = await cached_rig(rig_factory, tmp_path, until="10:20")
    held = await open_positions(rig)
    await rig.engine.mark_positions()
    await rig.engine.stop()
    async with rig.db.sessions.begin() as s:  # closed while the bot was down
        pos = await s.get(PositionRow, held["NVDA"].id)
        pos.status, pos.qty_open = "closed", 0
    engine = TradingEngine(db=rig.db, broker=rig.broker, market=rig.market, clock=rig.clock,
                           calendar=rig.engine.calendar, bus=rig.bus, config=EngineConfig(**CACHED))
    await engine.start(live=False)
    exposure = await engine.mark_positions()
    assert exposure.positions == 1 and set(engine.marks) == {held["SPY"].id}
    async with rig.db.sessions.begin() as s:  # and reopened behind this engine's back
        pos = await s.get(PositionRow, held["NVDA"].id)
        pos.status, pos.qty_open = "open", held["NVDA"].qty_open
    fresh = TradingEngine(db=rig.db, broker=rig.broker, market=rig.market, clock=rig.clock,
                          calendar=rig.engine.calendar, bus=rig.bus, config=EngineConfig(**CACHED))
    await fresh.start(live=False)
    assert (await fresh.mark_positions()).positions == 2
    await engine.stop()
    await fresh.stop()


async def test_a_change_made_behind_the_engines_back_is_seen_by_the_next_snapshot(
    rig_factory, tmp_path: Path
) -> None:
    rig = await cached_rig(rig_factory, tmp_path, until="10:20")
    held = await open_positions(rig)
    nvda = held["NVDA"]
    await rig.engine.mark_positions()
    async with rig.db.sessions.begin() as s:  # not through the engine: no version bump
        pos = await s.get(PositionRow, nvda.id)
        pos.status, pos.qty_open, pos.last_mark = "closed", 0, Decimal("0.01")
    rig.clock.advance(timedelta(seconds=3600))  # the next snapshot is due: the book is re-read
    exposure = await rig.engine.mark_positions()
    assert exposure.positions == 1 and set(rig.engine.marks) == {held["SPY"].id}
    async with rig.db.sessions() as s:
        assert (await s.get(PositionRow, nvda.id)).last_mark == Decimal("0.01")  # not overwritten
        stored = (await s.execute(select(PositionSnapshot.position_id).where(
            PositionSnapshot.at == rig.clock.now()))).scalars().all()
    assert stored == [held["SPY"].id]


async def test_position_marked_events_are_throttled_per_position(rig_factory, tmp_path: Path) -> None:
    rig = await cached_rig(rig_factory, tmp_path, until="10:20")
    rig.engine.config = rig.engine.config.model_copy(update={"mark_event_min_change_pct": 0.0})
    ids = {p.id for p in (await open_positions(rig)).values()}

    async def marked_events() -> list[int]:
        await rig.bus.drain()
        seen = len(rig.events)
        await rig.engine.mark_positions()
        await rig.bus.drain()
        return sorted(e.position_id for e in rig.events[seen:] if isinstance(e, PositionMarked))

    rig.clock.advance(timedelta(seconds=61))
    assert await marked_events() == sorted(ids)  # a minute since the last: one each
    rig.clock.advance(timedelta(seconds=5))
    assert await marked_events() == []  # within the minute: none
    rig.clock.advance(timedelta(seconds=60))
    rig.engine.config = rig.engine.config.model_copy(update={"mark_event_min_change_pct": 500.0})
    assert await marked_events() == []  # a minute on, but the P&L moved less than 500 % of cost


async def test_a_close_landing_while_the_pass_waits_for_quotes_is_not_marked(
    rig_factory, tmp_path: Path
) -> None:
    rig = await cached_rig(rig_factory, tmp_path, until="10:20")
    held = await open_positions(rig)
    await rig.engine.close_position(held["NVDA"].id, "alice")  # the exit order is working
    await rig.engine.mark_positions()
    assert set(rig.engine.marks) == {held["SPY"].id, held["NVDA"].id}  # closing is still held
    rig.clock.advance(timedelta(seconds=5))
    quote_batch = rig.market.option_quotes

    async def quotes_while_the_exit_fills(symbols):
        await rig.broker.sync()  # the exchange fills the exit and the engine records it
        await rig.engine.pump_order_updates()
        return await quote_batch(symbols)

    rig.market.option_quotes = quotes_while_the_exit_fills
    exposure = await rig.engine.mark_positions()
    assert set(await open_positions(rig)) == {"SPY"}
    assert exposure.positions == 1 and set(rig.engine.marks) == {held["SPY"].id}


# --- snapshots: taken every snapshot_interval_seconds, written every snapshot_write_seconds ---

async def stored_snapshots(rig) -> list[tuple[int, str]]:
    async with rig.db.sessions() as s:
        rows = (await s.execute(select(PositionSnapshot.position_id, PositionSnapshot.at)
                                .order_by(PositionSnapshot.id))).all()
    return [(pid, at.astimezone(NEW_YORK).strftime("%H:%M")) for pid, at in rows]


async def snapshot_rig(rig_factory, tmp_path: Path, write_seconds: int):
    """SPY and NVDA held at 10:20; a snapshot each minute, written every ``write_seconds``."""
    rig = await cached_rig(rig_factory, tmp_path, until="10:20")
    rig.engine.config = rig.engine.config.model_copy(update={
        "snapshot_interval_seconds": 60, "snapshot_write_seconds": write_seconds})
    return rig


async def test_snapshots_are_kept_in_memory_and_written_together(rig_factory, tmp_path: Path) -> None:
    rig = await snapshot_rig(rig_factory, tmp_path, 300)
    spy = (await open_positions(rig))["SPY"]
    rig.clock.advance(timedelta(seconds=300))
    await rig.engine.mark_positions()  # 10:25: written (at least 5 minutes since the last)
    written = len(await stored_snapshots(rig))
    for _ in range(4):  # 10:26 .. 10:29: taken, not written
        rig.clock.advance(timedelta(seconds=60))
        await rig.engine.mark_positions()
    assert len(await stored_snapshots(rig)) == written
    async with rig.db.sessions() as s:
        before = (await s.get(PositionRow, spy.id)).last_mark
    rig.clock.advance(timedelta(seconds=60))  # 10:30: five minutes since the last write
    await rig.engine.mark_positions()
    new = (await stored_snapshots(rig))[written:]
    assert [at for pid, at in new if pid == spy.id] == ["10:26", "10:27", "10:28", "10:29", "10:30"]
    async with rig.db.sessions() as s:
        row = await s.get(PositionRow, spy.id)
    live = rig.engine.marks[spy.id]
    assert row.last_mark == live.mark and row.last_mark != before  # the latest mark
    assert row.greeks["delta"] == live.greeks["delta"] and row.greeks["iv"] == live.iv
    assert row.greeks["entry_underlying"] == spy.greeks["entry_underlying"]  # kept from the fill


async def test_stopping_the_engine_writes_the_snapshots_still_in_memory(rig_factory, tmp_path: Path) -> None:
    rig = await snapshot_rig(rig_factory, tmp_path, 3600)
    spy = (await open_positions(rig))["SPY"]
    await rig.engine.mark_positions()
    written = len(await stored_snapshots(rig))
    rig.clock.advance(timedelta(seconds=60))
    await rig.engine.mark_positions()  # 10:21, kept in memory
    assert len(await stored_snapshots(rig)) == written
    await rig.engine.stop()
    assert (spy.id, "10:21") in await stored_snapshots(rig)


async def test_a_position_closed_before_the_write_keeps_its_closing_mark(rig_factory, tmp_path: Path) -> None:
    rig = await snapshot_rig(rig_factory, tmp_path, 300)
    nvda = (await open_positions(rig))["NVDA"]
    rig.clock.advance(timedelta(seconds=300))
    await rig.engine.mark_positions()  # 10:25: written
    rig.clock.advance(timedelta(seconds=60))
    await rig.engine.mark_positions()  # 10:26: NVDA's snapshot kept in memory
    async with rig.db.sessions.begin() as s:  # closed behind the engine's back, mark settled
        pos = await s.get(PositionRow, nvda.id)
        pos.status, pos.qty_open, pos.last_mark = "closed", 0, Decimal("0.01")
    rig.clock.advance(timedelta(seconds=240))
    await rig.engine.mark_positions()  # 10:30: written; the book is read again first
    assert (nvda.id, "10:26") in await stored_snapshots(rig)  # taken while it was held
    assert (nvda.id, "10:30") not in await stored_snapshots(rig)
    async with rig.db.sessions() as s:
        assert (await s.get(PositionRow, nvda.id)).last_mark == Decimal("0.01")
    assert nvda.id not in rig.engine.marks
