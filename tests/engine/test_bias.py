"""Bias: signals against the bias in force are blocked, warned or allowed; flip levels flip it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest
from pydantic import ValidationError

from core.engine.bias import BiasMode, BiasSpec, BiasTracker, Condition
from core.engine.triggers import Bar, Direction

OPEN = datetime(2025, 5, 13, 13, 30, tzinfo=UTC)  # 09:30 New York
BULLISH, BEARISH = Direction.BULLISH, Direction.BEARISH


def close_at(minute: int, price: float, symbol: str = "SPY") -> Bar:
    return Bar(symbol, OPEN + timedelta(minutes=minute), price, price + 0.10, price - 0.10, price)


def tracker(symbol: str = "SPY", **spec: object) -> BiasTracker:
    t = BiasTracker()
    t.set(symbol, BiasSpec(**spec))
    return t


def may_13_spy() -> BiasTracker:
    """⚠️ Bullish momentum above 583.75 — bias flips bearish only if 579.60 breaks."""
    return tracker(
        direction=BULLISH, condition="above", price=583.75,
        flip_direction=BEARISH, flip_price=579.60,
    )


# --- filtering ----------------------------------------------------------------------------


def test_without_a_bias_every_signal_is_allowed() -> None:
    verdict = BiasTracker().check("SPY", BEARISH, BiasMode.BLOCK)
    assert verdict.allowed and verdict.warning is None
    assert verdict.reason == "no bias stated for SPY"


def test_a_narrative_only_bias_filters_nothing() -> None:
    t = tracker(direction=None)  # "Bias: watching for weakness rejecting from 591.80–592.15"
    for direction in (BULLISH, BEARISH):
        verdict = t.check("SPY", direction, BiasMode.BLOCK)
        assert verdict.allowed and verdict.warning is None
        assert "narrative only" in verdict.reason
    assert t.current("SPY") is None


def test_block_mode_refuses_a_signal_against_the_bias() -> None:
    t = tracker(direction=BEARISH)
    verdict = t.check("SPY", BULLISH, BiasMode.BLOCK)
    assert not verdict.allowed
    assert verdict.reason == "blocked: bullish signal against the SPY bearish bias (bias mode block)"


def test_warn_mode_lets_a_signal_against_the_bias_through_with_a_warning() -> None:
    t = tracker(direction=BEARISH, condition="below", price=134.30, symbol="NVDA")
    verdict = t.check("NVDA", BULLISH, BiasMode.WARN)
    assert verdict.allowed
    assert verdict.warning == "bullish signal against the NVDA bearish bias below 134.30"


def test_allow_mode_lets_a_signal_against_the_bias_through_silently() -> None:
    t = tracker(direction=BEARISH)
    verdict = t.check("SPY", BULLISH, "allow")
    assert verdict.allowed and verdict.warning is None
    assert "against the SPY bearish bias" in verdict.reason


def test_a_signal_with_the_bias_is_allowed_even_in_block_mode() -> None:
    t = tracker(direction=BULLISH)
    verdict = t.check("SPY", BULLISH, BiasMode.BLOCK)
    assert verdict.allowed and verdict.warning is None
    assert verdict.reason == "bullish signal agrees with the SPY bullish bias"


def test_a_conditional_bias_applies_only_while_its_condition_holds() -> None:
    # "Bias bullish above 580.89": before the first close it applies as stated.
    t = tracker(direction=BULLISH, condition=Condition.ABOVE, price=580.89)
    assert not t.check("SPY", BEARISH, BiasMode.BLOCK).allowed
    t.on_bar(close_at(0, 580.50))
    verdict = t.check("SPY", BEARISH, BiasMode.BLOCK)
    assert verdict.allowed
    assert verdict.reason == "SPY bullish bias applies only above 580.89; last close 580.50 is not"
    t.on_bar(close_at(1, 580.89))  # back at the level: holding
    assert t.current("SPY") is BULLISH
    assert not t.check("SPY", BEARISH, BiasMode.BLOCK).allowed


# --- flips --------------------------------------------------------------------------------


def test_a_close_below_the_flip_level_flips_the_bias_bearish_and_emits_an_event() -> None:
    t = may_13_spy()
    assert t.on_bar(close_at(10, 579.61)) == []  # above the flip level: no flip
    [flip] = t.on_bar(close_at(35, 579.40))
    assert (flip.symbol, flip.from_direction, flip.to_direction) == ("SPY", BULLISH, BEARISH)
    assert flip.price == 579.40
    assert flip.at == OPEN + timedelta(minutes=36)
    assert flip.reason == (
        "SPY 1-min bar closed 579.40 below the 579.60 flip level at 10:06: bias bullish → bearish"
    )
    assert t.current("SPY") is BEARISH
    assert t.flip("SPY") == flip


def test_after_a_flip_the_filter_follows_the_new_bias() -> None:
    t = may_13_spy()
    t.on_bar(close_at(0, 579.00))
    assert t.check("SPY", BEARISH, BiasMode.BLOCK).allowed
    verdict = t.check("SPY", BULLISH, BiasMode.BLOCK)
    assert not verdict.allowed
    assert "SPY bearish bias (flipped at 09:31 on a 579.00 close below 579.60)" in verdict.reason


def test_a_wick_through_the_flip_level_or_a_close_exactly_on_it_does_not_flip() -> None:
    t = may_13_spy()
    wick = Bar("SPY", OPEN, 580.00, 580.20, 578.00, 579.90)
    assert t.on_bar(wick) == []
    assert t.on_bar(close_at(1, 579.60)) == []
    assert t.flip("SPY") is None


def test_the_flip_happens_once_and_is_final_for_the_day() -> None:
    t = may_13_spy()
    assert len(t.on_bar(close_at(0, 579.00))) == 1
    assert t.on_bar(close_at(1, 578.00)) == []
    assert t.on_bar(close_at(2, 585.00)) == []  # reclaiming does not flip back
    assert t.current("SPY") is BEARISH


def test_a_bullish_flip_needs_a_close_above_its_level() -> None:
    # "Bearish bias below 562.25; flips bullish on 564.10 reclaim"
    t = tracker(direction=BEARISH, condition="below", price=562.25,
                flip_direction=BULLISH, flip_price=564.10)
    assert t.on_bar(close_at(0, 564.10)) == []
    [flip] = t.on_bar(close_at(1, 564.20))
    assert flip.to_direction is BULLISH and "above the 564.10 flip level" in flip.reason


def test_a_gap_through_the_flip_level_flips_on_the_first_bar() -> None:
    t = may_13_spy()
    [flip] = t.on_bar(close_at(0, 575.00))
    assert flip.at == OPEN + timedelta(minutes=1)


def test_bars_of_other_symbols_do_not_touch_the_bias() -> None:
    t = may_13_spy()
    assert t.on_bar(close_at(0, 100.00, "TSLA")) == []
    assert t.current("SPY") is BULLISH


def test_a_flip_against_an_open_position_is_an_exit_reason() -> None:
    [flip] = may_13_spy().on_bar(close_at(0, 579.00))
    assert flip.is_against(BULLISH)
    assert flip.exit_reason("bullish") == (
        "SPY 1-min bar closed 579.00 below the 579.60 flip level at 09:31: bias bullish → "
        "bearish; against this bullish position"
    )
    assert not flip.is_against(BEARISH)
    assert flip.exit_reason(BEARISH) is None


def test_a_narrative_bias_with_a_flip_level_gains_a_direction_when_crossed() -> None:
    t = tracker(direction=None, flip_direction=BEARISH, flip_price=333.30, symbol="TSLA")
    [flip] = t.on_bar(close_at(0, 333.00, "TSLA"))
    assert flip.from_direction is None
    assert "bias no direction → bearish" in flip.reason
    assert not t.check("TSLA", BULLISH, BiasMode.BLOCK).allowed


def test_setting_a_new_spec_resets_the_flip_and_none_clears_the_bias() -> None:
    t = may_13_spy()
    t.on_bar(close_at(0, 579.00))
    t.set("spy", BiasSpec(direction=BULLISH))
    assert t.flip("SPY") is None and t.current("SPY") is BULLISH
    t.set("SPY", None)
    assert t.current("SPY") is None and t.symbols() == frozenset()
    assert t.check("SPY", BEARISH, BiasMode.BLOCK).allowed


# --- the spec -----------------------------------------------------------------------------


class ParserDirection(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"


def test_spec_accepts_the_parsers_enums_and_reads_like_the_post() -> None:
    spec = BiasSpec(direction=ParserDirection.BULLISH, condition="above", price=583.75,
                    flip_direction=ParserDirection.BEARISH, flip_price=579.60)
    assert spec.direction is BULLISH and spec.flip_direction is BEARISH
    assert spec.describe() == "bullish above 583.75, flips bearish below 579.60"


def test_spec_refuses_half_stated_conditions_and_flips() -> None:
    with pytest.raises(ValidationError, match="condition and price go together"):
        BiasSpec(direction=BULLISH, condition="above")
    with pytest.raises(ValidationError, match="flip_direction and flip_price go together"):
        BiasSpec(direction=BULLISH, flip_price=579.60)
    with pytest.raises(ValidationError, match="cannot flip"):
        BiasSpec(direction=BULLISH, flip_direction=BULLISH, flip_price=579.60)
    with pytest.raises(ValidationError):
        BiasSpec(direction=BULLISH, condition="above", price=-1.0)
    with pytest.raises(ValidationError):
        BiasSpec(condition="above", price=580.0)  # direction must be given (None is allowed)
