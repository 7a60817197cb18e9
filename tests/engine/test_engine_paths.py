"""Engine paths a trader relies on: repricing, proposal contents, partial fills, bias,
signal history, start-up reconciliation and a trade's P&L to the dollar.

Each scenario runs the real engine on the simulated exchange over bars written here; the
simulated option quotes are deterministic, so prices are written out as figures.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.brokers.models import (
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderType,
    OrderUpdate,
)
from core.db.models import SignalRow, SignalTransition
from core.db.models.trading import FillRow, OrderRow, PositionRow
from core.engine.bias import BiasMode
from core.engine.config import EngineConfig, ExecutionRules
from core.engine.engine import ConfirmOutcome
from core.engine.exits import ExitRules
from core.engine.risk import RiskLimits
from core.events import (
    BiasFlipped,
    ExitTriggered,
    OrderCanceled,
    OrderFilled,
    OrderRepriced,
    PositionClosed,
    ProposalCreated,
    ProposalExpired,
    Reconciliation,
    SetupParsed,
    SignalSkipped,
)
from core.options.select import SelectionRules
from tests.engine.conftest import Rig, ny, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH
from tests.engine.test_recovery import restart

# SPY breaks out at 10:00 and then stands still, so the option quote stays put while an entry
# is worked: SPY250613C00607000 is 3.13 bid / 3.22 ask (mid 3.175) from 10:01 on.
FLAT_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("16:00", 606.90)]
# Flat after the breakout until the entry is done, then past T1 608.30 by 10:20, T2 610.20 by 10:40
# and T3 612.60 by 11:00.
RALLY_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:05", 606.90),
              ("10:20", 608.40), ("10:40", 610.30), ("11:00", 612.70), ("16:00", 612.70)]
QUIET_NVDA = [("09:30", 144.00), ("16:00", 144.00)]

CONTRACT = "SPY250613C00607000"  # what the selector picks for the 10:00 breakout


def config(**kw) -> EngineConfig:
    """Return the engine settings of these scenarios (next expiries, not 0DTE)."""
    return EngineConfig(selection=SelectionRules(scalp_min_hours_left=31), **kw)


async def posted(rig_factory, tmp_path: Path, spy_path=FLAT_PATH, nvda_path=QUIET_NVDA,
                 setup: str = SETUP, **kw) -> Rig:
    """Write the day's bars, start the engine with ``config(**kw)`` and post ``setup`` at 09:00."""
    write_bars(tmp_path / "bars", "SPY", spy_path)
    write_bars(tmp_path / "bars", "NVDA", nvda_path)
    rig = await rig_factory(config(**kw))
    await rig.post(setup)
    return rig


async def rig_at_breakout(rig_factory, tmp_path: Path, spy_path=FLAT_PATH, nvda_path=QUIET_NVDA,
                          **kw) -> tuple[Rig, int]:
    """Post the setup, replay to 10:02 (SPY broke out at 10:00) and return the proposal id."""
    rig = await posted(rig_factory, tmp_path, spy_path, nvda_path, **kw)
    await rig.run_day(until="10:02", symbols=["SPY", "NVDA"])
    [created] = rig.of(ProposalCreated)
    return rig, created.proposal_id


async def every(rig: Rig, seconds: int, times: int) -> None:
    """Advance the clock ``times`` times by ``seconds``, letting the exchange and engine work."""
    for _ in range(times):
        rig.clock.advance(timedelta(seconds=seconds))
        await rig.step()
    await rig.bus.drain()


async def order_rows(rig: Rig) -> list[OrderRow]:
    async with rig.db.sessions() as s:
        return list((await s.execute(select(OrderRow).order_by(OrderRow.id))).scalars())


async def position_rows(rig: Rig) -> list[PositionRow]:
    async with rig.db.sessions() as s:
        return list((await s.execute(select(PositionRow).order_by(PositionRow.id))).scalars())


# ------------------------------------------------------------------- repricing ---------

