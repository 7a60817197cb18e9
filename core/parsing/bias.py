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

from decimal import Decimal
from typing import Final

from core.parsing.lexer import DASH, NUM, PUNCT, WORD, Token
from core.parsing.models import Bias, BiasFlip, Comparison, Direction, trusted
from core.parsing.vocabulary import (
    COMPARISON_WORDS,
    DIRECTION_PHRASES,
    FLIP_SIDE_WORDS,
    FLIP_WORDS,
    UNLESS_WORDS,
)

__all__ = ["read_bias"]

_CLAUSE_PUNCT: Final = frozenset(";.,!?")
_CLAUSE_WORDS: Final = frozenset({"but"})
_SKIP_BEFORE_PRICE: Final = frozenset({"$", "the"})
_ABOVE_BELOW: Final = {
    word: comparison
    for word, comparison in COMPARISON_WORDS.items()
    if comparison in (Comparison.ABOVE, Comparison.BELOW)
}


def _phrase_table(phrases: dict[str, Direction]) -> dict[str, list[tuple[tuple[str, ...], Direction]]]:
    """Index phrases by their first word: {"up": [(("move",), BULLISH)], ...}."""
    table: dict[str, list[tuple[tuple[str, ...], Direction]]] = {}
    for phrase, direction in phrases.items():
        first, *rest = phrase.split()
        table.setdefault(first, []).append((tuple(rest), direction))
    return table


_DIRECTIONS: Final = _phrase_table(dict(DIRECTION_PHRASES))
_FLIP_SIDES: Final = _phrase_table(dict(FLIP_SIDE_WORDS))

Clause = list[Token]


def read_bias(text: str, tokens: list[Token]) -> Bias:
    """Read the bias stated by ``tokens`` (see the module docstring); keep ``text`` as is."""
    clauses = _clauses(tokens)
    flip: BiasFlip | None = None
    flip_at = -1
    for index, clause in enumerate(clauses):
        if any(t[0] == WORD and t[2] in FLIP_WORDS for t in clause):
            side = _find_direction(clause, _FLIP_SIDES)
            price = _first_price(clause, 0)
            if side is not None and price is not None:
                flip, flip_at = trusted(BiasFlip, {"direction": side[0], "price": price}), index
                break

    direction: Direction | None = None
    direction_at = -1
    for index, clause in enumerate(clauses):
        if index != flip_at:
            found = _find_direction(clause, _DIRECTIONS)
            if found is not None:
                direction, direction_at = found[0], index
                break

    if flip is None and direction is not None:
        flip, flip_at = _implied_flip(clauses, direction, direction_at)

    condition: Comparison | None = None
    price: Decimal | None = None
    for index, clause in enumerate(clauses):
        if index != flip_at:
            found_condition = _condition(clause, 0)
            if found_condition is not None:
                condition, price = found_condition
                break
    if condition is None and flip is not None:
        condition = Comparison.BELOW if flip.direction is Direction.BULLISH else Comparison.ABOVE
        price = flip.price
    if direction is None and flip is not None:
        direction = _opposite(flip.direction)
    return trusted(Bias, {
        "direction": direction,
        "condition": condition,
        "price": price,
        "flip": flip,
        "text": text,
    })


def _clauses(tokens: list[Token]) -> list[Clause]:
    clauses: list[Clause] = []
    current: Clause = []
    for token in tokens:
        kind, _text, key, _role = token
        if (
            (kind == DASH and key is False)
            or (kind == PUNCT and key in _CLAUSE_PUNCT)
            or (kind == WORD and key in _CLAUSE_WORDS)
        ):
            if current:
                clauses.append(current)
                current = []
        else:
            current.append(token)
    if current:
        clauses.append(current)
    return clauses


def _find_direction(
    clause: Clause, table: dict[str, list[tuple[tuple[str, ...], Direction]]], start: int = 0
) -> tuple[Direction, int] | None:
    """Return the first direction phrase in ``clause`` from ``start`` and the index after it."""
    for i in range(start, len(clause)):
        kind, _text, key, _role = clause[i]
        if kind != WORD or key not in table:
            continue
        for rest, direction in table[key]:  # type: ignore[index]
            end = i + 1 + len(rest)
            if tuple(t[2] for t in clause[i + 1 : end]) == rest:
                return direction, end
    return None


def _first_price(clause: Clause, start: int) -> Decimal | None:
    for kind, _text, key, _role in clause[start:]:
        if kind == NUM and key is not None:
            return key  # type: ignore[return-value]
    return None


def _condition(clause: Clause, start: int) -> tuple[Comparison, Decimal] | None:
    """Return the first "above/below <price>" in ``clause`` from ``start``."""
    n = len(clause)
    for i in range(start, n):
        kind, _text, key, _role = clause[i]
        if kind != WORD or key not in _ABOVE_BELOW:
            continue
        j = i + 1
        while j < n and clause[j][2] in _SKIP_BEFORE_PRICE:
            j += 1
        if j < n and clause[j][0] == NUM and clause[j][2] is not None:
            return _ABOVE_BELOW[key], clause[j][2]  # type: ignore[index,return-value]
    return None


def _opposite(direction: Direction) -> Direction:
    return Direction.BEARISH if direction is Direction.BULLISH else Direction.BULLISH


def _implied_flip(
    clauses: list[Clause], direction: Direction, direction_at: int
) -> tuple[BiasFlip | None, int]:
    opposite = _opposite(direction)
    for index, clause in enumerate(clauses):
        for i, token in enumerate(clause):
            if token[0] == WORD and token[2] in UNLESS_WORDS:
                price = _first_price(clause, i + 1)
                if price is not None:
                    return trusted(BiasFlip, {"direction": opposite, "price": price}), index
        if index <= direction_at:
            continue
        start = 0
        while (found := _find_direction(clause, _DIRECTIONS, start)) is not None:
            named, start = found
            if named is opposite:
                condition = _condition(clause, start)
                if condition is not None:
                    return trusted(BiasFlip, {"direction": opposite, "price": condition[1]}), index
    return None, -1
