"""The line grammar: what one tokenized line says.

Every line is one of::

    line      := decor* ( bias | signal | header | ticker | targets | other )
    decor     := emoji | bullet | dash | numbering           "✅", "•", "1)", "1.", "#1"
    ticker    := SYMBOL [":" | "-"] [ signal | bias | "(" note ")" ]
                              "SPY", "$SPY", "SPY (0DTE)", "TSLA 🔼 Breakout ..."
    bias      := (BIAS-emoji | BIAS-word) text               "⚠️ Bias: ...", "Bullish over ..."
    header    := ... "A+" ... | ... "Setups" ... DATE ...
    signal    := head trigger [levels] [targets]
    head      := WORD+        the first word names a category, a side or an aggressiveness
                              (or, after a category emoji, a comparison, zone or filler word);
                              unknown words are allowed only next to a category word
    trigger   := NUM [ (DASH | "to" | "and") NUM ]          a zone when the dash is tight
                              (571-573), or on a bounce or a Zone/Range/between line;
                              otherwise a spaced dash or "to" starts the targets
    levels    := ("," NUM)+   on "Levels" lines, rejections and bounces only: every number is
                              a trigger of its own
    targets   := (marker | "," | "(" | TARGET-word | JOIN-word | NUM)*   up to any other word
    targets-line := marker* NUM ("," NUM)*                  targets continued on a new line

What each word means comes from :mod:`core.parsing.vocabulary`; this module only combines
roles:

* category: the first category word; else the side word (Long: breakout, Short: breakdown,
  "Break" by its comparison); else, on an Agg/Con-only line, the previous signal's category
  for the same ticker; else the leading emoji's category (🔼 breakout, 🔻 breakdown,
  ❌ rejection, 🔄 bounce);
* aggressiveness: the first aggressiveness word, else ``none``;
* comparison: ``range`` for a zone trigger; else the first comparison word; else the
  category's default (breakout above, breakdown below, rejection and bounce near).

Ambiguous readings, each reported as a warning:

* ``Rejection Levels a, b, c`` / ``Bounce: a, b, c`` (numbers separated by commas right
  after the first level, on a rejection, bounce or "Levels" line, with no target marker):
  one signal per level, without targets;
* numbers after the targets and a word ("... 134.10 likely to test 130s") are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from core.parsing.dates import read_date
from core.parsing.lexer import DASH, EMOJI, NUM, PUNCT, WORD, Token
from core.parsing.models import Aggressiveness, Category, Comparison, Signal, trusted
from core.parsing.vocabulary import DEFAULT_COMPARISON, NOT_TICKERS, Role

__all__ = ["LineKind", "LineReading", "is_price_like", "read_line", "strip_lead"]


class LineKind(StrEnum):
    """What a line is."""

    NOISE = "noise"  # decoration only: dividers, "—————"
    HEADER = "header"
    TICKER = "ticker"  # may also carry a signal or a bias ("TSLA 🔼 Breakout ...")
    SIGNAL = "signal"
    BIAS = "bias"
    TARGETS = "targets"  # bare numbers: targets continued from the signal line above
    OTHER = "other"  # chatter, a date on its own line, or something unreadable


@dataclass(slots=True)
class LineReading:
    """The result of reading one line (the shared NOISE/OTHER/HEADER ones are never changed)."""

    kind: LineKind
    symbol: str | None = None
    signals: list[Signal] | None = None
    category: Category | None = None
    notes: list[str] | None = None
    bias_text: str | None = None
    targets: list[Decimal] | None = None
    problem: str | None = None
    """Why a line that looks like a signal could not be read (the line becomes a warning)."""


_SIGNAL_START: Final = frozenset({Role.CATEGORY, Role.SIDE, Role.AGGRESSIVENESS})
_SOFT_START: Final = frozenset({Role.COMPARISON, Role.ZONE, Role.LIST, Role.FILLER})
_DECOR_PUNCT: Final = frozenset("•·*>#([].:-|")
_NUMBERING_END: Final = frozenset(").:")
_LEVEL_CATEGORIES: Final = frozenset({Category.REJECTION, Category.BOUNCE})
_TARGET_ROLES: Final = frozenset({Role.TARGET, Role.JOIN})
_PLAIN: Final = frozenset({PUNCT, DASH, EMOJI})
_NONE = Aggressiveness.NONE

_LEAD_JUNK: Final = re.compile(r"^(?:[^\w$]|_|\d{1,2}[.)](?=\s|$))+")

_NOISE: Final = LineReading(LineKind.NOISE)
_OTHER: Final = LineReading(LineKind.OTHER)
_HEADER: Final = LineReading(LineKind.HEADER)


def read_line(
    line: str, tokens: list[Token], line_no: int = 0, inherited: Category | None = None
) -> LineReading:
    """Read one normalised line.

    ``inherited`` is the category of the previous signal of the same ticker (for "Con 560.00"
    under "Breakdown: Agg 561.70"); ``line_no`` goes into the signals read.
    """
    if len(tokens) > 1 and tokens[0][0] == EMOJI and tokens[1][0] == WORD:
        # The usual shape ("🔻 Aggressive Breakdown ..."): one emoji, then words.
        i, lead_role = 1, tokens[0][3]
        lead_bias = lead_role[0] is Role.BIAS  # type: ignore[index]
        lead_category = None if lead_bias else lead_role[1]  # type: ignore[index]
    else:
        i, lead_category, lead_bias = _skip_decoration(tokens, 0)
        if i >= len(tokens):
            return _NOISE
    kind, _text, key, role = tokens[i]
    first_role = role[0] if role is not None else None  # type: ignore[index]
    if lead_bias or first_role is Role.BIAS:
        return LineReading(LineKind.BIAS, bias_text=strip_lead(line))
    if kind == WORD and (
        first_role in _SIGNAL_START or (lead_category is not None and first_role in _SOFT_START)
    ):
        reading = _read_signal(line, line_no, tokens, i, lead_category, inherited)
        if reading is not None:
            return reading
    if key == "a+" or _is_header(tokens):
        return _HEADER
    ticker = _ticker_at(tokens, i)
    if ticker is not None:
        return _read_ticker_line(line, line_no, tokens, ticker)
    return _read_targets_line(tokens, i)


def is_price_like(tokens: list[Token]) -> bool:
    """Return whether a line carries something that looks like a price level."""
    return any(
        t[0] == NUM and t[2] is not None and ("." in t[1] or len(t[1]) >= 2) for t in tokens
    )


def strip_lead(line: str, symbol: str | None = None) -> str:
    """Return ``line`` without leading emoji, bullets, numbering and dashes (and ``symbol``)."""
    text = _LEAD_JUNK.sub("", line, count=1)
    if symbol is not None:
        for prefix in (symbol, "$" + symbol):
            if text[: len(prefix)].upper() == prefix:
                text = _LEAD_JUNK.sub("", text[len(prefix) :], count=1)
                break
    return text.strip()


# --- pieces ---------------------------------------------------------------------------------


def _skip_decoration(tokens: list[Token], i: int) -> tuple[int, Category | None, bool]:
    """Skip emoji, bullets and numbering; return the first emoji's category and a bias flag."""
    n = len(tokens)
    lead_category: Category | None = None
    lead_bias = False
    seen_emoji = False
    while i < n:
        kind, text, _key, role = tokens[i]
        if kind == WORD:
            break
        if kind == EMOJI:
            if role[0] is Role.BIAS:  # type: ignore[index]
                lead_bias = True
            elif not seen_emoji:
                lead_category = role[1]  # type: ignore[index]
            seen_emoji = True
        elif kind == NUM:
            if len(text) > 2 or not text.isdigit() or i + 1 >= n:
                break
            follower = tokens[i + 1]
            if follower[0] == PUNCT and follower[1] in _NUMBERING_END:
                i += 1
            elif _ticker_at(tokens, i + 1) is None:
                break
        elif kind == PUNCT and text not in _DECOR_PUNCT:
            break
        i += 1
    return i, lead_category, lead_bias


