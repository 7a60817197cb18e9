"""Trigger rules: each level fires exactly when a trader expects, once, and then stops watching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.engine.triggers import (
    Bar,
    Category,
    DecisionKind,
    Direction,
    TriggerBook,
    TriggerRules,
    WatchedSignal,
)

OPEN = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)  # 09:30 New York


def signal(
    sid: int,
    category: str,
    low: float,
    high: float | None = None,
    *,
    aggressiveness: str = "none",
    symbol: str = "SPY",
    trading_date: date | None = None,
) -> WatchedSignal:
    comparison = {"breakout": "above", "breakdown": "below", "rejection": "near"}.get(
        category, "near"
    )
    if high is not None:
        comparison = "range"
    return WatchedSignal(
        signal_id=sid,
        symbol=symbol,
        category=category,
        aggressiveness=aggressiveness,
        comparison=comparison,
        trigger_low=low,
        trigger_high=high,
        targets=(low + 2.0, low + 4.0),
        trading_date=trading_date,
    )


def bar(minute: int, open_: float, high: float, low: float, close: float, symbol: str = "SPY") -> Bar:
    return Bar(symbol, OPEN + timedelta(minutes=minute), open_, high, low, close, 1000.0)


def flat(minute: int, price: float, symbol: str = "SPY") -> Bar:
    return bar(minute, price, price, price, price, symbol)


def book_with(*signals: WatchedSignal, **rules: object) -> TriggerBook:
    book = TriggerBook(TriggerRules(**rules))
    for s in signals:
        book.add(s)
    return book


# --- breakout and breakdown -----------------------------------------------------------


def test_breakout_fires_when_a_bar_closes_above_the_level_plus_buffer() -> None:
    book = book_with(signal(1, "breakout", 591.82))
    [decision] = book.on_bar(bar(11, 591.70, 591.95, 591.60, 591.88))
    assert decision.kind is DecisionKind.TRIGGERED
    assert decision.signal_id == 1
    assert decision.price == 591.88
    assert decision.at == OPEN + timedelta(minutes=12)  # the end of the 09:41 bar
    assert decision.reason == "1-min bar closed 591.88 above 591.82 + 0.06 buffer"
    assert decision.signal.direction is Direction.BULLISH


def test_breakout_does_not_fire_when_the_close_stays_inside_the_buffer() -> None:
    book = book_with(signal(1, "breakout", 591.82))
    # The high pokes far above, but the close (591.87) is one cent short of 591.82 + 0.06.
    assert book.on_bar(bar(0, 591.50, 593.00, 591.40, 591.87)) == []
    assert 1 in book


def test_breakout_buffer_is_the_larger_of_the_absolute_and_percent_buffers() -> None:
    rules = TriggerRules()
    assert rules.breakout_buffer(591.82) == 0.06  # 0.01 % of SPY
    assert rules.breakout_buffer(336.60) == 0.03  # 0.01 % of TSLA
    assert rules.breakout_buffer(135.95) == 0.02  # NVDA: the 0.02 floor wins
    wide = TriggerRules(breakout_buffer_abs=0.50)
    assert wide.breakout_buffer(591.82) == 0.50


def test_breakout_on_a_gap_open_above_fires_on_the_first_bar_at_its_close() -> None:
    book = book_with(signal(1, "breakout", 592.10))
    [decision] = book.on_bar(bar(0, 594.00, 594.50, 593.10, 593.40))
    assert decision.kind is DecisionKind.TRIGGERED
    assert decision.price == 593.40


def test_breakout_of_a_range_must_clear_the_top_of_the_range() -> None:
    book = book_with(signal(1, "breakout", 591.80, 592.15))
    assert book.on_bar(flat(0, 592.00)) == []  # above the bottom, not the top
    [decision] = book.on_bar(flat(1, 592.21))
    assert "above 592.15 + 0.06 buffer" in decision.reason


def test_breakdown_fires_when_a_bar_closes_below_the_level_minus_buffer() -> None:
    book = book_with(signal(1, "breakdown", 588.11))
    assert book.on_bar(bar(0, 588.40, 588.50, 587.90, 588.06)) == []  # 0.05 below: not enough
    [decision] = book.on_bar(bar(1, 588.06, 588.10, 587.90, 588.05))
    assert decision.reason == "1-min bar closed 588.05 below 588.11 − 0.06 buffer"
    assert decision.signal.direction is Direction.BEARISH


def test_breakdown_does_not_fire_on_a_bar_that_only_wicks_below() -> None:
    book = book_with(signal(1, "breakdown", 588.11))
    assert book.on_bar(bar(0, 588.40, 588.50, 586.00, 588.30)) == []
    assert book.symbols() == {"SPY"}


# --- rejection ------------------------------------------------------------------------


def test_rejection_fires_after_a_touch_when_a_later_bar_closes_back_away() -> None:
    # Level 592.09: tolerance 0.30 (0.05 %), confirm 0.59 (0.1 %).
    book = book_with(signal(1, "rejection", 592.09))
    assert book.on_bar(bar(0, 591.20, 591.85, 591.10, 591.80)) == []  # touched (>= 591.79)
    touch = book.touch_of(1)
    assert touch is not None and touch.price == 591.85 and touch.at == OPEN + timedelta(minutes=1)
    assert book.on_bar(bar(1, 591.80, 591.82, 591.50, 591.51)) == []  # needs a close <= 591.50
    [decision] = book.on_bar(bar(2, 591.51, 591.55, 591.30, 591.40))
    assert decision.kind is DecisionKind.TRIGGERED
    assert decision.reason == (
        "rejected at 592.09: price reached 591.85 by 09:31 (a touch counts from 591.79), "
        "then the 1-min bar closed 591.40, 0.69 below the level (at least 0.59 needed)"
    )
    assert decision.touch == touch


def test_rejection_touch_without_a_close_away_does_not_fire() -> None:
    book = book_with(signal(1, "rejection", 592.09))
    for minute in range(5):
        assert book.on_bar(bar(minute, 592.00, 592.20, 591.95, 592.05)) == []
    assert book.touch_of(1) is not None
    assert 1 in book


def test_rejection_close_away_without_a_touch_does_not_fire() -> None:
    book = book_with(signal(1, "rejection", 592.09))
    # Highest print 591.78 is one cent short of the 591.79 touch band; closes far below.
    assert book.on_bar(bar(0, 591.40, 591.78, 589.00, 589.10)) == []
    assert book.touch_of(1) is None
    assert 1 in book


def test_rejection_touch_and_close_away_in_the_same_bar_fires_on_that_bar() -> None:
    book = book_with(signal(1, "rejection", 592.09))
    [decision] = book.on_bar(bar(3, 591.40, 592.20, 591.30, 591.50))  # 591.50 = 592.09 - 0.59
    assert decision.at == OPEN + timedelta(minutes=4)
    assert decision.touch is not None and decision.touch.price == 592.20


def test_rejection_gap_open_above_the_level_counts_as_a_touch() -> None:
    book = book_with(signal(1, "rejection", 592.09))
    assert book.on_bar(bar(0, 593.00, 593.40, 592.50, 592.80)) == []  # gapped above, held
    [decision] = book.on_bar(bar(1, 592.80, 592.90, 591.30, 591.40))
    assert decision.kind is DecisionKind.TRIGGERED


def test_rejection_touched_by_a_trade_fires_on_the_next_bar_close_away() -> None:
    book = book_with(signal(1, "rejection", 592.09))
    at = OPEN + timedelta(minutes=5, seconds=12)
    [touch] = book.on_trade("SPY", 591.90, at)
    assert touch.price == 591.90 and touch.at == at
    assert book.on_trade("SPY", 591.95, at) == []  # the first touch is kept
    # The bar the feed sends afterwards may have been built without that print.
    [decision] = book.on_bar(bar(5, 591.40, 591.45, 591.20, 591.30))
    assert "price reached 591.90 by 09:35" in decision.reason


def test_trades_only_record_touches_and_never_fire_a_signal_on_their_own() -> None:
    book = book_with(signal(1, "breakdown", 588.11), signal(2, "rejection", 592.09))
    assert book.on_trade("SPY", 580.00, OPEN) == []  # far below the breakdown: no bar closed
    [touch] = book.on_trade("SPY", 592.50, OPEN)
    assert touch.signal_id == 2
    assert len(book) == 2


def test_rejection_zone_is_measured_from_its_bottom() -> None:
    book = book_with(signal(1, "rejection", 591.80, 592.15))
    assert book.on_bar(bar(0, 591.00, 591.55, 590.90, 591.40)) == []  # band starts at 591.50
    assert book.touch_of(1) is not None
    [decision] = book.on_bar(flat(1, 591.21))  # 591.80 - 0.59
    assert decision.kind is DecisionKind.TRIGGERED


# --- bounce ---------------------------------------------------------------------------


def test_bounce_fires_after_price_enters_the_zone_and_a_bar_closes_back_above_it() -> None:
    book = book_with(signal(1, "bounce", 586.25, 587.00))
    assert book.on_bar(bar(0, 587.60, 587.70, 586.80, 586.90)) == []  # entered, closed inside
    [decision] = book.on_bar(bar(1, 586.90, 587.20, 586.85, 587.01))
    assert decision.reason == (
        "bounced from zone 586.25–587.00: price dipped to 586.80 by 09:31, then the 1-min bar "
        "closed 587.01, back above 587.00"
    )
    assert decision.signal.direction is Direction.BULLISH


def test_bounce_that_stays_in_the_zone_does_not_fire() -> None:
    book = book_with(signal(1, "bounce", 586.25, 587.00))
    assert book.on_bar(bar(0, 586.80, 587.00, 586.30, 586.50)) == []
    assert book.on_bar(bar(1, 586.50, 587.30, 586.40, 587.00)) == []  # at the top, not above
    assert 1 in book


def test_bounce_close_above_the_zone_without_entering_it_does_not_fire() -> None:
    book = book_with(signal(1, "bounce", 586.25, 587.00))
    assert book.on_bar(bar(0, 588.00, 588.50, 587.01, 588.20)) == []
    assert book.touch_of(1) is None


def test_bounce_from_a_single_level_touches_within_tolerance() -> None:
    # Bounce From 353.10: tolerance 0.18 (0.05 %), so the zone is 352.92-353.28.
    book = book_with(signal(1, "bounce", 353.10, symbol="TSLA"))
    assert book.on_bar(bar(0, 354.00, 354.10, 353.29, 353.80, "TSLA")) == []  # 1 cent short
    assert book.touch_of(1) is None
    [decision] = book.on_bar(bar(1, 353.80, 353.90, 353.25, 353.60, "TSLA"))
    assert decision.symbol == "TSLA"
    assert "bounced from 353.10 (± 0.18)" in decision.reason


def test_bounce_gap_open_below_the_zone_fires_when_the_same_bar_closes_back_above() -> None:
    book = book_with(signal(1, "bounce", 586.25, 587.00))
    [decision] = book.on_bar(bar(0, 585.50, 587.40, 585.20, 587.30))
    assert decision.touch is not None and decision.touch.price == 585.20


# --- aggressive and conservative variants -------------------------------------------------


def variants(**rules: object) -> TriggerBook:
    return book_with(
        signal(1, "breakout", 592.10, aggressiveness="aggressive"),
        signal(2, "breakout", 595.05, aggressiveness="conservative"),
        **rules,
    )


def test_conservative_breakout_is_suppressed_once_the_aggressive_one_triggered() -> None:
    book = variants()
    [first] = book.on_bar(flat(12, 592.50))
    assert (first.signal_id, first.kind) == (1, DecisionKind.TRIGGERED)
    assert book.on_bar(flat(13, 594.00)) == []
    [second] = book.on_bar(flat(14, 595.20))
    assert (second.signal_id, second.kind) == (2, DecisionKind.SUPPRESSED)
    assert second.reason == (
        "suppressed: SPY aggressive breakout already triggered at 09:43 "
        "(allow_both_aggressiveness is off)"
    )
    assert len(book) == 0 and book.symbols() == frozenset()
    assert book.on_bar(flat(15, 596.00)) == []  # reported once only


def test_both_variants_trigger_when_allow_both_aggressiveness_is_on() -> None:
    book = variants(allow_both_aggressiveness=True)
    book.on_bar(flat(0, 592.50))
    [second] = book.on_bar(flat(1, 595.20))
    assert second.kind is DecisionKind.TRIGGERED


def test_when_both_variants_fire_on_one_bar_the_aggressive_one_triggers() -> None:
    book = variants()
    decisions = book.on_bar(bar(0, 596.00, 596.50, 595.80, 596.20))
    assert [(d.signal_id, d.kind) for d in decisions] == [
        (1, DecisionKind.TRIGGERED),
        (2, DecisionKind.SUPPRESSED),
    ]


def test_aggressive_variant_is_suppressed_when_the_conservative_one_triggered_first() -> None:
    book = book_with(
        signal(1, "breakdown", 588.11, aggressiveness="aggressive"),
        signal(2, "breakdown", 590.60, aggressiveness="conservative"),  # reached first
    )
    [first] = book.on_bar(flat(0, 590.40))
    assert (first.signal_id, first.kind) == (2, DecisionKind.TRIGGERED)
    [second] = book.on_bar(flat(1, 588.00))
    assert (second.signal_id, second.kind) == (1, DecisionKind.SUPPRESSED)
    assert "SPY conservative breakdown already triggered at 09:31" in second.reason


def test_suppression_is_per_symbol_and_category() -> None:
    book = book_with(
        signal(1, "breakout", 592.10, aggressiveness="aggressive"),
        signal(2, "breakdown", 588.11, aggressiveness="conservative"),
        signal(3, "breakout", 336.60, aggressiveness="conservative", symbol="TSLA"),
    )
    book.on_bar(flat(0, 592.50))
    assert book.on_bar(flat(0, 337.00, "TSLA"))[0].kind is DecisionKind.TRIGGERED
    assert book.on_bar(flat(1, 587.00))[0].kind is DecisionKind.TRIGGERED


# --- what is watched ---------------------------------------------------------------------


def test_symbols_shrink_as_signals_trigger_and_are_removed() -> None:
    book = book_with(
        signal(1, "breakout", 592.10),
        signal(2, "breakdown", 588.11),
        signal(3, "breakout", 336.60, symbol="TSLA"),
        signal(4, "bounce", 130.20, 130.80, symbol="NVDA"),
    )
    assert book.symbols() == {"SPY", "TSLA", "NVDA"}
    assert book.remove(4) is True
    assert book.symbols() == {"SPY", "TSLA"}
    book.on_bar(flat(0, 337.00, "TSLA"))
    assert book.symbols() == {"SPY"}
    book.on_bar(flat(0, 593.00, "SPY"))
    assert book.symbols() == {"SPY"}  # the breakdown still watches SPY
    assert [s.signal_id for s in book.signals("SPY")] == [2]
    assert book.remove(2) is True
    assert book.symbols() == frozenset()
    assert book.remove(2) is False


def test_a_triggered_signal_is_no_longer_watched_and_never_fires_again() -> None:
    book = book_with(signal(1, "breakout", 592.10))
    assert len(book.on_bar(flat(0, 593.00))) == 1
    assert book.get(1) is None and 1 not in book
    assert book.on_bar(flat(1, 594.00)) == []


def test_bars_and_trades_of_unwatched_symbols_are_ignored() -> None:
    book = book_with(signal(1, "breakout", 592.10))
    assert book.on_bar(flat(0, 999.00, "QQQ")) == []
    assert book.on_trade("QQQ", 999.00, OPEN) == []


def test_adding_the_same_signal_id_twice_is_refused() -> None:
    book = book_with(signal(1, "breakout", 592.10))
    with pytest.raises(ValueError, match="already watched"):
        book.add(signal(1, "breakdown", 588.11))


def test_a_removed_and_re_added_signal_starts_without_its_old_touch() -> None:
    book = book_with(signal(1, "rejection", 592.09))
    book.on_bar(flat(0, 592.00))
    assert book.touch_of(1) is not None
    book.remove(1)
    book.add(signal(1, "rejection", 595.00))  # the post was edited
    assert book.touch_of(1) is None
    assert book.on_bar(flat(1, 591.00)) == []


# --- end of day ------------------------------------------------------------------------


def test_expire_all_drops_the_days_signals_and_keeps_later_ones() -> None:
    day, tomorrow = date(2025, 6, 2), date(2025, 6, 3)
    book = book_with(
        signal(3, "breakout", 592.10, trading_date=day),
        signal(1, "rejection", 592.09),  # undated: expires too
        signal(7, "breakout", 600.00, trading_date=tomorrow, symbol="QQQ"),
    )
    close = datetime(2025, 6, 2, 20, 0, tzinfo=UTC)  # 16:00 New York
    assert book.expire_all(close) == [1, 3]
    assert book.symbols() == {"QQQ"}
    assert book.expire_all(close) == []


def test_suppression_does_not_carry_over_to_the_next_day() -> None:
    book = variants()
    book.on_bar(flat(0, 592.50))  # aggressive triggers
    book.expire_all(datetime(2025, 6, 2, 20, 0, tzinfo=UTC))
    book.add(signal(9, "breakout", 595.05, aggressiveness="conservative"))
    [decision] = book.on_bar(flat(1, 595.20))
    assert decision.kind is DecisionKind.TRIGGERED


# --- longer bars -----------------------------------------------------------------------


def test_five_minute_rule_judges_only_the_close_of_the_five_minute_bar() -> None:
    book = book_with(signal(1, "breakout", 592.10), bar_minutes=5)
    assert book.on_bar(flat(0, 592.50)) == []  # a 1-min close above is not enough
    for minute in (1, 2, 3):
        assert book.on_bar(flat(minute, 592.30)) == []
    [decision] = book.on_bar(flat(4, 592.20))  # 09:34 ends the 09:30 bar
    assert decision.at == OPEN + timedelta(minutes=5)
    assert decision.reason == "5-min bar closed 592.20 above 592.10 + 0.06 buffer"


def test_five_minute_bar_closing_back_below_does_not_fire() -> None:
    book = book_with(signal(1, "breakout", 592.10), bar_minutes=5)
    for minute in range(4):
        book.on_bar(flat(minute, 593.00))
    assert book.on_bar(flat(4, 592.00)) == []


def test_five_minute_bar_missing_its_last_minute_is_judged_when_the_next_one_starts() -> None:
    book = book_with(signal(1, "breakout", 592.10), bar_minutes=5)
    for minute in range(4):
        book.on_bar(flat(minute, 592.50))
    [decision] = book.on_bar(flat(5, 590.00))  # 09:35: the 09:34 bar never came
    assert decision.at == OPEN + timedelta(minutes=5)
    assert decision.price == 592.50


def test_five_minute_rejection_touch_early_in_the_bar_counts_at_its_close() -> None:
    book = book_with(signal(1, "rejection", 592.09), bar_minutes=5)
    book.on_bar(bar(0, 591.80, 592.10, 591.70, 591.90))
    assert book.touch_of(1) is not None
    for minute in (1, 2, 3):
        assert book.on_bar(flat(minute, 591.30)) == []  # away, but the 5-min bar is not done
    [decision] = book.on_bar(flat(4, 591.40))
    assert "by 09:31" in decision.reason and "5-min bar closed 591.40" in decision.reason


# --- inputs -------------------------------------------------------------------------------


class ParserCategory(StrEnum):
    BOUNCE = "bounce"


@dataclass(frozen=True)
class DecimalBar:
    """Shaped like the market-data module's Bar: ``timestamp`` is the start."""

    symbol: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


