"""Line plans: a line read from a remembered plan reads exactly as the grammar reads it.

The reference is the parser with plans switched off (nothing learned, nothing remembered), so
any difference between a planned reading and the grammar's shows up as a different parse.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.parsing.parser as parser_module
from core.parsing import ParsedMessage, parse_message, reset_caches
from core.parsing.plans import PLANS
from tests.parsing.test_properties import MESSAGES, QUICK

POSTED = datetime(2025, 6, 11, 13, 0, tzinfo=UTC)
_DIGIT = re.compile(r"\d")


@contextmanager
def grammar_only() -> Iterator[None]:
    """Parse with no plan learned or used: every line goes through the grammar."""
    reset_caches()
    saved = parser_module.learn
    parser_module.learn = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        parser_module.learn = saved
        reset_caches()


def grammar_reading(text: str) -> ParsedMessage:
    with grammar_only():
        return parse_message(text, POSTED)


def planned(count: int = 0) -> int:
    return sum(len(table) for table in PLANS.values()) - count


def same_shape(text: str, rng: random.Random) -> str:
    """Return ``text`` with every digit replaced by a random one (the same shape)."""
    return _DIGIT.sub(lambda _m: str(rng.randrange(10)), text)


def test_a_post_of_the_same_template_is_read_from_plans_exactly_as_the_grammar_reads_it() -> None:
    reset_caches()
    first = MESSAGES[4]  # 2025-05-29: three tickers, every level on a line of the template
    parse_message(first, POSTED)
    assert planned() > 0  # the first post taught plans
    next_day = same_shape(first, random.Random(1))
    assert parse_message(next_day, POSTED) == grammar_reading(next_day)


@settings(QUICK, max_examples=150)
@given(index=st.integers(0, len(MESSAGES) - 1), seed=st.integers(0, 2**32))
def test_same_shape_variants_of_every_corpus_post_parse_as_the_grammar_reads_them(
    index: int, seed: int
) -> None:
    rng = random.Random(seed)
    teacher, pupil = same_shape(MESSAGES[index], rng), same_shape(MESSAGES[index], rng)
    reset_caches()
    parse_message(teacher, POSTED)
    assert parse_message(pupil, POSTED) == grammar_reading(pupil)


@pytest.mark.parametrize(
    ("teacher", "pupil"),
    [
        # "PT4" is the word PT and the number 4; "PT1" is one target word: one shape, two readings
        ("🔼 Breakout above 590.50 PT4 600.25", "🔼 Breakout above 591.50 PT1 601.25"),
        ("🔻 Breakdown below 580 TP5 570, 565", "🔻 Breakdown below 581 TP1 571, 566"),
        ("🔼 Breakout above 590.50 🔼 600.25 T9", "🔼 Breakout above 591.50 🔼 601.25 T1"),
    ],
)
def test_a_digit_that_touches_a_letter_is_never_planned(teacher: str, pupil: str) -> None:
    header = "A+ Scalp Trade Setups — Wed Jun 11\n\nSPY\n"
    reset_caches()
    parse_message(header + teacher, POSTED)
    assert parse_message(header + pupil, POSTED) == grammar_reading(header + pupil)


def test_a_zero_in_a_planned_shape_goes_back_to_the_grammar() -> None:
    header = "A+ Scalp Trade Setups — Wed Jun 11\n\nSPY\n"
    reset_caches()
    parse_message(header + "🔼 Breakout above 591.82 🔼 593.10, 595.00", POSTED)
    zero = header + "🔼 Breakout above 591.82 🔼 593.10, 000.00"
    assert parse_message(zero, POSTED) == grammar_reading(zero)


def test_reset_caches_forgets_every_plan() -> None:
    reset_caches()
    parse_message(MESSAGES[4], POSTED)
    assert planned() > 0
    reset_caches()
    assert planned() == 0


@pytest.mark.parametrize(
    "pupil",
    [
        "⚠️ Bias: bullish above 591.40, flips bearish under 586.75",  # new prices
        "⚠️ Bias: bullish above 000.00, flips bearish under 586.75",  # a zero: not a price
        "⚠️ Bias: bullish above 5914.0, flips bearish under 5867.5",  # the point moved
    ],
)
def test_a_planned_bias_line_reads_as_the_grammar_reads_it(pupil: str) -> None:
    header = "A+ Scalp Trade Setups — Wed Jun 11\n\nSPY\n🔼 Breakout above 590.50 🔼 600.25\n"
    reset_caches()
    parse_message(header + "⚠️ Bias: bullish above 588.20, flips bearish under 584.10", POSTED)
    assert any(plan.tokens is not None for table in PLANS.values() for plan in table.values())
    assert parse_message(header + pupil, POSTED) == grammar_reading(header + pupil)