@pytest.mark.parametrize(
    ("max_slippage_pct", "steps", "ending"),
    [
        # cap 3.17 × 1.02 = 3.2334: the third step reaches the 3.22 ask and fills there.
        (2.0, ["3.18", "3.20", "3.22"], "filled"),
        # cap 3.17 × 1.01 = 3.2017: the third step would be 3.22, is held at 3.20 (no change,
        # nothing sent) and the order is canceled one interval later.
        (1.0, ["3.18", "3.20"], "canceled"),
    ],
)
async def test_an_unfilled_entry_steps_toward_the_ask_every_interval_within_the_slippage_cap(
    rig_factory, tmp_path: Path, max_slippage_pct: float, steps: list[str], ending: str
) -> None:
    rig, pid = await rig_at_breakout(
        rig_factory, tmp_path,
        execution=ExecutionRules(reprice_after_seconds=15, reprice_steps=3,
                                 max_slippage_pct=max_slippage_pct))
    # Proposal at the 3.175 mid, floored to 3.17; steps go a third, then half, then all of
    # the way to the 3.22 ask: 3.17 + 0.05/3 = 3.1867 → 3.18; 3.18 + 0.04/2 = 3.20; 3.22.
    assert (await rig.engine.proposal(pid)).limit_price == Decimal("3.17")
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED
    await every(rig, 15, 4)

    first = [e for e in rig.of(OrderRepriced) if e.order_id == 1]
    assert [e.limit_price for e in first] == [Decimal(s) for s in steps]
    assert [e.old_price for e in first] == [Decimal("3.17"), *(Decimal(s) for s in steps[:-1])]
    assert [e.at for e in first] == [ny("10:02") + timedelta(seconds=15 * (i + 1))
                                     for i in range(len(steps))]
    cap = Decimal("3.17") * (1 + Decimal(str(max_slippage_pct)) / 100)
    assert all(e.limit_price <= cap for e in first)
    entry = (await order_rows(rig))[0]
    assert entry.status == ending and entry.limit_price == Decimal(steps[-1])
    if ending == "filled":
        assert [(e.fill_qty, e.fill_price) for e in rig.of(OrderFilled)] == [(3, Decimal("3.22"))]
        assert not [e for e in rig.of(OrderCanceled) if e.order_id == 1]
    else:
        assert entry.filled_qty == 0
        [canceled] = [e for e in rig.of(OrderCanceled) if e.order_id == 1]
        assert canceled.at == ny("10:03")  # the interval after the last step


async def test_a_fill_reported_under_a_repriced_orders_old_ids_is_not_booked_and_the_new_ids_are(
    rig_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The engine remembers which order a client order id names, after the first event that
    # looked it up; a reprice gives the order new ids, so the old ones must name nothing again,
    # exactly as a database lookup would say.
    rig, pid = await rig_at_breakout(
        rig_factory, tmp_path,
        execution=ExecutionRules(reprice_after_seconds=15, reprice_steps=3, max_slippage_pct=1.0))
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED
    await every(rig, 1, 1)  # the exchange acknowledges the order: its ids are looked up once
    [before] = await order_rows(rig)
    old = await rig.broker.get_order(before.broker_order_id or "")
    await every(rig, 15, 1)
    [after] = await order_rows(rig)
    assert after.reprices == 1 and after.client_order_id != before.client_order_id
    assert old.client_order_id == before.client_order_id

    stale = OrderUpdate(event=OrderEventType.FILL, order=old, timestamp=rig.clock.now(),
                        execution_id="stale-1", fill_qty=Decimal(1), fill_price=Decimal("3.17"))
    with caplog.at_level("INFO", logger="core.engine.order_flow"):
        await rig.engine.on_order_update(stale)
    assert "order event for an order we did not send" in caplog.text
    async with rig.db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(FillRow))).scalar_one() == 0
    assert (await order_rows(rig))[0].filled_qty == 0

    current = await rig.broker.get_order(after.broker_order_id or "")
    fresh = OrderUpdate(event=OrderEventType.FILL, order=current, timestamp=rig.clock.now(),
                        execution_id="fresh-1", fill_qty=Decimal(1), fill_price=Decimal("3.18"))
    await rig.engine.on_order_update(fresh)
    row = (await order_rows(rig))[0]
    assert (row.filled_qty, row.avg_fill_price, row.status) == (1, Decimal("3.18"), "partially_filled")


# ------------------------------------------------------------ confirm guards ----------

