"""Fees: the engine books the fee the simulated exchange charges, so P&L equals cash."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from bot.services import build_services
from core.calendar import MarketCalendar
from core.clock import FakeClock
from core.config import Settings
from core.db.models.trading import FillRow, OrderRow, PositionRow
from core.engine.config import EngineConfig
from core.events import DailySummary, PositionClosed
from core.marketdata.sim import SimMarketData
from core.options.select import SelectionRules
from core.setups import IncomingMessage
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import SPY_PATH

SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60
"""
FEE = Decimal("0.65")


async def test_a_round_trip_with_a_fee_books_the_exchanges_cash_change_to_the_cent(tmp_path: Path) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                        broker="sim", bars_dir=tmp_path / "bars", sim_fee_per_contract=FEE)
    clock = FakeClock(ny("09:00"))
    market = SimMarketData(clock, bars_dir=tmp_path / "bars", calendar=MarketCalendar())
    # The engine parameters say nothing of fees: the exchange's fee is the one booked.
    config = EngineConfig(auto_confirm=True, selection=SelectionRules(scalp_min_hours_left=31))
    services = await build_services(settings, clock=clock, engine_config=config, market=market,
                                    scheduler=False)
    events = services.bus.record()
    engine, broker = services.engine, services.broker
    try:
        await services.start(live=False)
        cash_before = (await broker.get_account()).cash
        await engine.ingest(IncomingMessage(discord_message_id=1, channel_id=77, author_id=5,
                                            posted_at=ny("09:00"), content=SETUP))
        async for ev in market.replay(["SPY"], ny("09:30"), ny("16:01"), clock=clock):
            await engine.on_bar(ev.bar)
            await broker.sync()
            await engine.pump_order_updates()
            await engine.tick()
            await broker.sync()
            await engine.pump_order_updates()
        await services.bus.drain()
        cash_after = (await broker.get_account()).cash

        async with services.db.sessions() as s:
            (pos,) = (await s.execute(select(PositionRow))).scalars().all()
            fills = (await s.execute(select(FillRow, OrderRow).join(OrderRow))).all()
    finally:
        await services.close()

    assert pos.status == "closed" and pos.qty_closed == pos.qty_filled == 3
    buys = [(f.price, f.qty) for f, o in fills if o.side == "buy"]
    sells = [(f.price, f.qty) for f, o in fills if o.side == "sell"]
    assert len(sells) == 3  # T1, T2 and the time stop: three fills, three fees
    contracts = sum(q for _, q in buys) + sum(q for _, q in sells)  # 3 bought + 3 sold
    by_hand = (sum(p * q for p, q in sells) - sum(p * q for p, q in buys)) * 100 - FEE * contracts
    by_hand = by_hand.quantize(Decimal("0.01"))

    assert pos.fees == FEE * 6
    assert (pos.realized_pnl - pos.fees).quantize(Decimal("0.01")) == by_hand
    assert cash_after - cash_before == by_hand
    (closed,) = [e for e in events if isinstance(e, PositionClosed)]
    assert closed.realized_pnl == by_hand
    assert [e.realized_pnl for e in events if isinstance(e, DailySummary)] == [by_hand]
