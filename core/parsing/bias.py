"""Reading a bias line: direction, condition and price, and an optional flip.

The bias is read from the same tokens as every other line. It is split into clauses at
spaced dashes ("—", " - ", "--"), ``;``, ``.``, ``,``, ``!``, ``?`` and the word "but". Then,
in this order:

1. **Flip, stated** — the first clause with a flip word ("flip", "flips", ...), a direction
   (a bullish/bearish word, or long/short) and a price: "bias flips bearish only if 579.60
   breaks", "flips bullish on 564.10 reclaim", "breakdown below 333.30 flips bias short".
2. **Direction** — the first bullish/bearish word outside that clause ("Bullish momentum",
   "Leaning bearish", "bearish into open", "bulls", "upside", "up move").
3. **Flip, implied** (only when no flip was stated and a direction is known) — the first
   clause that says "unless <price>" (the flip goes the other way at that price: "remains
   bearish unless price gets back above 596.90"), or a later clause naming the opposite
   direction followed by above/below <price> ("only bullish above 146.20", "bears gain
   control under 562.38").
4. **Condition and price** — the first "above/over/under/below <price>" (also inside "while
   holding above", "while price is above") outside the flip clause. If there is none but
   there is a flip, the condition mirrors it: a bullish flip at P means "below P".
5. If no direction was found but a flip was, the direction is the flip's opposite.

Anything not stated stays ``None``: a purely narrative bias keeps only its ``text``, and the
JSON contract then shows ``"bias": {"direction": null, "condition": null, "price": null,
"flip": null, "text": "..."}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Final

from core.parsing.lexer import DASH, EMOJI, NUM, PUNCT, WORD, Token
from core.parsing.models import Bias, BiasFlip, Comparison, Direction, trusted
from core.parsing.vocabulary import (
    COMPARISON_WORDS,
    DIRECTION_PHRASES,
    FLIP_SIDE_WORDS,
    FLIP_WORDS,
    UNLESS_WORDS,
)

__all__ = ["bias_code", "forget", "read_bias"]

# The rules above are applied to a *code string*: one character per token, saying what the
# token is to the bias rules, so that clauses, phrases and "above <price>" are found by str
# and regex searches instead of Python loops. Every word the rules name gets its own letter;
# the other characters are:
_BOUNDARY: Final = "|"  # a spaced dash, ; . , ! ? or "but": ends a clause
_PRICE: Final = "#"  # a usable price
_UNUSABLE: Final = "?"  # a number that is not a usable price
_SKIP: Final = "$"  # "$" or "the" between "above" and its price
_OTHER: Final = "."  # anything else

_CLAUSE_PUNCT: Final = frozenset(";.,!?")
_CLAUSE_WORDS: Final = frozenset({"but"})
_SKIP_BEFORE_PRICE: Final = frozenset({"$", "the"})
_ABOVE_BELOW: Final = {
    word: comparison
    for word, comparison in COMPARISON_WORDS.items()
    if comparison in (Comparison.ABOVE, Comparison.BELOW)
}

_LETTERS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _word_codes(*groups: Iterable[str]) -> dict[str, str]:
    """Give every word the rules name its own character."""
    codes: dict[str, str] = {}
    for group in groups:
        for phrase in group:
            for word in phrase.split():
                if word not in codes:
                    n = len(codes)
                    codes[word] = _LETTERS[n] if n < len(_LETTERS) else chr(0x100 + n)
    return codes


_WORD: Final = _word_codes(
    DIRECTION_PHRASES, FLIP_SIDE_WORDS, FLIP_WORDS, UNLESS_WORDS, _ABOVE_BELOW
)
_CODE: Final[dict[object, str]] = {
    **_WORD,
    **dict.fromkeys(_SKIP_BEFORE_PRICE, _SKIP),
    **dict.fromkeys(_CLAUSE_PUNCT | _CLAUSE_WORDS, _BOUNDARY),
    False: _BOUNDARY,  # the key of a spaced dash (a tight one's is True)
    None: _UNUSABLE,  # the key of a number that is not a usable price
}
"""Token key → code; a key not here takes its kind's code (:data:`_KIND_CODE`)."""
_KIND_CODE: Final = {NUM: _PRICE, WORD: _OTHER, DASH: _OTHER, PUNCT: _OTHER, EMOJI: _OTHER}
_kinds = itemgetter(0)
_keys = itemgetter(2)


def _codes(phrases: Iterable[str]) -> str:
    return "".join(_WORD[w] for w in phrases)


def _phrases(table: Mapping[str, Direction]) -> tuple[re.Pattern[str], dict[str, Direction]]:
    """Return a pattern finding any phrase of ``table`` in a code string, and code → direction."""
    coded = {_codes(phrase.split()): direction for phrase, direction in table.items()}
    return re.compile("|".join(map(re.escape, coded))), coded