async def test_a_confirm_after_the_underlying_reached_t1_sends_nothing_and_says_so(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await rig_at_breakout(rig_factory, tmp_path, spy_path=SPY_PATH, nvda_path=NVDA_PATH,
                                     proposal_ttl_seconds=3600)
    await rig.run_day(since="10:02", until="10:31", symbols=["SPY"])  # SPY 608.40 at 10:30
    result = await rig.engine.confirm(pid, "alice")
    assert result.outcome is ConfirmOutcome.REFUSED
    assert "already reached T1 608.30" in result.message
    assert await order_rows(rig) == []
    prop = await rig.engine.proposal(pid)
    assert prop.status == "refused" and "T1 608.30" in (prop.decision_note or "")
    assert (await rig.engine.confirm(pid, "bob")).outcome is ConfirmOutcome.ALREADY_DECIDED


@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["just-before", "at-expiry", "after"])
@pytest.mark.parametrize("tick_first", [False, True], ids=["confirm-first", "tick-first"])
async def test_a_confirm_racing_the_expiry_gives_one_order_or_none_and_the_status_agrees(
    rig_factory, tmp_path: Path, offset: int, tick_first: bool
) -> None:
    rig, pid = await rig_at_breakout(rig_factory, tmp_path, proposal_ttl_seconds=120)
    prop = await rig.engine.proposal(pid)
    rig.clock.set(prop.expires_at + timedelta(seconds=offset))
    calls = [rig.engine.confirm(pid, "alice"), rig.engine.tick()]
    results = await asyncio.gather(*(reversed(calls) if tick_first else calls))
    confirm = results[1] if tick_first else results[0]
    await rig.bus.drain()
    orders = await order_rows(rig)
    status = (await rig.engine.proposal(pid)).status
    if offset < 0:
        assert confirm.outcome is ConfirmOutcome.SUBMITTED
        assert len(orders) == 1 and status == "confirmed" and rig.of(ProposalExpired) == []
    else:
        assert confirm.outcome is ConfirmOutcome.EXPIRED
        assert orders == [] and status == "expired"
        assert [e.proposal_id for e in rig.of(ProposalExpired)] == [pid]


# ----------------------------------------------------------- proposal contents ---------

