"""A full trading day through the real engine on the simulated exchange, checked to the cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.db.models import SignalRow
from core.db.models.trading import FillRow, OrderRow, PositionRow
from core.engine.config import EngineConfig
from core.events import (
    DailySummary,
    ExitTriggered,
    OrderFilled,
    PositionClosed,
    ProposalConfirmed,
    SignalSkipped,
    SignalTriggered,
)
from core.options.select import SelectionRules
from tests.engine.conftest import write_bars

SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60
🔼 Conservative Breakout 608.30 🔼 610.20, 612.60, 615.00
🔻 Aggressive Breakdown 602.55 🔻 601.28, 598.85, 596.50
⚠️ Bias: Up move continues above 602.55

NVDA
🔼 Aggressive Breakout 145.55 🔼 147.30, 148.85, 150.60
"""

# SPY breaks out at 10:00, reaches T1 at 10:30 and T2 at 11:00, then drifts below T3 until
# the 15:50 time stop. NVDA breaks out at 10:15 and closes back under its stop at 10:45.
SPY_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:29", 607.90),
            ("10:30", 608.40), ("10:59", 609.90), ("11:00", 610.30), ("11:30", 609.80),
            ("16:00", 609.60)]
NVDA_PATH = [("09:30", 144.80), ("10:14", 144.80), ("10:15", 145.70), ("10:44", 145.80),
             ("10:45", 145.30), ("16:00", 145.00)]


def config() -> EngineConfig:
    # Take the next expiries (not 0DTE) so the time stop, not the expiry-day exit, closes SPY.
    return EngineConfig(auto_confirm=True, selection=SelectionRules(scalp_min_hours_left=31))


async def test_a_full_day_trades_scales_out_stops_and_closes_to_the_cent(
    rig_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(config())
    cash_before = (await rig.broker.get_account()).cash
    await rig.post(SETUP)
    await rig.run_day()

    triggered = {(e.symbol, e.aggressiveness, e.category) for e in rig.of(SignalTriggered)}
    assert triggered == {("SPY", "aggressive", "breakout"), ("NVDA", "aggressive", "breakout")}
    skipped = [e.reason for e in rig.of(SignalSkipped)]
    assert any("suppressed" in r and "SPY" in r for r in skipped), skipped
    assert len(rig.of(ProposalConfirmed)) == 2

    async with rig.db.sessions() as s:
        positions = {p.underlying: p for p in (await s.execute(select(PositionRow))).scalars()}
        fills = (await s.execute(select(FillRow, OrderRow).join(OrderRow))).all()
        signals = {(r.symbol, r.category, r.aggressiveness): r
                   for r in (await s.execute(select(SignalRow))).scalars()}
    spy, nvda = positions["SPY"], positions["NVDA"]
    assert spy.status == "closed" and nvda.status == "closed"
    assert spy.qty_open == 0 and spy.qty_closed == spy.qty_filled > 0

    spy_exits = [e.reason for e in rig.of(ExitTriggered) if e.contract == spy.contract]
    assert len(spy_exits) == 3
    assert "T1 608.30" in spy_exits[0] and "T2 610.20" in spy_exits[1]
    assert "time stop 15:50" in spy_exits[2]
    nvda_exits = [e.reason for e in rig.of(ExitTriggered) if e.contract == nvda.contract]
    assert len(nvda_exits) == 1 and "below stop 145.40" in nvda_exits[0]

    # Scale-out quantities follow the plan: a third at T1, a third at T2, the rest at 15:50.
    by_order: dict[int, int] = {}
    for f, o in fills:
        if o.symbol == spy.contract and o.side == "sell":
            by_order[o.id] = by_order.get(o.id, 0) + f.qty
    third = spy.qty_filled // 3
    assert list(by_order.values()) == [third, third, spy.qty_filled - 2 * third]

    # P&L to the cent, three ways: our fills, our positions, the exchange's cash.
    by_fills = sum(((f.price if o.side == "sell" else -f.price) * f.qty * 100 for f, o in fills),
                   Decimal(0))
    by_positions = spy.realized_pnl + nvda.realized_pnl
    summary = rig.of(DailySummary)[-1]
    cash_after = (await rig.broker.get_account()).cash
    assert by_fills.quantize(Decimal("0.01")) == by_positions.quantize(Decimal("0.01"))
    assert summary.realized_pnl == by_positions.quantize(Decimal("0.01"))
    assert cash_after - cash_before == by_positions.quantize(Decimal("0.01"))
    assert summary.trades == 2
    closed = {e.contract: e.realized_pnl for e in rig.of(PositionClosed)}
    assert sum(closed.values()) == summary.realized_pnl

    # Every fill was announced once; nothing is left working at the broker.
    assert sum(e.fill_qty for e in rig.of(OrderFilled)) == sum(f.qty for f, _ in fills)
    assert await rig.broker.list_open_orders() == []
    assert await rig.broker.list_positions() == []

    # Signal lifecycle: fired ones triggered, the suppressed one invalidated, the rest expired.
    assert signals[("SPY", "breakout", "aggressive")].status == "triggered"
    assert signals[("SPY", "breakout", "conservative")].status == "invalidated"
    assert signals[("SPY", "breakdown", "aggressive")].status == "expired"


async def test_the_price_stream_follows_exactly_what_is_watched_or_held(
    rig_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(config())
    stream = rig.market.price_stream((), bars=True)
    rig.engine._stream = stream  # as start(live=True) does, without the consuming task
    assert stream.symbols == frozenset()
    await rig.post(SETUP)
    assert stream.symbols == {"SPY", "NVDA"}
    await rig.run_day(until="10:20")  # NVDA's only signal fired; its position is held
    assert rig.engine.book.symbols() == {"SPY"}
    assert stream.symbols == {"SPY", "NVDA"}
    await rig.run_day(since="10:20", until="16:01", symbols=["SPY", "NVDA"])
    # everything closed, the day's signals expired
    assert stream.symbols == frozenset()
