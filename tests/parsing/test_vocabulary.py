"""One test per normalisation, vocabulary and grammar rule, on small hand-made posts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core.parsing import (
    Aggressiveness,
    Bias,
    Category,
    Comparison,
    Direction,
    ParsedMessage,
    Signal,
    parse_message,
    reset_caches,
)
from core.parsing.vocabulary import WORD_ROLES, Role

POSTED = datetime(2025, 6, 11, 13, 0, tzinfo=UTC)
HEADER = "A+ Scalp Trade Setups — Wed Jun 11"


def post(*lines: str, header: str = HEADER, ticker: str | None = "SPY") -> str:
    """A small A+ post: header, blank line, ticker, then ``lines``."""
    head = [header, ""] + ([ticker] if ticker else [])
    return "\n".join([*head, *lines])


def parse(text: str, posted_at: datetime | None = POSTED) -> ParsedMessage:
    return parse_message(text, posted_at)


def signals(parsed: ParsedMessage, symbol: str = "SPY") -> list[Signal]:
    by_symbol = {s.symbol: s for s in parsed.setups}
    assert symbol in by_symbol, f"{symbol} not in {list(by_symbol)}"
    return by_symbol[symbol].signals


def one_signal(text: str) -> Signal:
    parsed = parse(text)
    found = [s for setup in parsed.setups for s in setup.signals]
    assert len(found) == 1, (found, parsed.warnings)
    return found[0]


def d(value: str) -> Decimal:
    return Decimal(value)


def prices(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


# --- normalisation --------------------------------------------------------------------------


def test_line_separator_u2028_splits_two_signals_on_one_physical_line() -> None:
    text = post("🔻 Aggressive Breakdown 602.55 🔻 601.28\u2028🔼 Aggressive Breakout 606.75 🔼 608.30")
    found = signals(parse(text))
    assert [(s.category, s.trigger, s.targets) for s in found] == [
        (Category.BREAKDOWN, d("602.55"), prices("601.28")),
        (Category.BREAKOUT, d("606.75"), prices("608.30")),
    ]
    assert found[0].line_no == found[1].line_no == 4


def test_paragraph_separator_u2029_and_trailing_u2028_are_line_breaks() -> None:
    text = post("🔼 Breakout Above 590.00 🔼 592.00\u2028", "\u2029⚠️ Bias bullish above 590")
    parsed = parse(text)
    assert signals(parsed)[0].targets == prices("592.00")
    assert parsed.setups[0].bias is not None
    assert parsed.setups[0].bias.price == d("590")
    assert parsed.warnings == []


def test_crlf_line_endings() -> None:
    text = post("🔼 Breakout Above 590.00 🔼 592.00, 594.00", "🔻 Breakdown Below 585.00").replace(
        "\n", "\r\n"
    )
    parsed = parse(text)
    assert [s.trigger for s in signals(parsed)] == prices("590.00", "585.00")
    assert signals(parsed)[0].line == "🔼 Breakout Above 590.00 🔼 592.00, 594.00"
    assert parsed.trading_date == date(2025, 6, 11)


def test_non_breaking_and_thin_spaces_are_plain_spaces() -> None:
    signal = one_signal(post("🔼\u00a0Aggressive\u00a0Breakout\u202fAbove\u2009590.00\u00a0🔼\u00a0592.00"))
    assert (signal.aggressiveness, signal.trigger, signal.targets) == (
        Aggressiveness.AGGRESSIVE,
        d("590.00"),
        prices("592.00"),
    )
    assert signal.line == "🔼 Aggressive Breakout Above 590.00 🔼 592.00"


def test_zero_width_characters_inside_words_and_numbers_are_dropped() -> None:
    signal = one_signal(post("🔼 Break\u200bout Ab\u200dove 59\u200b0.50 🔼 \ufeff592.00"))
    assert (signal.category, signal.comparison, signal.trigger) == (
        Category.BREAKOUT,
        Comparison.ABOVE,
        d("590.50"),
    )
    assert signal.targets == prices("592.00")


def test_markdown_bold_ticker_and_words() -> None:
    parsed = parse(post("🔼 **Breakout** Above **590.00** 🔼 592.00", ticker="**NVDA**"))
    signal = signals(parsed, "NVDA")[0]
    assert signal.trigger == d("590.00")
    assert signal.line == "🔼 Breakout Above 590.00 🔼 592.00"


def test_markdown_heading_and_quote_prefixes() -> None:
    text = "# A+ Trade Setups — Jun 11\n> SPY\n> 🔼 Breakout Above 590 🔼 592"
    parsed = parse(text)
    assert parsed.is_aplus
    assert parsed.trading_date == date(2025, 6, 11)
    assert signals(parsed)[0].line == "🔼 Breakout Above 590 🔼 592"


def test_edited_marker_after_targets_is_removed() -> None:
    signal = one_signal(post("🔻 Aggressive Breakdown Below 133.30 🔻 131.88, 130.41  {edited}"))
    assert signal.targets == prices("131.88", "130.41")
    assert "edited" not in signal.line


def test_en_dash_em_dash_and_hyphen_ranges_are_the_same_zone() -> None:
    for dash in ("–", "—", "-", "\u2212"):
        signal = one_signal(post(f"🔄 Bounce Zone 586.25{dash}587.00 🔼 590.00"))
        assert signal.trigger == (d("586.25"), d("587.00")), dash
        assert signal.comparison is Comparison.RANGE
        assert signal.targets == prices("590.00")


def test_discord_mentions_and_everyone_are_noise() -> None:
    text = post("🔼 Breakout Above 590 🔼 592", "@everyone <@&123456789012345678>")
    parsed = parse(text)
    assert parsed.warnings == []
    assert len(signals(parsed)) == 1


# --- tickers --------------------------------------------------------------------------------


def test_cashtag_ticker_line() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", ticker="$spy"))
    assert [s.symbol for s in parsed.setups] == ["SPY"]


def test_numbered_ticker_with_parenthesis() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", ticker="1) SPY"))
    assert [s.symbol for s in parsed.setups] == ["SPY"]


def test_numbered_ticker_with_dot() -> None:
    text = post(
        "🔼 Breakout Above 590 🔼 592", "", "2. TSLA", "🔻 Breakdown Below 300 🔻 295", ticker="1. SPY"
    )
    parsed = parse(text)
    assert [s.symbol for s in parsed.setups] == ["SPY", "TSLA"]
    assert signals(parsed, "TSLA")[0].trigger == d("300")


def test_emoji_prefixed_ticker() -> None:
    parsed = parse(post("❌ Rejection Short 145.25 🔻 143.60", ticker="✅ NVDA"))
    assert [s.symbol for s in parsed.setups] == ["NVDA"]


def test_ticker_on_the_same_line_as_its_first_signal() -> None:
    text = post(
        "TSLA 🔼 Breakout Entry Aggressive Above 323.47 🔼 328.00, 332.50",
        "🔻 Breakdown Entry Aggressive Below 317.50 🔻 312.20",
        ticker=None,
    )
    parsed = parse(text)
    assert [(s.category, s.trigger) for s in signals(parsed, "TSLA")] == [
        (Category.BREAKOUT, d("323.47")),
        (Category.BREAKDOWN, d("317.50")),
    ]
    assert parsed.warnings == []


def test_ticker_line_with_colon_and_bias_on_the_same_line() -> None:
    parsed = parse(post("QQQ: ⚠️ Bias: bearish below 520.50", ticker=None))
    assert parsed.setups[0].symbol == "QQQ"
    bias = parsed.setups[0].bias
    assert bias is not None
    assert (bias.direction, bias.price, bias.text) == (
        Direction.BEARISH,
        d("520.50"),
        "Bias: bearish below 520.50",
    )


def test_ticker_line_with_a_note_in_parentheses() -> None:
    parsed = parse(post("🔼 Breakout Above 130 🔼 132", ticker="NVDA (earnings tonight)"))
    assert [s.symbol for s in parsed.setups] == ["NVDA"]
    assert parsed.warnings == []


def test_ticker_followed_by_chatter_is_not_a_ticker_line() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "", "NVDA looking heavy today"))
    assert [s.symbol for s in parsed.setups] == ["SPY"]
    assert parsed.warnings == []


def test_signals_before_any_ticker_belong_to_spy_with_a_warning() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", ticker=None))
    assert [s.symbol for s in parsed.setups] == ["SPY"]
    assert parsed.warnings == ["line 3: setup lines before any ticker line were read as SPY"]


def test_a_ticker_seen_twice_adds_to_one_setup() -> None:
    text = post("🔼 Breakout Above 590 🔼 592", "", "SPY", "🔻 Breakdown Below 585 🔻 580")
    parsed = parse(text)
    assert len(parsed.setups) == 1
    assert [s.category for s in signals(parsed)] == [Category.BREAKOUT, Category.BREAKDOWN]


# --- categories, aggressiveness, comparisons ------------------------------------------------


def test_long_over_is_a_breakout_above() -> None:
    signal = one_signal(post("🔼 Aggressive Long Over 583.75 🔼 585.80"))
    assert (signal.category, signal.aggressiveness, signal.comparison) == (
        Category.BREAKOUT,
        Aggressiveness.AGGRESSIVE,
        Comparison.ABOVE,
    )


def test_short_under_is_a_breakdown_below() -> None:
    signal = one_signal(post("🔻 Conservative Short Under 577.80 🔻 576.30"))
    assert (signal.category, signal.aggressiveness, signal.comparison) == (
        Category.BREAKDOWN,
        Aggressiveness.CONSERVATIVE,
        Comparison.BELOW,
    )


def test_breakdown_without_comparison_word_is_below() -> None:
    signal = one_signal(post("🔻 Aggressive Breakdown 595.20 🔻 593.35, 591.75"))
    assert (signal.category, signal.comparison) == (Category.BREAKDOWN, Comparison.BELOW)


def test_breakout_without_comparison_word_is_above() -> None:
    signal = one_signal(post("🔼 Conservative Breakout 600.20 🔼 602.10"))
    assert (signal.category, signal.comparison) == (Category.BREAKOUT, Comparison.ABOVE)


def test_rejection_short_near_is_a_rejection_near() -> None:
    signal = one_signal(post("❌ Rejection Short Near 586.25 🔻 582.00, 577.00"))
    assert (signal.category, signal.aggressiveness, signal.comparison) == (
        Category.REJECTION,
        Aggressiveness.NONE,
        Comparison.NEAR,
    )
    assert signal.direction is Direction.BEARISH


def test_rejection_short_reject_near_wording() -> None:
    signal = one_signal(post("🔁 Rejection Short Reject Near 568.12 🔻 565.70"))
    assert (signal.category, signal.comparison, signal.trigger) == (
        Category.REJECTION,
        Comparison.NEAR,
        d("568.12"),
    )


def test_agg_and_con_shorthand_inherit_the_category_of_the_line_above() -> None:
    text = post("🔻 Breakdown: Agg 561.70 🔻 560.00, 558.50", "🔻 Con 560.00 🔻 558.50, 555.80")
    found = signals(parse(text))
    assert [(s.category, s.aggressiveness, s.comparison, s.trigger) for s in found] == [
        (Category.BREAKDOWN, Aggressiveness.AGGRESSIVE, Comparison.BELOW, d("561.70")),
        (Category.BREAKDOWN, Aggressiveness.CONSERVATIVE, Comparison.BELOW, d("560.00")),
    ]


def test_con_line_without_a_line_above_takes_the_category_of_its_emoji() -> None:
    signal = one_signal(post("🔼 Con 566.50 🔼 568.80"))
    assert (signal.category, signal.aggressiveness) == (
        Category.BREAKOUT,
        Aggressiveness.CONSERVATIVE,
    )


def test_breakout_entry_aggressive_above_word_order() -> None:
    signal = one_signal(post("🔼 Breakout Entries Aggressive Above 568.12 🔼 569.80"))
    assert (signal.category, signal.aggressiveness, signal.comparison) == (
        Category.BREAKOUT,
        Aggressiveness.AGGRESSIVE,
        Comparison.ABOVE,
    )


def test_break_above_and_break_below_take_the_category_from_the_comparison() -> None:
    text = post("🔼 Break above 590 🔼 592", "🔻 Break below 585 🔻 580")
    assert [s.category for s in signals(parse(text))] == [Category.BREAKOUT, Category.BREAKDOWN]


def test_bounce_from_is_a_bounce_near() -> None:
    signal = one_signal(post("🔄 Bounce From 581.70 (584.50, 586.30)"))
    assert (signal.category, signal.comparison, signal.trigger) == (
        Category.BOUNCE,
        Comparison.NEAR,
        d("581.70"),
    )
    assert signal.direction is Direction.BULLISH


def test_bounce_near_is_a_bounce_near() -> None:
    signal = one_signal(post("📈 Bounce Zone Near 562.38 🔼 564.70, 566.90"))
    assert (signal.category, signal.comparison, signal.trigger) == (
        Category.BOUNCE,
        Comparison.NEAR,
        d("562.38"),
    )


def test_bounce_zone_is_a_range_with_low_and_high() -> None:
    signal = one_signal(post("🌀 Bounce Zone 571.00-573.00"))
    assert signal.trigger == (d("571.00"), d("573.00"))
    assert (signal.trigger_low, signal.trigger_high) == (d("571.00"), d("573.00"))
    assert signal.comparison is Comparison.RANGE
    assert signal.targets == []


def test_bounce_range_written_high_to_low_is_stored_low_to_high() -> None:
    signal = one_signal(post("🔄 Bounce 590.40–589.10 🔼 591.75"))
    assert signal.trigger == (d("589.10"), d("590.40"))


def test_bounce_range_with_to_and_spaced_dash() -> None:
    assert one_signal(post("🔄 Bounce 589.10 to 590.40 🔼 591.75")).trigger == (
        d("589.10"),
        d("590.40"),
    )
    assert one_signal(post("🔄 Bounce Zone 589.10 - 590.40 🔼 591.75")).trigger == (
        d("589.10"),
        d("590.40"),
    )


def test_spaced_dash_after_a_breakout_trigger_introduces_targets() -> None:
    signal = one_signal(post("🔼 Breakout Above 592.10 - 595.00, 597.40"))
    assert signal.trigger == d("592.10")
    assert signal.targets == prices("595.00", "597.40")


def test_bounce_zone_with_colon_and_equals() -> None:
    assert one_signal(post("🔄 Bounce Zone: 586.25–587.00")).trigger == (d("586.25"), d("587.00"))
    assert one_signal(post("🔄 Bounce Zone = 354.30–356.00 🔼 362.40")).trigger == (
        d("354.30"),
        d("356.00"),
    )


# --- targets --------------------------------------------------------------------------------


def test_targets_in_parentheses_keep_message_order() -> None:
    signal = one_signal(post("❌ Rejection Near 588.87 (586.30, 584.50, 581.70)"))
    assert signal.targets == prices("586.30", "584.50", "581.70")


def test_target_marker_word() -> None:
    signal = one_signal(post("🔄 Bounce Zone 130.20–130.80 🔼 Target 132.25, 134.30"))
    assert signal.targets == prices("132.25", "134.30")


def test_targets_colon_marker_word() -> None:
    signal = one_signal(post("🔄 Bounce Zone = 354.30–356.00 🔼 Targets: 362.40, 368.11, 373.00"))
    assert signal.targets == prices("362.40", "368.11", "373.00")


def test_targets_continued_on_the_next_line() -> None:
    parsed = parse(post("🔼 Breakout Above 590.00", "🔼 592.00, 594.00"))
    assert signals(parsed)[0].targets == prices("592.00", "594.00")
    assert parsed.warnings == []


def test_words_after_the_targets_end_them_and_stray_prices_are_reported() -> None:
    parsed = parse(post("🔼 Breakout Above 590.00 🔼 592.00 then maybe 600.00 later"))
    assert signals(parsed)[0].targets == prices("592.00")
    assert len(parsed.warnings) == 1
    assert "not read" in parsed.warnings[0] and "line 4" in parsed.warnings[0]


# --- ambiguous lines ------------------------------------------------------------------------


def test_rejection_levels_list_is_one_signal_per_level_with_a_warning() -> None:
    parsed = parse(post("❌ Rejection Levels 564.10, 562.85, 562.25"))
    found = signals(parsed)
    assert [(s.category, s.comparison, s.trigger, s.targets) for s in found] == [
        (Category.REJECTION, Comparison.NEAR, d("564.10"), []),
        (Category.REJECTION, Comparison.NEAR, d("562.85"), []),
        (Category.REJECTION, Comparison.NEAR, d("562.25"), []),
    ]
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith("line 4: 3 rejection levels and no targets")


def test_bounce_list_is_one_signal_per_level_with_a_warning() -> None:
    parsed = parse(post("🔄 Bounce: 560.00, 558.50, 555.80"))
    assert [s.trigger for s in signals(parsed)] == prices("560.00", "558.50", "555.80")
    assert "bounce levels" in parsed.warnings[0]


def test_breakout_with_comma_list_is_trigger_then_targets() -> None:
    signal = one_signal(post("🔼 Breakout Above 592.10, 595.00, 597.40"))
    assert signal.trigger == d("592.10")
    assert signal.targets == prices("595.00", "597.40")


# --- bias -----------------------------------------------------------------------------------


def bias_of(*lines: str) -> Bias:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", *lines))
    assert parsed.setups[0].bias is not None, parsed.warnings
    return parsed.setups[0].bias


def test_bias_direction_condition_and_price() -> None:
    bias = bias_of("⚠️ Bias bullish while holding above 584.50, scalp watch on rejection at 588.87")
    assert (bias.direction, bias.condition, bias.price, bias.flip) == (
        Direction.BULLISH,
        Comparison.ABOVE,
        d("584.50"),
        None,
    )


def test_bias_flips_bearish_if_price_breaks() -> None:
    bias = bias_of("⚠️Bullish momentum above 583.75 — bias flips bearish only if 579.60 breaks")
    assert bias.flip is not None
    assert (bias.flip.direction, bias.flip.price) == (Direction.BEARISH, d("579.60"))
    assert (bias.direction, bias.price) == (Direction.BULLISH, d("583.75"))


def test_bias_flips_bullish_on_reclaim() -> None:
    bias = bias_of("⚠️ Bearish bias below 562.25; flips bullish on 564.10 reclaim")
    assert bias.flip is not None
    assert (bias.flip.direction, bias.flip.price) == (Direction.BULLISH, d("564.10"))
    assert (bias.direction, bias.condition, bias.price) == (
        Direction.BEARISH,
        Comparison.BELOW,
        d("562.25"),
    )


def test_bias_flips_short_names_a_bearish_flip_and_implies_a_bullish_bias() -> None:
    bias = bias_of("⚠️ Bias: needs to hold above 336.60 — breakdown below 333.30 flips bias short")
    assert bias.flip is not None
    assert (bias.flip.direction, bias.flip.price) == (Direction.BEARISH, d("333.30"))
    assert (bias.direction, bias.condition, bias.price) == (
        Direction.BULLISH,
        Comparison.ABOVE,
        d("336.60"),
    )


def test_bias_unless_clause_is_a_flip_the_other_way() -> None:
    bias = bias_of("⚠️ Bias — weakness into open — remains bearish unless price gets back above 596.90")
    assert bias.flip is not None
    assert (bias.flip.direction, bias.flip.price) == (Direction.BULLISH, d("596.90"))
    # No other level is stated, so the condition mirrors the flip.
    assert (bias.direction, bias.condition, bias.price) == (
        Direction.BEARISH,
        Comparison.BELOW,
        d("596.90"),
    )


def test_bias_leaning_bearish_and_bearish_into_open() -> None:
    assert bias_of("⚠️ Bias: Leaning bearish under 135.95").direction is Direction.BEARISH
    assert bias_of("⚠️ Bias — bearish into open").direction is Direction.BEARISH


def test_narrative_bias_keeps_text_and_states_nothing_else() -> None:
    text = "⚠️ Bias: Reversal bounce forming — 140.75 must hold as base for continuation"
    bias = bias_of(text)
    assert (bias.direction, bias.condition, bias.price, bias.flip) == (None, None, None, None)
    assert bias.text == "Bias: Reversal bounce forming — 140.75 must hold as base for continuation"


def test_bias_line_without_emoji_starting_with_bullish() -> None:
    bias = bias_of("Bullish over 568.12 — bears gain control under 562.38")
    assert (bias.direction, bias.condition, bias.price) == (
        Direction.BULLISH,
        Comparison.ABOVE,
        d("568.12"),
    )
    assert bias.flip is not None
    assert (bias.flip.direction, bias.flip.price) == (Direction.BEARISH, d("562.38"))


def test_bias_continues_on_a_dash_line_and_is_not_read_as_a_signal() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "⚠️ Bias: Leaning bearish under 135.95 ",
                        "— Breakdown under 134.10 likely to test 130s"))
    assert len(signals(parsed)) == 1
    bias = parsed.setups[0].bias
    assert bias is not None
    assert bias.text == "Bias: Leaning bearish under 135.95 — Breakdown under 134.10 likely to test 130s"
    assert parsed.warnings == []


def test_second_bias_for_a_ticker_is_reported() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "⚠️ Bias bullish above 590", "",
                        "⚠️ Bias bearish below 580"))
    bias = parsed.setups[0].bias
    assert bias is not None and bias.direction is Direction.BULLISH
    assert parsed.warnings == ['line 7: a second bias for SPY was ignored: "Bias bearish below 580"']


# --- header dates ---------------------------------------------------------------------------


def trading_date(header: str, posted_at: datetime | None = POSTED) -> tuple[date | None, list[str]]:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", header=header), posted_at)
    return parsed.trading_date, parsed.warnings


def test_header_weekday_month_day() -> None:
    assert trading_date("A+ Scalp Trade Setups. — Wed Jun 11") == (date(2025, 6, 11), [])


def test_header_month_day_takes_the_posted_year() -> None:
    assert trading_date("A+ Scalp Trade Setups — Jun 2", datetime(2024, 5, 30, 22, 0)) == (
        date(2024, 6, 2),
        [],
    )


def test_header_month_day_comma_year() -> None:
    assert trading_date("A+ Scalp Trade Setups – May 28, 2025", datetime(2030, 1, 1)) == (
        date(2025, 5, 28),
        [],
    )


def test_header_full_weekday_name() -> None:
    assert trading_date("A+ Scalp Trade Setups — Thursday May 29", datetime(2025, 5, 29)) == (
        date(2025, 5, 29),
        [],
    )


def test_header_numeric_date_with_two_digit_year() -> None:
    assert trading_date("A+ Trade Setups 5/29/24") == (date(2024, 5, 29), [])


def test_header_weekday_picks_an_earlier_year_when_the_posted_year_does_not_fit() -> None:
    # Jun 11 is a Wednesday in 2025, a Thursday in 2026: the post's weekday wins, with a warning.
    found, warnings = trading_date("A+ Trade Setups — Wed Jun 11", datetime(2026, 6, 10))
    assert found == date(2025, 6, 11)
    assert warnings == [
        "header date 'Wed Jun 11' read as 2025-06-11, the latest year it falls on a Wednesday; "
        "the post is from 2026"
    ]


def test_header_weekday_without_posted_time_uses_todays_year_then_earlier_ones() -> None:
    found, warnings = trading_date("A+ Trade Setups — Wed Jun 11", None)
    assert found == date(2025, 6, 11)  # the latest Wednesday Jun 11 up to 2032
    assert warnings == []


def test_header_without_year_or_weekday_and_no_posted_time_uses_the_current_year() -> None:
    found, _ = trading_date("A+ Trade Setups — Jun 2", None)
    assert found == date(datetime.now(UTC).year, 6, 2)


def test_header_weekday_that_never_fits_is_reported() -> None:
    # Feb 29 fell on a Saturday in 2020 and a Thursday in 2024: never on a Monday since 2018.
    found, warnings = trading_date("A+ Trade Setups — Mon Feb 29", datetime(2025, 3, 1))
    assert found is None
    assert warnings == ["header date 'Mon Feb 29': no year from 2018 to 2025 has it on a Monday"]


def test_header_weekday_mismatch_with_an_explicit_year_is_reported() -> None:
    found, warnings = trading_date("A+ Trade Setups — Friday May 29, 2025")
    assert found == date(2025, 5, 29)
    assert len(warnings) == 1 and "Thursday" in warnings[0]


def test_header_january_date_posted_in_december_is_next_year() -> None:
    assert trading_date("A+ Trade Setups — Jan 2", datetime(2025, 12, 31, 23, 0))[0] == date(2026, 1, 2)


def test_date_on_its_own_line_under_the_header() -> None:
    text = "A+ Trade Setups\nWed Jun 11\n\nSPY\n🔼 Breakout Above 590 🔼 592"
    parsed = parse(text)
    assert parsed.trading_date == date(2025, 6, 11)
    assert parsed.warnings == []


# --- not an A+ post, chatter, noise, malformed ----------------------------------------------


def test_chatter_message_is_not_an_aplus_post() -> None:
    parsed = parse("SPY looking strong today, might see a breakout above 600 later")
    assert not parsed.is_aplus
    assert parsed.setups == []


def test_plain_message_is_recognised_as_not_aplus_without_parsing() -> None:
    parsed = parse("gm everyone, coffee first ☕")
    assert (parsed.is_aplus, parsed.setups, parsed.trading_date) == (False, [], None)
    assert parsed.to_contract_dict() == {
        "trading_date": None,
        "setups": [],
        "warnings": ["not an A+ setup post (no A+ header and fewer than two setup lines)"],
    }


def test_setups_word_without_aplus_or_a_date_is_not_a_header() -> None:
    parsed = parse("Setups for the week look great\nmaybe a breakout above 600 soon")
    assert not parsed.is_aplus


def test_chatter_line_inside_a_post_is_ignored() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "Also eyes on SAIL (up with news)",
                        "SPY looking strong today"))
    assert [s.symbol for s in parsed.setups] == ["SPY"]
    assert parsed.warnings == []


def test_chatter_line_with_prices_is_reported() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "", "watching 588.50 and 592.20 into the close"))
    assert parsed.warnings == [
        'line 6: not understood, prices ignored: "watching 588.50 and 592.20 into the close"'
    ]


def test_dividers_everyone_and_heart_goat_are_noise() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "—————————", "@everyone", "❤️=🐐"))
    assert parsed.warnings == []


def test_header_with_no_levels_gives_no_signals_and_a_warning() -> None:
    parsed = parse("A+ Scalp Trade Setups — Wed Jun 11\n\nSPY\n")
    assert parsed.is_aplus
    assert parsed.setups == []
    assert parsed.trading_date == date(2025, 6, 11)
    assert parsed.warnings == [
        "line 3: ticker SPY has no readable levels",
        "no setup levels found in this post",
    ]


def test_malformed_levels_become_warnings_naming_the_line() -> None:
    parsed = parse(post("❌ Rejection Near x.xx", "🔻 Breakdown Below ABC", "🔼 Breakout Above 0.00"))
    assert all(not s.signals for s in parsed.setups)
    assert parsed.warnings[:3] == [
        'line 4: no readable price: "❌ Rejection Near x.xx"',
        'line 5: no readable price: "🔻 Breakdown Below ABC"',
        "line 6: '0.00' is not a usable price: \"🔼 Breakout Above 0.00\"",
    ]


def test_signal_without_any_category_is_reported() -> None:
    parsed = parse(post("🔼 Breakout Above 590 🔼 592", "✅ Entry 591.00"))
    assert len(signals(parsed)) == 1
    assert parsed.warnings == ['line 5: not understood, prices ignored: "✅ Entry 591.00"']


# --- the vocabulary itself ------------------------------------------------------------------


def test_every_category_word_maps_to_its_category() -> None:
    for word, category in {
        "breakout": Category.BREAKOUT,
        "breakdown": Category.BREAKDOWN,
        "rejection": Category.REJECTION,
        "bounce": Category.BOUNCE,
    }.items():
        assert WORD_ROLES[word] == (Role.CATEGORY, category)


def test_new_word_in_the_vocabulary_is_understood_without_code_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import core.parsing.lexer as lexer
    from core.parsing import vocabulary

    text = post("🔼 Breakout Trigger Above 590 🔼 592", "🔼 Breakout Entry Above 591 🔼 593")
    assert [s.trigger for s in signals(parse(text))] == prices("590", "591")  # unknown word ok

    fade = post("🔼 Breakout Above 590 🔼 592", "🔻 Fade Near 600.50 🔻 598.00")
    before = parse(fade)
    assert len(signals(before)) == 1
    assert before.warnings == ['line 5: not understood, prices ignored: "🔻 Fade Near 600.50 🔻 598.00"']

    roles = dict(vocabulary.WORD_ROLES)
    roles["fade"] = (Role.CATEGORY, Category.REJECTION)
    monkeypatch.setattr(lexer, "WORD_ROLES", roles)
    reset_caches()
    try:
        after = parse(fade)
    finally:
        monkeypatch.undo()
        reset_caches()
    assert parse(fade).warnings == before.warnings  # nothing learned outlives the change
    assert [(s.category, s.comparison, s.trigger) for s in signals(after)][1] == (
        Category.REJECTION,
        Comparison.NEAR,
        d("600.50"),
    )
    assert after.warnings == []