def test_signals_accept_parser_enums_and_bars_with_a_timestamp_and_decimal_prices() -> None:
    s = WatchedSignal(1, "nvda", ParserCategory.BOUNCE, "none", "range", 130.20, 130.80)
    assert s.category is Category.BOUNCE and s.symbol == "NVDA"
    book = book_with(s)
    p = Decimal
    b = DecimalBar("NVDA", OPEN, p("130.90"), p("131.00"), p("130.50"), p("130.85"), 100)
    [decision] = book.on_bar(b)
    assert decision.price == 130.85
    assert decision.at == OPEN + timedelta(minutes=1)


def test_signals_with_inconsistent_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="below trigger_low"):
        signal(1, "bounce", 587.00, 586.25)
    with pytest.raises(ValueError, match="needs trigger_high"):
        WatchedSignal(1, "SPY", "bounce", "none", "range", 586.25)
    with pytest.raises(ValueError, match="positive price"):
        signal(1, "breakout", 0.0)
    with pytest.raises(ValueError):
        signal(1, "sideways", 590.0)


def test_rules_refuse_out_of_range_settings() -> None:
    with pytest.raises(ValidationError, match="bar_minutes"):
        TriggerRules(bar_minutes=7)
    with pytest.raises(ValidationError):
        TriggerRules(breakout_buffer_abs=-0.01)
    with pytest.raises(ValidationError):
        TriggerRules(rejection_tolerance_pct=50)
    with pytest.raises(ValidationError, match="back out of the near band"):
        TriggerRules(rejection_tolerance_pct=0.2)  # wider than the 0.1 % confirm
    with pytest.raises(ValidationError):
        TriggerRules(breakout_bufer_abs=0.05)  # a typo is not silently ignored