def _is_header(tokens: list[Token]) -> bool:
    """Return whether the line is the post's header: "A+" anywhere, or "Setups" and a date."""
    words = [t[2] for t in tokens if t[0] == WORD and t[3] is not None and t[3][0] is Role.HEADER]  # type: ignore[index]
    if not words:
        return False
    return "a+" in words or read_date(tokens) is not None


def _ticker_at(tokens: list[Token], i: int) -> tuple[str, int] | None:
    """Return ``(symbol, index after it)`` when a ticker symbol starts at ``i``."""
    n = len(tokens)
    if i >= n:
        return None
    kind, text, _key, role = tokens[i]
    if kind == PUNCT and text == "$" and i + 1 < n:
        kind2, text2, _k, _r = tokens[i + 1]
        if kind2 == WORD and text2.isascii() and text2.isalpha() and len(text2) <= 5:
            return text2.upper(), i + 2
        return None
    if (
        kind == WORD
        and role is None
        and len(text) <= 5
        and text.isascii()
        and text.isalpha()
        and text.isupper()
        and text not in NOT_TICKERS
    ):
        return text, i + 1
    return None


def _read_ticker_line(
    line: str, line_no: int, tokens: list[Token], ticker: tuple[str, int]
) -> LineReading:
    symbol, j = ticker
    rest = tokens[j:]
    if all(t[0] in _PLAIN for t in rest) or (
        # "SPY (0DTE)", "NVDA: (earnings tonight)": a note in parentheses, without prices
        rest[-1][1] == ")"
        and any(t[1] == "(" for t in rest)
        and all(t[0] in _PLAIN for t in rest[: [t[1] for t in rest].index("(")])
        and not is_price_like(rest)
    ):
        return LineReading(LineKind.TICKER, symbol=symbol)
    i, lead_category, lead_bias = _skip_decoration(tokens, j)
    if i < len(tokens):
        kind, _text, _key, role = tokens[i]
        first_role = role[0] if role is not None else None  # type: ignore[index]
        if lead_bias or first_role is Role.BIAS:
            return LineReading(LineKind.TICKER, symbol=symbol, bias_text=strip_lead(line, symbol))
        if kind == WORD and (
            first_role in _SIGNAL_START
            or (lead_category is not None and first_role in _SOFT_START)
        ):
            reading = _read_signal(line, line_no, tokens, i, lead_category, None)
            if reading is not None:
                reading.kind = LineKind.TICKER
                reading.symbol = symbol
                return reading
    # "SPY looking strong today": chatter that happens to start with a ticker.
    return _OTHER


