"""Marks: unrealized P&L, Greeks, portfolio exposure and snapshots from option quotes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.db.models.trading import PositionRow, PositionSnapshot
from core.engine.config import EngineConfig
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
    exposure = await rig.engine.mark_positions()  # the first pass also stores a snapshot
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
    from datetime import timedelta

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
