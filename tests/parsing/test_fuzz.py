"""Fuzzing: corpus posts mangled character by character and line by line, and random unicode.

Whatever arrives, :func:`core.parsing.parse_message` returns a valid :class:`ParsedMessage`
whose JSON contract serialises, and never falls back to its "internal parser error" warning
(:func:`tests.parsing.test_properties.assert_valid`).

``make test`` runs a few hundred examples per test; ``make soak`` runs 10,000 per test
(``HYPOTHESIS_PROFILE=soak``, registered in ``tests/conftest.py``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.parsing import parse_message
from tests.parsing.test_properties import MESSAGES, POSTED, assert_valid

FUZZ = settings(
    max_examples=max(300, settings.default.max_examples),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Characters that break naive text handling: bidi controls, zero-width marks, joiners,
#: variation selectors, combining marks, odd line breaks, NUL, a lone surrogate, digits of
#: other scripts, look-alike punctuation and emoji sequences.
TRICKY = [
    "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
    "\u2068", "\u2069", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\ufe0f",
    "\ufe0e", "\u0301", "\u0336", "\u20e3", "\u2028", "\u2029", "\x85", "\r", "\v", "\f",
    "\t", "\x00", "\ud83d", "\udca5", "\uffff", "\U0010ffff", "５８２.５０", "٥٨٢٫٥", "²³",
    "½", "\u2212", "\u2012", "\u00ad", "\u00a0", "\u3000", "．", "，", "：", "＄",
    "👨\u200d👩\u200d👧", "🏳️\u200d🌈", "1️⃣", "🇺🇸", "👍🏽", "🔼", "🔻", "🎯", "❌", "⚠️",
    "שלום", "مرحبا", "Ⅻ", "𝟓𝟖𝟐", "A+", "a+", "$", "SPY", "Breakout", "Above", "Target",
]
HUGE_NUMBERS = st.one_of(
    st.integers(min_value=1, max_value=400).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=400).map(lambda n: "0." + "0" * n + "1"),
    st.sampled_from([
        "1e308", "1e-400", "1E+999", "-5", "+7", "0", "0.0", "NaN", "nan", "inf", "Infinity",
        "-0", "1_000", "1,000,000.00", "1.2.3", "..5", "5..", "0x1F", "١٢٣", "１２３",
        "18446744073709551616", "340282366920938463463374607431768211457.5",
    ]),
)
INSERT = st.one_of(
    st.sampled_from(TRICKY),
    st.characters(),  # any code point but surrogates (the other strategies bring those)
    st.text(max_size=12),
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _splice(text: str, at: int, cut: int, insert: str) -> str:
    return text[:at] + insert + text[at + cut:]


@st.composite
def fuzzed_messages(draw: st.DrawFn) -> str:
    """Return a corpus post after 1-12 random character, number and line mutations."""
    text = draw(st.sampled_from(MESSAGES))
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        op = draw(st.sampled_from(
            ["insert", "delete", "swap", "number", "shuffle", "dup_line", "drop_line", "long_line"]
        ))
        at = draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))
        if op == "insert":
            text = _splice(text, at, 0, draw(INSERT))
        elif op == "delete":
            text = _splice(text, at, draw(st.integers(min_value=1, max_value=8)), "")
        elif op == "swap" and at + 1 < len(text):
            text = _splice(text, at, 2, text[at + 1] + text[at])
        elif op == "number":
            numbers = list(_NUMBER.finditer(text))
            if numbers:
                m = numbers[draw(st.integers(min_value=0, max_value=len(numbers) - 1))]
                text = _splice(text, m.start(), m.end() - m.start(), draw(HUGE_NUMBERS))
        elif op in ("shuffle", "dup_line", "drop_line", "long_line"):
            text = _mutate_lines(draw, text.split("\n"), op)
    return text


def _mutate_lines(draw: st.DrawFn, lines: list[str], op: str) -> str:
    if op == "shuffle":
        return "\n".join(draw(st.permutations(lines)))
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if op == "dup_line":
        lines.insert(i, lines[i])
    elif op == "drop_line":
        del lines[i]
    else:  # one very long line: the line (or filler) repeated to 2k-40k characters
        unit = lines[i] or draw(st.sampled_from(TRICKY))
        lines[i] = unit * (draw(st.integers(min_value=2_000, max_value=40_000)) // len(unit) + 1)
    return "\n".join(lines)


@FUZZ
@given(fuzzed_messages(), st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))))
def test_fuzzed_corpus_posts_never_break_the_parser(text: str, posted_at: datetime | None) -> None:
    assert_valid(parse_message(text, posted_at))


HEADERS = st.sampled_from(["A+ Trade Setups — Wed Jun 11", "A+", "A+ Setups 6/11", "a+ 5/29/24"])
UNICODE_LINES = st.lists(
    st.one_of(
        st.text(st.characters(exclude_categories=()), max_size=60),
        st.lists(st.one_of(st.sampled_from(TRICKY), HUGE_NUMBERS), max_size=12).map(" ".join),
    ),
    max_size=30,
)


@FUZZ
@given(HEADERS, UNICODE_LINES)
def test_random_unicode_under_an_aplus_header_never_breaks_the_parser(
    header: str, lines: list[str]
) -> None:
    # The header gets the text past the cheap "is this an A+ post at all" check.
    assert_valid(parse_message("\n".join([header, *lines]), POSTED))


@FUZZ
@given(st.text(st.characters(exclude_categories=()), max_size=400))
def test_random_unicode_with_surrogates_never_breaks_the_parser(text: str) -> None:
    assert_valid(parse_message(text, POSTED))
    assert_valid(parse_message("A+ " + text, POSTED))