async def test_a_proposal_prices_at_mid_on_the_tick_grid_and_carries_cost_stop_and_expiry(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await rig_at_breakout(rig_factory, tmp_path, proposal_ttl_seconds=120,
                                     exits=ExitRules(stop_margin_pct=0.5))
    prop = await rig.engine.proposal(pid)
    assert prop.contract == CONTRACT
    # 3.13 bid / 3.22 ask: mid 3.175, floored onto SPY's penny grid for a buy.
    assert (prop.bid, prop.ask) == (Decimal("3.13"), Decimal("3.22"))
    assert Decimal(prop.details["ref_mid"]) == Decimal("3.175")
    assert prop.limit_price == Decimal("3.17")
    # Default budget $1,000: 3 contracts at $317; cost and max loss 3.17 × 100 × 3.
    assert prop.quantity == 3
    assert prop.est_cost == prop.max_loss == Decimal("951.00")
    alternates = prop.details["alternates"]
    assert 1 <= len(alternates) <= 2
    assert CONTRACT not in [a["contract"] for a in alternates]
    assert prop.expires_at - prop.created_at == timedelta(seconds=120)
    assert prop.created_at == ny("10:01")
    # 0.5% under the 606.75 trigger: 606.75 × 0.995 = 603.71625 → 603.72.
    assert prop.stop_price == Decimal("603.72")
    assert [Decimal(t) for t in prop.targets] == [Decimal("608.30"), Decimal("610.20"),
                                                  Decimal("612.60")]


# ------------------------------------------------------------ partial fills ------------

async def test_a_partly_filled_entry_that_is_canceled_becomes_a_position_of_the_filled_quantity(
    rig_factory, tmp_path: Path
) -> None:
    # A budget of $95,000 buys 299 contracts at 3.17; the 3.22 ask shows 240 at 10:02.
    rig, pid = await rig_at_breakout(
        rig_factory, tmp_path, spy_path=RALLY_PATH,
        risk=RiskLimits(max_premium_per_trade=Decimal(95_000), max_portfolio_premium=Decimal(95_000),
                        max_equity_fraction_per_trade=Decimal("0.95")),
        execution=ExecutionRules(reprice_after_seconds=15, reprice_steps=1))
    assert (await rig.engine.proposal(pid)).quantity == 299
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED
    await every(rig, 15, 3)  # 10:02:15 to the ask, 240 fill; 10:02:30 the rest is canceled

    [fill] = rig.of(OrderFilled)
    assert (fill.fill_qty, fill.fill_price, fill.complete) == (240, Decimal("3.22"), False)
    [canceled] = rig.of(OrderCanceled)
    assert canceled.order_id == fill.order_id
    [pos] = await position_rows(rig)
    assert (pos.status, pos.qty_filled, pos.qty_open) == ("open", 240, 240)
    assert {p.symbol: int(p.qty) for p in await rig.broker.list_positions()} == {CONTRACT: 240}

    await rig.run_day(since="10:03", until="11:10", symbols=["SPY"])
    exits = [(e.qty, e.reason) for e in rig.of(ExitTriggered)]
    assert [q for q, _ in exits] == [80, 80, 80]  # thirds of 240, not of 299
    assert [r.split(":")[0] for _, r in exits] == ["reached T1 608.30", "reached T2 610.20",
                                                   "reached T3 612.60"]
    [pos] = await position_rows(rig)
    assert (pos.status, pos.qty_closed, pos.qty_open) == ("closed", 240, 0)
    assert await rig.broker.list_positions() == []


# ------------------------------------------------------------------- bias ---------------

BIAS_SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60
⚠️ Bias: {bias}
"""

# Breakout at 10:00, held until 10:10, then SPY slides through 604.00 at about 10:17.
SLIDE_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:10", 606.90),
              ("10:20", 603.50), ("16:00", 603.20)]


async def test_a_close_through_the_flip_level_flips_the_bias_once_and_exits_the_long(
    rig_factory, tmp_path: Path
) -> None:
    # A wide underlying stop and no option stop, so only the flip can close the trade.
    rig = await posted(
        rig_factory, tmp_path, SLIDE_PATH,
        setup=BIAS_SETUP.format(bias="Bullish above 605.00 — bias flips bearish only if 604.00 breaks"),
        auto_confirm=True, exits=ExitRules(stop_margin_pct=1.0, option_stop_pct=100))
    await rig.run_day(until="10:40", symbols=["SPY"])

    [flip] = rig.of(BiasFlipped)
    assert (flip.symbol, flip.from_direction, flip.to_direction) == ("SPY", "bullish", "bearish")
    assert flip.price < Decimal("604.00") and "604.00 flip level" in flip.reason
    [exit_] = rig.of(ExitTriggered)
    assert exit_.reason.startswith("bias flipped: SPY 1-min bar closed")
    assert exit_.reason.endswith("against this bullish position") and exit_.at == flip.at
    [pos] = await position_rows(rig)
    assert pos.status == "closed" and pos.exit_reason.startswith("bias flipped")


@pytest.mark.parametrize("mode", [BiasMode.BLOCK, BiasMode.WARN])
async def test_a_signal_against_the_bias_is_refused_when_blocking_and_flagged_when_warning(
    rig_factory, tmp_path: Path, mode: BiasMode
) -> None:
    rig = await posted(rig_factory, tmp_path, setup=BIAS_SETUP.format(bias="Bearish below 608.00"),
                       bias_mode=mode)
    await rig.run_day(until="10:05", symbols=["SPY"])
    against = "bullish signal against the SPY bearish bias below 608.00"
    if mode is BiasMode.BLOCK:
        assert rig.of(ProposalCreated) == []
        assert [e.reason for e in rig.of(SignalSkipped)] == [f"blocked: {against} (bias mode block)"]
    else:
        [created] = rig.of(ProposalCreated)
        prop = await rig.engine.proposal(created.proposal_id)
        assert prop.details["bias_warning"] == against


# ------------------------------------------------------------ signal history -----------

async def test_trigger_suppression_and_end_of_day_expiry_are_stored_with_time_price_and_reason(
    rig_factory, tmp_path: Path
) -> None:
    rig = await posted(rig_factory, tmp_path, SPY_PATH, NVDA_PATH)
    await rig.run_day()
    async with rig.db.sessions() as s:
        rows = (await s.execute(select(SignalTransition, SignalRow).join(SignalRow)
                                .order_by(SignalTransition.id))).all()
    history: dict[str, list[tuple]] = {}
    for t, sig in rows:
        price = None if t.price is None else t.price.normalize()
        history.setdefault(f"{sig.symbol} {sig.aggressiveness} {sig.category}", []).append(
            (t.from_status, t.to_status, t.at, price, t.reason))
    read = [(None, "pending", ny("09:00"), None, "read from setup message"),
            ("pending", "watching", ny("09:00"), None, "watching for the trigger")]
    assert history == {
        "SPY aggressive breakout": [*read, (
            "watching", "triggered", ny("10:01"), Decimal("606.9"),
            "1-min bar closed 606.90 above 606.75 + 0.06 buffer")],
        "SPY conservative breakout": [*read, (
            "watching", "invalidated", ny("10:31"), Decimal("608.4"),
            "suppressed: SPY aggressive breakout already triggered at 10:01 "
            "(allow_both_aggressiveness is off)")],
        "SPY aggressive breakdown": [*read, (
            "watching", "expired", ny("16:00"), None, "end of the trading day")],
        "NVDA aggressive breakout": [*read, (
            "watching", "triggered", ny("10:16"), Decimal("145.7"),
            "1-min bar closed 145.70 above 145.55 + 0.02 buffer")],
    }


# ---------------------------------------------------------------- ingest ----------------

async def test_ingesting_a_post_publishes_setup_parsed_and_an_edit_publishes_the_changes(
    rig_factory, tmp_path: Path
) -> None:
    rig = await posted(rig_factory, tmp_path)
    await rig.post(SETUP)  # the same text again (a re-delivery): nothing new
    await rig.post(SETUP.replace("145.55", "145.65"), at="09:10")
    await rig.bus.drain()
    first, edit = rig.of(SetupParsed)
    assert (first.discord_message_id, first.channel_id, first.outcome) == (1001, 77, "created")
    assert set(first.symbols) == {"SPY", "NVDA"} and first.signal_count == 4
    assert edit.outcome == "updated" and any("NVDA" in c and "145.65" in c for c in edit.changes)


# --------------------------------------------------------- start-up reconciliation ------

async def test_a_position_the_broker_holds_differently_is_reported_at_start_not_changed(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await rig_at_breakout(rig_factory, tmp_path)
    await rig.engine.confirm(pid, "alice")
    await every(rig, 15, 4)
    [pos] = await position_rows(rig)
    assert pos.qty_open == 3
    # While the bot is down someone trades by hand at the broker: sells one of our contracts
    # and buys two of another.
    other = "SPY250613C00610000"
    for n, (symbol, side, qty) in enumerate([(CONTRACT, OrderSide.SELL, 1), (other, OrderSide.BUY, 2)]):
        await rig.broker.submit_order(OrderRequest(
            client_order_id=f"by-hand-{n}", symbol=symbol, qty=Decimal(qty), side=side,
            type=OrderType.MARKET))
    await rig.broker.sync()

    engine, broker, events = await restart(rig)
    reports = sorted((e.problem, e.detail) for e in events if isinstance(e, Reconciliation))
    assert reports == [("position_mismatch", f"{CONTRACT}: ours 3, broker 2"),
                       ("position_mismatch", f"{other}: ours 0, broker 2")]
    [pos] = await position_rows(rig)
    assert (pos.status, pos.qty_open) == ("open", 3)  # reported, not guessed
    async with rig.db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(OrderRow))).scalar_one() == 1
    await engine.stop()
    await broker.close()


# --------------------------------------------------------------- P&L to the dollar ------

async def test_a_scaled_out_trade_realizes_the_hand_computed_dollar_figure(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await rig_at_breakout(rig_factory, tmp_path, spy_path=RALLY_PATH)
    cash_before = (await rig.broker.get_account()).cash
    await rig.engine.confirm(pid, "alice")
    await every(rig, 15, 4)  # 3.17 → 3.18 → 3.20 → 3.22: bought 3 at the 3.22 ask
    await rig.run_day(since="10:03", until="11:10", symbols=["SPY"])

    async with rig.db.sessions() as s:
        fills = (await s.execute(select(FillRow, OrderRow).join(OrderRow)
                                 .order_by(FillRow.id))).all()
    # Bought 3 at 3.22; sold 1 at each target, each at the bid when the exit limit was met:
    # T1 at 10:22 for 3.99, T2 at 10:42 for 5.18, T3 at 11:03 for 6.80.
    assert [(o.side, f.qty, f.price, f.at) for f, o in fills] == [
        ("buy", 3, Decimal("3.22"), ny("10:02") + timedelta(seconds=45)),
        ("sell", 1, Decimal("3.99"), ny("10:22")),
        ("sell", 1, Decimal("5.18"), ny("10:42")),
        ("sell", 1, Decimal("6.80"), ny("11:03")),
    ]
    # The exchange's own quote at each exit fill: the bid we were paid.
    for f, o in fills[1:]:
        assert Decimal(str(rig.market.option_quote_at(o.symbol, f.at).bid)) == f.price
    # (3.99 + 5.18 + 6.80 − 3 × 3.22) × 100 = (15.97 − 9.66) × 100 = $631.00
    expected = Decimal("631.00")
    [pos] = await position_rows(rig)
    assert pos.status == "closed" and pos.realized_pnl == expected
    [closed] = rig.of(PositionClosed)
    assert closed.realized_pnl == expected
    assert (await rig.broker.get_account()).cash - cash_before == expected
