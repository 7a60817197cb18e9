"""The daily loss limit is a latch: once hit, no new entries for the rest of the trading day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.brokers.sim.broker import SimBroker
from core.db.models.trading import AuditEntry, PositionRow
from core.engine.config import EngineConfig
from core.engine.engine import TradingEngine
from core.engine.risk import EntryIntent, RiskLimits, TradingState, check_entry
from core.events import EngineStateChanged, EventBus, ExitTriggered, ProposalConfirmed, RiskRefused
from core.options.select import SelectionRules
from tests.engine.conftest import Rig, ny, write_bars

DAY1 = date(2025, 6, 11)

SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60

NVDA
🔼 Aggressive Breakout 145.55 🔼 147.30, 148.85, 150.60
"""

# SPY is bought on the 10:00 breakout, dips to 10:10 (above its stop: the day's P&L goes
# through the $50 limit), recovers well into profit by 10:30 and reaches T1 at 10:50.
# NVDA breaks out at 10:40, when the day is in profit again.
SPY_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:10", 606.30),
            ("10:12", 606.30), ("10:30", 607.90), ("10:44", 607.90), ("10:50", 608.50),
            ("16:00", 608.00)]
NVDA_PATH = [("09:30", 144.80), ("10:39", 144.80), ("10:40", 145.70), ("16:00", 145.90)]

CONFIG = EngineConfig(auto_confirm=True, selection=SelectionRules(scalp_min_hours_left=31),
                      risk=RiskLimits(daily_loss_limit=Decimal("50")))


async def breached_then_recovered(rig_factory, tmp_path: Path) -> Rig:
    """Return a rig at 10:35: the day hit the loss limit at the dip and is in profit now."""
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(CONFIG)
    await rig.post(SETUP)
    await rig.run_day(until="10:35")
    halts = [e for e in rig.of(EngineStateChanged) if e.what == "daily_loss_halt"]
    assert len(halts) == 1 and "daily loss limit hit at 10:" in halts[0].detail
    assert (await rig.engine.portfolio_view()).day_pnl > 0  # recovered
    return rig


async def halt_audits(rig: Rig) -> list[AuditEntry]:
    async with rig.db.sessions() as s:
        return list((await s.execute(select(AuditEntry).where(
            AuditEntry.action.like("daily_loss%")).order_by(AuditEntry.id))).scalars())


async def nvda_position(rig: Rig) -> PositionRow | None:
    async with rig.db.sessions() as s:
        return (await s.execute(select(PositionRow).where(
            PositionRow.underlying == "NVDA"))).scalar_one_or_none()


async def test_after_the_loss_limit_is_hit_a_recovered_day_still_takes_no_new_entries(
    rig_factory, tmp_path: Path
) -> None:
    rig = await breached_then_recovered(rig_factory, tmp_path)

    await rig.run_day(since="10:35", until="11:00", symbols=["NVDA", "SPY"])

    refused = [e for e in rig.of(RiskRefused) if e.symbol == "NVDA"]
    assert [e.rule for e in refused] == ["daily_loss"]
    assert "no new entries until the next trading day" in refused[0].reason
    assert [e.symbol for e in rig.of(ProposalConfirmed)] == ["SPY"]
    assert await nvda_position(rig) is None
    # Exits keep running: SPY scaled out at T1 during the halt.
    assert any("T1 608.30" in e.reason for e in rig.of(ExitTriggered))
    # Said once: one audit row and one event, however often entries were checked since.
    assert [a.action for a in await halt_audits(rig)] == ["daily_loss_halt"]
    assert len([e for e in rig.of(EngineStateChanged) if e.what == "daily_loss_halt"]) == 1


