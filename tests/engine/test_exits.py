"""Exit rules: scale-outs, stops, time stop, expiry and bias flips, as a trader expects them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import NEW_YORK
from core.db.models.trading import PositionRow
from core.engine.config import EngineConfig
from core.engine.exits import (
    ExitKind,
    ExitRules,
    PositionState,
    evaluate_exit,
    initial_stop,
    scale_out_quantities,
)
from core.options.select import SelectionRules
from tests.engine.conftest import ny, write_bars
from tests.engine.test_urgent_exits import SETUP

RULES = ExitRules()
MIDDAY = datetime(2025, 6, 11, 16, 0, tzinfo=UTC)  # 12:00 New York


def long_call(**kw) -> PositionState:
    base = dict(direction="bullish", qty_initial=3, qty_open=3, avg_entry=D("2.00"),
                entry_trigger=D("606.75"), entry_underlying=D("606.90"),
                targets=(D("608.30"), D("610.20"), D("612.60")), targets_hit=0,
                stop_price=initial_stop("bullish", D("606.75"), RULES), expiry=date(2025, 6, 13))
    base.update(kw)
    return PositionState(**base)


def test_initial_stop_sits_beyond_the_trigger_by_the_margin() -> None:
    assert initial_stop("bullish", D("600.00"), RULES) == D("599.40")
    assert initial_stop("bearish", D("600.00"), RULES) == D("600.60")


@pytest.mark.parametrize(
    ("qty", "plan"),
    [(3, [1, 1, 1]), (6, [2, 2, 2]), (10, [3, 3, 4]), (1, [1, 0, 0]), (2, [1, 1, 0])],
)
def test_scale_out_plan_sells_thirds_and_the_rest_at_the_last_target(qty: int, plan: list[int]) -> None:
    assert scale_out_quantities(qty, 3, RULES) == plan
    assert sum(plan) == qty


def test_t1_sells_a_third_and_moves_the_stop_to_entry() -> None:
    d = evaluate_exit(long_call(), RULES, now=MIDDAY, underlying_close=D("608.00"),
                      underlying_high=D("608.35"))
    assert d.kind is ExitKind.TARGET and d.qty == 1 and d.targets_hit == 1
    assert d.new_stop == D("606.90")
    assert "T1 608.30" in d.reason


def test_a_bar_through_two_targets_sells_for_both() -> None:
    d = evaluate_exit(long_call(qty_initial=6, qty_open=6), RULES, now=MIDDAY,
                      underlying_close=D("610.00"), underlying_high=D("610.50"))
    assert d.qty == 4 and d.targets_hit == 2


def test_the_last_target_closes_whatever_is_left() -> None:
    pos = long_call(qty_open=1, targets_hit=2, stop_price=D("606.90"))
    d = evaluate_exit(pos, RULES, now=MIDDAY, underlying_close=D("612.70"), underlying_high=D("612.80"))
    assert d.qty == 1 and d.targets_hit == 3


def test_just_missing_a_target_holds() -> None:
    assert evaluate_exit(long_call(), RULES, now=MIDDAY, underlying_close=D("608.00"),
                         underlying_high=D("608.29")) is None


def test_underlying_closing_through_the_stop_exits_everything_but_a_wick_does_not() -> None:
    pos = long_call()  # stop 606.14
    assert evaluate_exit(pos, RULES, now=MIDDAY, underlying_close=D("606.20"),
                         underlying_low=D("605.00")) is None
    d = evaluate_exit(pos, RULES, now=MIDDAY, underlying_close=D("606.10"))
    assert d.kind is ExitKind.STOP and d.qty == 3 and "below stop 606.14" in d.reason


def test_bearish_positions_mirror_targets_and_stops() -> None:
    pos = PositionState(direction="bearish", qty_initial=3, qty_open=3, avg_entry=D("1.50"),
                        entry_trigger=D("602.55"), entry_underlying=D("602.40"),
                        targets=(D("601.28"), D("598.85")), targets_hit=0,
                        stop_price=initial_stop("bearish", D("602.55"), RULES), expiry=date(2025, 6, 13))
    d = evaluate_exit(pos, RULES, now=MIDDAY, underlying_close=D("601.50"), underlying_low=D("601.20"))
    assert d.kind is ExitKind.TARGET and d.qty == 1
    stop = evaluate_exit(pos, RULES, now=MIDDAY, underlying_close=D("603.20"))
    assert stop.kind is ExitKind.STOP


def test_option_losing_half_its_premium_is_stopped() -> None:
    d = evaluate_exit(long_call(), RULES, now=MIDDAY, underlying_close=D("606.50"),
                      option_mark=D("1.00"))
    assert d.kind is ExitKind.OPTION_STOP and "down 50%" in d.reason
    assert evaluate_exit(long_call(), RULES, now=MIDDAY, underlying_close=D("606.50"),
                         option_mark=D("1.01")) is None


def test_time_stop_at_1550_new_york_beats_everything() -> None:
    at_1550 = datetime(2025, 6, 11, 19, 50, tzinfo=UTC)
    d = evaluate_exit(long_call(), RULES, now=at_1550, underlying_close=D("612.70"),
                      underlying_high=D("612.70"))
    assert d.kind is ExitKind.TIME_STOP and d.qty == 3
    assert evaluate_exit(long_call(), RULES, now=datetime(2025, 6, 11, 19, 49, tzinfo=UTC),
                         underlying_close=D("607.00")) is None


def test_expiry_day_exit_comes_earlier_than_the_time_stop() -> None:
    pos = long_call(expiry=date(2025, 6, 11))
    d = evaluate_exit(pos, RULES, now=datetime(2025, 6, 11, 19, 30, tzinfo=UTC),
                      underlying_close=D("607.00"))
    assert d.kind is ExitKind.EXPIRY


def test_on_a_half_day_the_time_stop_and_expiry_exit_keep_their_margin_before_the_1300_close(
) -> None:
    half_day, close = date(2025, 7, 3), time(13, 0)  # the day before Independence Day

    def at(hhmm: str) -> datetime:
        return datetime.combine(half_day, time.fromisoformat(hhmm), NEW_YORK)

    held = long_call(expiry=date(2025, 7, 11))
    assert evaluate_exit(held, RULES, now=at("12:49"), underlying_close=D("607.00"),
                         session_close=close) is None
    d = evaluate_exit(held, RULES, now=at("12:50"), underlying_close=D("607.00"),
                      session_close=close)
    assert d.kind is ExitKind.TIME_STOP and d.qty == 3 and "12:50" in d.reason
    expiring = long_call(expiry=half_day)
    d = evaluate_exit(expiring, RULES, now=at("12:30"), underlying_close=D("607.00"),
                      session_close=close)
    assert d.kind is ExitKind.EXPIRY and "12:30" in d.reason


async def test_a_position_held_into_a_half_day_is_closed_before_the_early_close(
    rig_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90),
                                         ("13:00", 607.20)], day=date(2025, 7, 3))
    rig = await rig_factory(EngineConfig(auto_confirm=True,
                                         selection=SelectionRules(scalp_min_hours_left=31)),
                            start=ny("09:00", date(2025, 7, 3)))
    await rig.post(SETUP.replace("Wed Jun 11", "Thu Jul 3"), at="09:00")
    day = date(2025, 7, 3)
    async for ev in rig.market.replay(["SPY"], ny("09:30", day), ny("13:01", day), clock=rig.clock):
        assert ev.bar is not None
        await rig.engine.on_bar(ev.bar)
        await rig.step()
    await rig.bus.drain()
    async with rig.db.sessions() as s:
        (pos,) = (await s.execute(select(PositionRow))).scalars().all()
    assert pos.status == "closed" and pos.exit_reason == "time stop 12:50 New York"
    assert pos.closed_at is not None and pos.closed_at < ny("13:00", date(2025, 7, 3))


def test_bias_flip_against_the_position_exits_unless_disabled() -> None:
    d = evaluate_exit(long_call(), RULES, now=MIDDAY, underlying_close=D("607.00"),
                      bias_against="bearish below 602.55")
    assert d.kind is ExitKind.BIAS_FLIP
    keep = ExitRules(exit_on_bias_flip=False)
    assert evaluate_exit(long_call(), keep, now=MIDDAY, underlying_close=D("607.00"),
                         bias_against="bearish") is None


def test_closed_positions_never_exit_again() -> None:
    assert evaluate_exit(replace(long_call(), qty_open=0), RULES, now=MIDDAY,
                         underlying_close=D("500")) is None


def test_bad_scale_out_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="scale_out"):
        ExitRules(scale_out=(0.5, 0.7))
