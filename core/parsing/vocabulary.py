"""The words and emoji the A+ grammar understands.

This is the place to teach the parser a new way of writing the same thing: a new spelling of
a category, a new emoji, a new target marker. Every table maps a lower-case surface form to
its meaning; the tokenizer tags each word or emoji with a :class:`Role` from here and the
grammar (:mod:`core.parsing.grammar`) only ever looks at roles, never at spellings.

Teaching ``"Fade"`` as a rejection, for example, is one entry in :data:`CATEGORY_WORDS`
(``"fade": Category.REJECTION``); a new harmless word in signal lines ("Breakout Setup
Trigger Above ...") is one entry in :data:`FILLER_WORDS`; a new emoji that leads breakout
lines is one entry in :data:`CATEGORY_EMOJI`.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

from core.parsing.models import Aggressiveness, Category, Comparison, Direction

__all__ = [
    "AGGRESSIVENESS_WORDS",
    "BIAS_LEAD_WORDS",
    "CATEGORY_EMOJI",
    "CATEGORY_WORDS",
    "COMPARISON_WORDS",
    "DEFAULT_COMPARISON",
    "DEFAULT_SYMBOL",
    "DIRECTION_PHRASES",
    "FILLER_WORDS",
    "FLIP_SIDE_WORDS",
    "FLIP_WORDS",
    "HEADER_WORDS",
    "JOIN_WORDS",
    "LIST_WORDS",
    "MARKER_EMOJI",
    "NOT_TICKERS",
    "SIDE_WORDS",
    "TARGET_WORDS",
    "UNLESS_WORDS",
    "WORD_ROLES",
    "ZONE_WORDS",
    "Role",
    "emoji_role",
]


class Role(StrEnum):
    """What a word or emoji does in a line."""

    CATEGORY = "category"  # breakout, rejection...: names the signal's category
    SIDE = "side"  # long/short: a category by trade side, weaker than CATEGORY
    AGGRESSIVENESS = "aggressiveness"
    COMPARISON = "comparison"
    ZONE = "zone"  # the trigger may be a low-high zone
    LIST = "list"  # "Levels": the numbers after the trigger are more triggers
    TARGET = "target"  # "Targets:", "TP": what follows are targets
    JOIN = "join"  # "to", "and": joins the two ends of a zone, or separates targets
    FILLER = "filler"  # known words that carry no meaning for the grammar
    BIAS = "bias"  # a word or emoji that opens a bias line
    HEADER = "header"  # "A+", "Setups": the post's header line
    MARKER = "marker"  # an emoji; may name a category (see CATEGORY_EMOJI)


# ---------------------------------------------------------------------------------------
# Signal lines
# ---------------------------------------------------------------------------------------

CATEGORY_WORDS: Final = MappingProxyType({
    "breakout": Category.BREAKOUT,
    "breakouts": Category.BREAKOUT,
    "breakdown": Category.BREAKDOWN,
    "breakdowns": Category.BREAKDOWN,
    "rejection": Category.REJECTION,
    "rejections": Category.REJECTION,
    "reject": Category.REJECTION,
    "rejects": Category.REJECTION,
    "bounce": Category.BOUNCE,
    "bounces": Category.BOUNCE,
})
"""Words that name a category outright; the first one in a line wins."""

SIDE_WORDS: Final = MappingProxyType({
    "long": Category.BREAKOUT,
    "longs": Category.BREAKOUT,
    "calls": Category.BREAKOUT,
    "short": Category.BREAKDOWN,
    "shorts": Category.BREAKDOWN,
    "puts": Category.BREAKDOWN,
    "break": None,  # "Break above/below": the comparison decides
    "breaks": None,
})
"""Trade-side words: the category when no category word is present ("Aggressive Long Over").