_DIRECTIONS, _DIRECTION_OF = _phrases(DIRECTION_PHRASES)
_FLIP_SIDES, _FLIP_SIDE_OF = _phrases(FLIP_SIDE_WORDS)
_FLIP: Final = re.compile("[" + re.escape(_codes(FLIP_WORDS)) + "]")
_UNLESS: Final = re.compile("[" + re.escape(_codes(UNLESS_WORDS)) + "]")
_COMPARISON_OF: Final = {_WORD[w]: c for w, c in _ABOVE_BELOW.items()}
_CONDITION: Final = re.compile(
    "[" + re.escape("".join(_COMPARISON_OF)) + "]" + re.escape(_SKIP) + "*" + re.escape(_PRICE)
)
_CLAUSE: Final = re.compile("[^" + re.escape(_BOUNDARY) + "]+")

_Reading = tuple[Direction | None, Comparison | None, int, Direction | None, int]
"""Direction, condition, the price's token position (-1: none), flip direction, its position."""


_READINGS: dict[str, _Reading] = {}
"""Code string → its reading: the rules look at the tokens only through the code string, and
take prices from the tokens at the positions they find (so the reading of a code string holds
positions, never prices). Forgotten when it reaches :data:`LIMIT` entries."""

LIMIT: Final = 4096


def bias_code(tokens: list[Token] | tuple[Token, ...]) -> str:
    """Return the code string of ``tokens``: one character per token (see above)."""
    return "".join(map(_CODE.get, map(_keys, tokens), map(_KIND_CODE.__getitem__, map(_kinds, tokens))))


def read_bias(text: str, tokens: list[Token], code: str | None = None) -> Bias:
    """Read the bias stated by ``tokens`` (see the module docstring); keep ``text`` as is.

    ``code`` is ``bias_code(tokens)`` when the caller already has it.
    """
    if code is None:
        code = bias_code(tokens)
    reading = _READINGS.get(code)
    if reading is None:
        if len(_READINGS) >= LIMIT:
            _READINGS.clear()
        reading = _READINGS[code] = _read_code(code)
    direction, condition, price_at, flip_direction, flip_at = reading
    flip = None
    if flip_direction is not None:
        flip = trusted(BiasFlip, {"direction": flip_direction, "price": tokens[flip_at][2]})
    return trusted(Bias, {
        "direction": direction,
        "condition": condition,
        "price": tokens[price_at][2] if price_at >= 0 else None,
        "flip": flip,
        "text": text,
    })


def forget() -> None:
    """Forget the remembered readings (after the vocabulary changed)."""
    _READINGS.clear()


def _read_code(code: str) -> _Reading:
    """Apply the rules of the module docstring to a code string; prices as token positions."""
    clauses = [(m.start(), m.group()) for m in _CLAUSE.finditer(code)]

    flip: Direction | None = None
    flip_price = -1
    flip_clause = -1
    if _FLIP.search(code) is not None:
        for index, (start, clause) in enumerate(clauses):
            if _FLIP.search(clause) is None:
                continue
            side = _FLIP_SIDES.search(clause)
            at = clause.find(_PRICE)
            if side is not None and at >= 0:
                flip, flip_price, flip_clause = _FLIP_SIDE_OF[side.group()], start + at, index
                break

    direction: Direction | None = None
    direction_at = -1
    for index, (_start, clause) in enumerate(clauses):
        if index != flip_clause and (found := _DIRECTIONS.search(clause)) is not None:
            direction, direction_at = _DIRECTION_OF[found.group()], index
            break

    if flip is None and direction is not None:
        flip, flip_price, flip_clause = _implied_flip(clauses, direction, direction_at)

    condition: Comparison | None = None
    price = -1
    for index, (start, clause) in enumerate(clauses):
        if index != flip_clause and (found := _CONDITION.search(clause)) is not None:
            condition = _COMPARISON_OF[found.group()[0]]
            price = start + found.end() - 1
            break
    if condition is None and flip is not None:
        condition = Comparison.BELOW if flip is Direction.BULLISH else Comparison.ABOVE
        price = flip_price
    if direction is None and flip is not None:
        direction = _opposite(flip)
    return direction, condition, price, flip, flip_price


def _opposite(direction: Direction) -> Direction:
    return Direction.BEARISH if direction is Direction.BULLISH else Direction.BULLISH


def _implied_flip(
    clauses: list[tuple[int, str]], direction: Direction, direction_at: int
) -> tuple[Direction | None, int, int]:
    """Return the implied flip's direction, its price's position and its clause's index."""
    opposite = _opposite(direction)
    for index, (start, clause) in enumerate(clauses):
        for unless in _UNLESS.finditer(clause):
            at = clause.find(_PRICE, unless.end())
            if at >= 0:
                return opposite, start + at, index
        if index <= direction_at:
            continue
        for found in _DIRECTIONS.finditer(clause):
            if _DIRECTION_OF[found.group()] is opposite:
                condition = _CONDITION.search(clause, found.end())
                if condition is not None:
                    return opposite, start + condition.end() - 1, index
    return None, -1, -1