def _read_targets_line(tokens: list[Token], i: int) -> LineReading:
    """Read a line of targets continued from the signal above, or give up (OTHER)."""
    targets: list[Decimal] = []
    for kind, _text, key, role in tokens[i:]:
        if kind == NUM:
            if key is None:
                return _OTHER
            targets.append(key)  # type: ignore[arg-type]
        elif kind == WORD and (role is None or role[0] not in _TARGET_ROLES):  # type: ignore[index]
            return _OTHER
    if not targets:
        return _OTHER
    return LineReading(LineKind.TARGETS, targets=targets)


def _problem(text: str) -> LineReading:
    return LineReading(LineKind.SIGNAL, problem=text)


def _read_signal(
    line: str,
    line_no: int,
    tokens: list[Token],
    start: int,
    lead_category: Category | None,
    inherited: Category | None,
) -> LineReading | None:
    """Read ``head trigger [levels] [targets]`` from ``start``; ``None`` if not a signal."""
    n = len(tokens)
    category: Category | None = None
    side: Category | None = None
    side_seen = zone = listed = False
    aggressiveness = _NONE
    comparison: Comparison | None = None
    unknown = 0

    # head: words up to the first number
    i = n
    for i in range(start, n):
        kind, _text, _key, role = tokens[i]
        if kind == NUM:
            break
        if kind != WORD:
            continue
        if role is None:
            unknown += 1
            continue
        what, value = role  # type: ignore[misc]
        if what is Role.CATEGORY:
            if category is None:
                category = value
        elif what is Role.AGGRESSIVENESS:
            if aggressiveness is _NONE:
                aggressiveness = value
        elif what is Role.COMPARISON:
            if comparison is None:
                comparison = value
        elif what is Role.SIDE:
            if not side_seen:
                side, side_seen = value, True
        elif what is Role.ZONE:
            zone = True
        elif what is Role.LIST:
            listed = True
        elif what is Role.BIAS:
            return None
    else:
        i = n

    if category is None:
        if unknown:
            return None  # "Long day today, 590 held" is chatter, not a signal
        if side_seen:
            category = side or _by_comparison(comparison)
        if category is None and aggressiveness is not _NONE:
            category = inherited
        if category is None:
            category = lead_category
        if category is None:
            return _problem("cannot tell which kind of signal this is")
    if i >= n:
        return _problem("no readable price")

    # trigger: a number, or a zone "low-high"
    first = tokens[i][2]
    if first is None:
        return _problem(f"{tokens[i][1]!r} is not a usable price")
    i += 1
    trigger: Decimal | tuple[Decimal, Decimal] = first  # type: ignore[assignment]
    if i + 1 < n and tokens[i + 1][0] == NUM:
        joiner = tokens[i]
        if (joiner[0] == DASH and (joiner[2] or zone or category is Category.BOUNCE)) or (
            joiner[0] == WORD
            and joiner[3] is not None
            and joiner[3][0] is Role.JOIN  # type: ignore[index]
            and (zone or category is Category.BOUNCE)
        ):
            second = tokens[i + 1][2]
            if second is None:
                return _problem(f"{tokens[i + 1][1]!r} is not a usable price")
            trigger = (first, second) if first <= second else (second, first)  # type: ignore[assignment,operator]
            i += 2

    # levels: "Rejection Levels a, b, c"
    triggers: list[Decimal | tuple[Decimal, Decimal]] | None = None
    if (
        (listed or category in _LEVEL_CATEGORIES)
        and i + 1 < n
        and tokens[i][1] == ","
        and tokens[i + 1][0] == NUM
        and not isinstance(trigger, tuple)
    ):
        triggers = [trigger]
        while i + 1 < n and tokens[i][1] == "," and tokens[i + 1][0] == NUM:
            level = tokens[i + 1][2]
            if level is None:
                return _problem(f"{tokens[i + 1][1]!r} is not a usable price")
            triggers.append(level)  # type: ignore[arg-type]
            i += 2

    # targets: numbers after markers, up to the first other word
    targets: list[Decimal] = []
    notes: list[str] | None = None
    for index in range(i, n):
        kind, text, key, role = tokens[index]
        if kind == NUM:
            if key is None:
                notes = [*(notes or []), f"target {text!r} is not a usable price, left out"]
            else:
                targets.append(key)  # type: ignore[arg-type]
        elif kind == WORD and (role is None or role[0] not in _TARGET_ROLES):  # type: ignore[index]
            if is_price_like(tokens[index:]):
                notes = [*(notes or []), "the numbers after the targets were not read"]
            break

    if isinstance(trigger, tuple):
        final = Comparison.RANGE
    elif comparison is not None and comparison is not Comparison.RANGE:
        final = comparison
    else:
        final = DEFAULT_COMPARISON[category]
    if triggers is None:
        signals = [
            trusted(Signal, {
                "category": category,
                "aggressiveness": aggressiveness,
                "comparison": final,
                "trigger": trigger,
                "targets": targets,
                "line": line,
                "line_no": line_no,
            })
        ]
    else:
        notes = [
            f"{len(triggers)} {category} levels, each read as its own signal with the same targets"
            if targets
            else f"{len(triggers)} {category} levels and no targets: read as one {category} "
            "signal per level, without targets",
            *(notes or []),
        ]
        signals = [
            trusted(Signal, {
                "category": category,
                "aggressiveness": aggressiveness,
                "comparison": final,
                "trigger": level,
                "targets": list(targets),
                "line": line,
                "line_no": line_no,
            })
            for level in triggers
        ]
    return LineReading(LineKind.SIGNAL, None, signals, category, notes)


def _by_comparison(comparison: Comparison | None) -> Category | None:
    if comparison is Comparison.ABOVE:
        return Category.BREAKOUT
    if comparison is Comparison.BELOW:
        return Category.BREAKDOWN
    return None