``None`` means the comparison word decides (above: breakout, below: breakdown). In
"Rejection Short Near" the category word wins and "Short" only qualifies it.
"""

AGGRESSIVENESS_WORDS: Final = MappingProxyType({
    "aggressive": Aggressiveness.AGGRESSIVE,
    "aggresive": Aggressiveness.AGGRESSIVE,
    "agg": Aggressiveness.AGGRESSIVE,
    "aggr": Aggressiveness.AGGRESSIVE,
    "aggro": Aggressiveness.AGGRESSIVE,
    "conservative": Aggressiveness.CONSERVATIVE,
    "conservitive": Aggressiveness.CONSERVATIVE,
    "con": Aggressiveness.CONSERVATIVE,
    "cons": Aggressiveness.CONSERVATIVE,
    "conserv": Aggressiveness.CONSERVATIVE,
})

COMPARISON_WORDS: Final = MappingProxyType({
    "above": Comparison.ABOVE,
    "over": Comparison.ABOVE,
    "below": Comparison.BELOW,
    "under": Comparison.BELOW,
    "beneath": Comparison.BELOW,
    "near": Comparison.NEAR,
    "at": Comparison.NEAR,
    "around": Comparison.NEAR,
    "from": Comparison.NEAR,
    "off": Comparison.NEAR,
})
"""Comparison words; in bias text only the above/below ones count."""

DEFAULT_COMPARISON: Final = MappingProxyType({
    Category.BREAKOUT: Comparison.ABOVE,
    Category.BREAKDOWN: Comparison.BELOW,
    Category.REJECTION: Comparison.NEAR,
    Category.BOUNCE: Comparison.NEAR,
})
"""The comparison when a line states none ("Aggressive Breakdown 595.20" is below)."""

ZONE_WORDS: Final = frozenset({"zone", "zones", "range", "between", "area"})
LIST_WORDS: Final = frozenset({"levels"})
TARGET_WORDS: Final = frozenset({
    "target", "targets", "tgt", "tgts", "tp", "tps", "pt", "pts", "then",
    "t1", "t2", "t3", "t4", "t5", "tp1", "tp2", "tp3", "tp4", "pt1", "pt2", "pt3",
})
JOIN_WORDS: Final = frozenset({"to", "and"})
FILLER_WORDS: Final = frozenset({
    "entry", "entries", "level", "trigger", "triggers", "setup", "play", "the", "a", "scalp",
    "watch", "price", "point", "retest", "of",
})

# ---------------------------------------------------------------------------------------
# Emoji (variation selectors are stripped before lookup: "⚠️" is looked up as "⚠")
# ---------------------------------------------------------------------------------------

CATEGORY_EMOJI: Final = MappingProxyType({
    "🔼": Category.BREAKOUT,
    "⬆": Category.BREAKOUT,
    "⏫": Category.BREAKOUT,
    "🟢": Category.BREAKOUT,
    "📈": Category.BREAKOUT,
    "🔻": Category.BREAKDOWN,
    "🔽": Category.BREAKDOWN,
    "⬇": Category.BREAKDOWN,
    "⏬": Category.BREAKDOWN,
    "🔴": Category.BREAKDOWN,
    "📉": Category.BREAKDOWN,
    "❌": Category.REJECTION,
    "🚫": Category.REJECTION,
    "⛔": Category.REJECTION,
    "🔄": Category.BOUNCE,
    "🌀": Category.BOUNCE,
})
"""Emoji that lead a signal line; they name its category only when no word does."""

BIAS_EMOJI: Final = frozenset({"⚠", "🧭"})
MARKER_EMOJI: Final = frozenset({"✅", "🔁", "🎯", "➡", "→", "⇒", "👉", "💰", "⭐", "🔥"})
"""Emoji with no category: decoration before a ticker, or target markers after a trigger.