# --- properties --------------------------------------------------------------------------

CATEGORIES = ("breakout", "breakdown", "rejection", "bounce")
PRICE = st.floats(min_value=95.0, max_value=105.0, allow_nan=False)


@st.composite
def signals(draw: st.DrawFn) -> list[WatchedSignal]:
    out = []
    for sid in range(draw(st.integers(min_value=1, max_value=12))):
        low = draw(PRICE)
        width = draw(st.none() | st.floats(min_value=0.0, max_value=2.0))
        out.append(
            WatchedSignal(
                sid,
                draw(st.sampled_from(("AAA", "BBB"))),
                draw(st.sampled_from(CATEGORIES)),
                draw(st.sampled_from(("aggressive", "conservative", "none"))),
                "range" if width is not None else "near",
                low,
                None if width is None else low + width,
            )
        )
    return out


@st.composite
def bars(draw: st.DrawFn) -> list[Bar]:
    out = []
    for minute in range(draw(st.integers(min_value=0, max_value=40))):
        o, c = draw(PRICE), draw(PRICE)
        h = max(o, c) + draw(st.floats(min_value=0.0, max_value=1.0))
        lo = min(o, c) - draw(st.floats(min_value=0.0, max_value=1.0))
        out.append(bar(minute, o, h, lo, c, draw(st.sampled_from(("AAA", "BBB", "CCC")))))
    return out


@settings(max_examples=150, deadline=None)
@given(signals(), bars(), st.sampled_from((1, 5)), st.booleans())
def test_random_bar_sequences_fire_each_signal_at_most_once_and_then_stop_watching_it(
    sigs: list[WatchedSignal], feed: list[Bar], minutes: int, allow_both: bool
) -> None:
    book = book_with(*sigs, bar_minutes=minutes, allow_both_aggressiveness=allow_both)
    seen: set[int] = set()
    for b in feed:
        for decision in book.on_bar(b):
            assert decision.signal_id not in seen
            seen.add(decision.signal_id)
            assert decision.signal_id not in book
            assert decision.symbol == b.symbol
            assert decision.kind is DecisionKind.TRIGGERED or not allow_both
        assert book.symbols() == {s.symbol for s in book.signals()}
    assert seen | {s.signal_id for s in book.signals()} == {s.signal_id for s in sigs}
