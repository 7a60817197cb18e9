"""Properties: whatever the text, the parser returns a valid result and never raises."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.parsing import ParsedMessage, parse_message
from core.parsing.models import _json_number

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "aplus"
MESSAGES = [
    json.loads(p.read_text(encoding="utf-8"))["content"] if p.suffix == ".json"
    else p.read_text(encoding="utf-8")
    for p in sorted(CORPUS.iterdir())
    if p.suffix in (".txt", ".json")
]
POSTED = datetime(2025, 6, 11, 13, 0, tzinfo=UTC)

QUICK = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CONTRACT_KEYS = ["trading_date", "setups", "warnings"]
SETUP_KEYS = ["symbol", "signals", "bias"]
SIGNAL_KEYS = ["category", "aggressiveness", "comparison", "trigger", "targets"]
BIAS_KEYS = ["direction", "condition", "price", "flip", "text"]


def assert_valid(parsed: ParsedMessage) -> None:
    """Everything a consumer relies on, whatever the input was."""
    assert isinstance(parsed, ParsedMessage)
    assert ParsedMessage.model_validate(parsed.model_dump()) == parsed
    assert not any("internal parser error" in w for w in parsed.warnings), parsed.warnings
    if not parsed.is_aplus:
        assert parsed.setups == [] and parsed.trading_date is None
    text = json.dumps(parsed.to_contract_dict(), allow_nan=False)
    assert parsed.to_contract_json() == text
    contract = json.loads(text)
    assert list(contract) == CONTRACT_KEYS
    for setup in contract["setups"]:
        assert list(setup) == SETUP_KEYS
        if setup["bias"] is not None:
            assert list(setup["bias"]) == BIAS_KEYS
        for signal in setup["signals"]:
            assert list(signal) == SIGNAL_KEYS
    for setup in parsed.setups:
        for signal in setup.signals:
            assert signal.trigger_low <= signal.trigger_high
            assert all(t > 0 for t in signal.targets)
            assert signal.line and signal.line_no >= 1


# --- arbitrary text -------------------------------------------------------------------------


@QUICK
@given(st.text())
def test_any_unicode_text_gives_a_valid_result(text: str) -> None:
    assert_valid(parse_message(text, POSTED))


WORDS = [
    "A+", "Trade", "Setups", "—", "–", "-", "Wed", "Jun", "11", "May", "28,", "2025", "5/29/24",
    "SPY", "$TSLA", "1)", "2.", "✅", "NVDA", "🔼", "🔻", "❌", "🔄", "🌀", "⚠️", "Bias", "Bias:",
    "bullish", "bearish", "flips", "unless", "short", "long", "Breakout", "Breakdown",
    "Rejection", "Bounce", "Zone", "Zone:", "=", "From", "Near", "Above", "Below", "Over",
    "Under", "Aggressive", "Conservative", "Agg", "Con", "Levels", "Target", "Targets:", "(",
    ")", ",", "582.54", "0.00", "586.25–587.00", "590.00,", "x.xx", "999999999999.5",
    "{edited}", "**", "@everyone", "\u2028", "\u00a0", "\u200b", "\r\n", "\n", "\n\n", "❤️=🐐",
]


@QUICK
@given(st.lists(st.sampled_from(WORDS), max_size=80).map(" ".join))
def test_any_soup_of_the_vocabulary_gives_a_valid_result(text: str) -> None:
    assert_valid(parse_message(text, POSTED))


# --- mutated corpus messages ----------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
NEW_NUMBERS = st.one_of(
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False).map(str),
    st.sampled_from(["0", "0.00", "00", "1", "5", ".5", "1,234.50", "99999999999999"]),
)
INSERTED = st.text(
    alphabet=st.sampled_from(list("0123456789.,-–—:()=$ \n\u2028\u00a0\u200b*{}🔼🔻❌⚠️✅aZ")),
    min_size=1,
    max_size=4,
)


@st.composite
def mutated_messages(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(MESSAGES)).split("\n")
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if not lines:
            break
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        mutation = draw(
            st.sampled_from(["drop", "duplicate", "insert", "delete", "number", "shuffle"])
        )
        line = lines[index]
        if mutation == "drop":
            del lines[index]
        elif mutation == "duplicate":
            lines.insert(index, line)
        elif mutation == "insert":
            at = draw(st.integers(min_value=0, max_value=len(line)))
            lines[index] = line[:at] + draw(INSERTED) + line[at:]
        elif mutation == "delete" and line:
            at = draw(st.integers(min_value=0, max_value=len(line) - 1))
            size = draw(st.integers(min_value=1, max_value=5))
            lines[index] = line[:at] + line[at + size :]
        elif mutation == "number":
            numbers = list(_NUMBER.finditer(line))
            if numbers:
                match = numbers[draw(st.integers(min_value=0, max_value=len(numbers) - 1))]
                replacement = draw(NEW_NUMBERS)
                lines[index] = line[: match.start()] + replacement + line[match.end() :]
        elif mutation == "shuffle":
            lines = draw(st.permutations(lines))
    return "\n".join(lines)


@QUICK
@given(mutated_messages(), st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))))
def test_mutated_corpus_messages_give_a_valid_result(text: str, posted_at: datetime | None) -> None:
    assert_valid(parse_message(text, posted_at))


@QUICK
@given(mutated_messages())
def test_parsing_is_deterministic(text: str) -> None:
    assert parse_message(text, POSTED) == parse_message(text, POSTED)


def test_every_corpus_message_is_valid_and_json_safe() -> None:
    for text in MESSAGES:
        parsed = parse_message(text, POSTED)
        assert parsed.is_aplus
        assert_valid(parsed)


def test_inputs_that_are_not_text_do_not_raise() -> None:
    assert_valid(parse_message(b"A+ Trade Setups\nSPY\n\xff\xfe 590", POSTED))  # type: ignore[arg-type]
    assert_valid(parse_message(None, POSTED))  # type: ignore[arg-type]
    assert_valid(parse_message("", POSTED))


# --- the contract JSON's numbers ------------------------------------------------------------

PRICES = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.decimals(min_value=0, max_value=10, places=8),
    st.integers(min_value=0, max_value=10**20).map(Decimal),
    st.from_regex(r"\d{1,18}(\.\d{0,18})?", fullmatch=True).map(Decimal),
)


@QUICK
@given(PRICES)
def test_a_price_is_written_as_the_repr_of_its_float(value: Decimal) -> None:
    # What json.dumps writes for a finite float; the fast path must never differ from it.
    assert _json_number(value) == repr(float(value))


def test_a_remembered_bias_reading_takes_each_posts_own_prices() -> None:
    first = parse_message("A+ Setups Jun 3\nSPY\nBreakout 590.00\n⚠️ Bias: bullish above 588.50, "
                          "flips bearish under 585.25", POSTED)
    second = parse_message("A+ Setups Jun 4\nSPY\nBreakout 591.00\n⚠️ Bias: bullish above 589.75, "
                           "flips bearish under 586.40", POSTED)
    biases = [m.setups[0].bias for m in (first, second)]
    assert [(b.price, b.flip.price) for b in biases if b and b.flip] == [
        (Decimal("588.50"), Decimal("585.25")), (Decimal("589.75"), Decimal("586.40"))
    ]