Any other pictographic character behaves the same way; listing one here only documents it.
"""

# ---------------------------------------------------------------------------------------
# Bias lines
# ---------------------------------------------------------------------------------------

BIAS_LEAD_WORDS: Final = frozenset({"bias", "bullish", "bearish", "leaning", "neutral", "outlook"})
"""A line whose first word is one of these is a bias line even without the ⚠️ emoji."""

DIRECTION_PHRASES: Final = MappingProxyType({
    "bullish": Direction.BULLISH,
    "bull": Direction.BULLISH,
    "bulls": Direction.BULLISH,
    "upside": Direction.BULLISH,
    "up move": Direction.BULLISH,
    "bearish": Direction.BEARISH,
    "bear": Direction.BEARISH,
    "bears": Direction.BEARISH,
    "downside": Direction.BEARISH,
    "down move": Direction.BEARISH,
})
"""Words that state a bias direction; the first one outside a flip clause wins."""

FLIP_WORDS: Final = frozenset({"flip", "flips", "flipped", "flipping"})
FLIP_SIDE_WORDS: Final = MappingProxyType({
    **DIRECTION_PHRASES,
    "long": Direction.BULLISH,
    "short": Direction.BEARISH,
})
"""Directions a flip clause may name ("flips bias short again")."""

UNLESS_WORDS: Final = frozenset({"unless"})
"""A clause "... unless <price> ..." flips the bias to the opposite direction at that price."""

# ---------------------------------------------------------------------------------------
# Header, tickers
# ---------------------------------------------------------------------------------------

HEADER_WORDS: Final = frozenset({"a+", "setups", "setup"})
""""A+" anywhere, or "Setups" in a line that is not a signal, makes the line a header."""

DEFAULT_SYMBOL: Final = "SPY"
"""The ticker of signals posted before any ticker line (the poster's index default)."""

NOT_TICKERS: Final = frozenset({
    "A", "I", "AM", "PM", "ET", "EST", "EDT", "AND", "OR", "THE", "ALSO", "NOTE", "NOTES",
    "WATCH", "EDIT", "UPDATE", "ALERT", "FYI", "IMO", "GM", "GN", "LOL", "OK", "TODAY", "NEWS",
    "VWAP", "RSI", "MACD", "VPVR", "EMA", "SMA", "ATH", "HOD", "LOD", "IF", "IN", "TO", "FOR",
    "NO", "YES", "NEW", "ALL", "MY", "WE", "IT", "IS", "BE", "DO", "GO", "UP", "OUT",
})
"""Upper-case words that start lines but are not tickers."""

# ---------------------------------------------------------------------------------------
# The one lookup the tokenizer uses
# ---------------------------------------------------------------------------------------


def _word_roles() -> dict[str, tuple[Role, object]]:
    roles: dict[str, tuple[Role, object]] = {}
    for words, role in (
        (FILLER_WORDS, Role.FILLER),
        (JOIN_WORDS, Role.JOIN),
        (TARGET_WORDS, Role.TARGET),
        (LIST_WORDS, Role.LIST),
        (ZONE_WORDS, Role.ZONE),
        (HEADER_WORDS, Role.HEADER),
        (BIAS_LEAD_WORDS, Role.BIAS),
    ):
        for word in words:
            roles[word] = (role, None)
    for table, role in (
        (COMPARISON_WORDS, Role.COMPARISON),
        (AGGRESSIVENESS_WORDS, Role.AGGRESSIVENESS),
        (SIDE_WORDS, Role.SIDE),
        (CATEGORY_WORDS, Role.CATEGORY),
    ):
        for word, value in table.items():
            roles[word] = (role, value)
    return roles


WORD_ROLES: Final = MappingProxyType(_word_roles())
"""Lower-case word → (role, value). Later tables win a clash: categories beat sides."""


def emoji_role(char: str) -> tuple[Role, Category | None]:
    """Return the role of one emoji (or other symbol that is not ASCII punctuation)."""
    if char in BIAS_EMOJI:
        return (Role.BIAS, None)
    return (Role.MARKER, CATEGORY_EMOJI.get(char))
