"""Confirming proposals: one order or none, refusals with reasons, re-quotes at click time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from core.db.models.trading import OrderRow
from core.engine.config import EngineConfig
from core.engine.engine import ConfirmOutcome
from core.engine.risk import TradingState
from core.events import ProposalCreated, ProposalExpired, ProposalRefreshed, RiskRefused
from core.options.select import SelectionRules
from tests.engine.conftest import write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH


async def proposal_rig(rig_factory, tmp_path: Path, **config):
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    cfg = EngineConfig(selection=SelectionRules(scalp_min_hours_left=31), **config)
    rig = await rig_factory(cfg)
    await rig.post(SETUP)
    await rig.run_day(until="10:02")  # SPY breaks out at 10:00
    created = rig.of(ProposalCreated)
    assert [e.symbol for e in created] == ["SPY"]
    return rig, created[0].proposal_id


async def orders(rig) -> int:
    async with rig.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(OrderRow))).scalar_one()


async def test_double_clicks_and_two_traders_give_exactly_one_order(rig_factory, tmp_path: Path) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    results = await asyncio.gather(*(rig.engine.confirm(pid, who)
                                     for who in ("alice", "alice", "bob", "carol")))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(ConfirmOutcome.SUBMITTED) == 1
    assert outcomes.count(ConfirmOutcome.ALREADY_DECIDED) == 3
    assert await orders(rig) == 1
    assert len(await rig.broker.list_open_orders()) + len(await rig.broker.list_positions()) == 1
    late = await rig.engine.confirm(pid, "dave")
    assert late.outcome is ConfirmOutcome.ALREADY_DECIDED and "alice" in late.message


async def test_a_confirm_after_expiry_sends_nothing(rig_factory, tmp_path: Path) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path, proposal_ttl_seconds=60)
    rig.clock.advance(timedelta(seconds=61))
    result = await rig.engine.confirm(pid, "alice")
    assert result.outcome is ConfirmOutcome.EXPIRED
    assert await orders(rig) == 0
    await rig.bus.drain()
    assert [e.proposal_id for e in rig.of(ProposalExpired)] == [pid]


async def test_the_timer_expires_an_unanswered_proposal(rig_factory, tmp_path: Path) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path, proposal_ttl_seconds=60)
    rig.clock.advance(timedelta(seconds=90))
    await rig.engine.tick()
    assert (await rig.engine.proposal(pid)).status == "expired"
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.EXPIRED


async def test_paused_entries_are_refused_with_the_reason_and_the_proposal_stays_open(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    await rig.engine.set_trading_state(TradingState.REDUCING, "admin")
    refused = await rig.engine.confirm(pid, "alice")
    assert refused.outcome is ConfirmOutcome.REFUSED and "paused" in refused.message
    assert await orders(rig) == 0
    await rig.bus.drain()
    assert [e.rule for e in rig.of(RiskRefused)] == ["trading_state"]
    await rig.engine.set_trading_state(TradingState.ACTIVE, "admin")
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED


async def test_a_rejected_proposal_cannot_be_confirmed(rig_factory, tmp_path: Path) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    await rig.engine.reject(pid, "bob", "too extended")
    result = await rig.engine.confirm(pid, "alice")
    assert result.outcome is ConfirmOutcome.ALREADY_DECIDED and "rejected by bob" in result.message
    assert await orders(rig) == 0


async def test_a_moved_price_refreshes_the_proposal_instead_of_sending(rig_factory, tmp_path: Path) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path, slippage_guard_pct=0.0)
    before = await rig.engine.proposal(pid)
    rig.clock.advance(timedelta(minutes=3))  # the simulated quote moves with the underlying
    result = await rig.engine.confirm(pid, "alice")
    assert result.outcome is ConfirmOutcome.REFRESHED and "confirm again" in result.message
    after = await rig.engine.proposal(pid)
    assert after.version == before.version + 1 and after.limit_price != before.limit_price
    assert after.status == "open" and await orders(rig) == 0
    await rig.bus.drain()
    assert len(rig.of(ProposalRefreshed)) == 1
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED


async def test_a_deleted_setup_message_kills_its_waiting_proposal(rig_factory, tmp_path: Path) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    await rig.engine.delete_message(1001, 77)
    result = await rig.engine.confirm(pid, "alice")
    assert result.outcome is ConfirmOutcome.REFUSED
    assert "invalidated" in result.message and "deleted" in result.message
    assert await orders(rig) == 0
    assert (await rig.engine.proposal(pid)).status == "refused"


async def test_an_entry_that_cannot_fill_falls_back_to_the_best_alternate(
    rig_factory, tmp_path: Path
) -> None:
    from core.engine.config import ExecutionRules
    from core.events import OrderCanceled, OrderSubmitted

    # No repricing allowed: the first contract's mid-price bid is canceled after 15 s while
    # SPY keeps rising, so the engine must try the next contract instead of giving up.
    rig, pid = await proposal_rig(rig_factory, tmp_path,
                                  execution=ExecutionRules(reprice_steps=0, max_slippage_pct=0))
    prop = await rig.engine.proposal(pid)
    alternates = [a["contract"] for a in prop.details["alternates"]]
    assert alternates, "the selector should offer alternates on a liquid chain"
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED
    for _ in range(3):
        rig.clock.advance(timedelta(seconds=16))
        await rig.step()
    await rig.bus.drain()
    async with rig.db.sessions() as s:
        entries = (await s.execute(select(OrderRow).order_by(OrderRow.id))).scalars().all()
    assert [o.symbol for o in entries][:2] == [prop.contract, alternates[0]]
    assert entries[0].status == "canceled" and entries[0].filled_qty == 0
    assert entries[1].client_order_id != entries[0].client_order_id
    assert entries[1].qty * entries[1].limit_price * 100 <= prop.est_cost
    canceled = [e.symbol for e in rig.of(OrderCanceled)]
    submitted = [e.symbol for e in rig.of(OrderSubmitted)]
    assert canceled[0] == prop.contract and submitted[:2] == [prop.contract, alternates[0]]
    positions = await rig.engine.positions(open_only=False)
    assert len(positions) == 1 and positions[0].contract in alternates