async def test_a_restart_keeps_the_days_loss_halt(rig_factory, tmp_path: Path) -> None:
    rig = await breached_then_recovered(rig_factory, tmp_path)
    await rig.engine.stop()
    rig.broker = SimBroker(rig.db, rig.clock, rig.market, background=False)
    await rig.broker.start()
    rig.bus = EventBus()
    rig.events = rig.bus.record()
    rig.engine = TradingEngine(db=rig.db, broker=rig.broker, market=rig.market, clock=rig.clock,
                               calendar=rig.engine.calendar, bus=rig.bus, config=CONFIG)
    await rig.engine.start(live=False)

    await rig.run_day(since="10:35", until="11:00", symbols=["NVDA", "SPY"])

    assert [e.rule for e in rig.of(RiskRefused) if e.symbol == "NVDA"] == ["daily_loss"]
    assert await nvda_position(rig) is None
    assert [a.action for a in await halt_audits(rig)] == ["daily_loss_halt"]


async def test_the_next_days_reset_lifts_the_halt(rig_factory, tmp_path: Path) -> None:
    rig = await breached_then_recovered(rig_factory, tmp_path)
    await rig.run_day(since="10:35", until="16:01", symbols=["NVDA", "SPY"])  # time stop closes SPY

    rig.clock.set(ny("04:00", date(2025, 6, 12)))
    await rig.engine.daily_reset()

    view = await rig.engine.portfolio_view()
    intent = EntryIntent(underlying="NVDA", contract="NVDA250620C00146000", expiry=date(2025, 6, 20),
                         quantity=1, premium=Decimal("200"), signal_id=None)
    rules = {r.rule for r in check_entry(intent, view, rig.engine.limits, TradingState.ACTIVE).refusals}
    assert "daily_loss" not in rules
    assert view.loss_halt is None and view.day_pnl == 0
    assert [a.action for a in await halt_audits(rig)] == ["daily_loss_halt", "daily_loss_reset"]


async def test_a_position_bought_yesterday_and_stopped_out_today_counts_against_today(
    rig_factory, tmp_path: Path
) -> None:
    day2 = date(2025, 6, 12)
    write_bars(tmp_path / "bars", "SPY", [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90),
                                          ("10:30", 607.50), ("16:00", 607.50)])
    write_bars(tmp_path / "bars", "SPY", [("09:30", 604.00), ("16:00", 604.00)], day=day2)
    rig = await rig_factory(CONFIG)
    await rig.post(SETUP)
    await rig.run_day(until="10:30", symbols=["SPY"])  # bought yesterday, in profit
    assert not [e for e in rig.of(EngineStateChanged) if e.what == "daily_loss_halt"]

    rig.clock.set(ny("09:29", day2))
    await rig.engine.daily_reset()
    async for ev in rig.market.replay(["SPY"], ny("09:30", day2), ny("09:40", day2), clock=rig.clock):
        await rig.engine.on_bar(ev.bar)
        await rig.step()
    await rig.bus.drain()

    async with rig.db.sessions() as s:
        (pos,) = (await s.execute(select(PositionRow))).scalars().all()
    assert pos.status == "closed" and pos.trading_date == DAY1
    loss = (pos.avg_exit - pos.avg_entry) * pos.qty_closed * 100
    assert loss < -50
    halts = [e for e in rig.of(EngineStateChanged) if e.what == "daily_loss_halt"]
    assert len(halts) == 1 and "daily loss limit hit at 09:3" in halts[0].detail
    view = await rig.engine.portfolio_view()
    assert view.day_pnl == loss
    assert view.loss_halt is not None and view.loss_halt.trading_date == day2


async def test_an_admin_resume_lifts_the_halt_once_the_day_has_recovered(
    rig_factory, tmp_path: Path
) -> None:
    rig = await breached_then_recovered(rig_factory, tmp_path)
    await rig.engine.set_trading_state(TradingState.ACTIVE, "admin")

    await rig.run_day(since="10:35", until="11:00", symbols=["NVDA", "SPY"])

    assert not [e for e in rig.of(RiskRefused) if e.symbol == "NVDA"]
    assert (await nvda_position(rig)) is not None
    assert [a.action for a in await halt_audits(rig)] == ["daily_loss_halt", "daily_loss_resume"]
