"""Line plans: the grammar's reading of a line's shape, remembered for the next line of that shape.

Every day's post is written from the same template and only the prices change
("🔻 Aggressive Breakdown Below 588.11 🔻 585.50, 582.75, 579.60"). The *shape* of a line is its
UTF-8 text with every ASCII digit replaced by one byte that UTF-8 never uses: two lines of one
shape have the same words, emoji and punctuation in the same places, and digits in the same
places.

The grammar (:mod:`core.parsing.grammar`) reads a line from the roles of its tokens, and the
tokens of two lines of one shape differ only in their numbers' values. What the grammar decides
depends on those values only through (a) whether each number is a usable price (not zero, under
a billion), (b) which end of a zone is lower, and (c) dates, which only header words bring in.
So the first time a shape is read, :func:`learn` records the reading as a :class:`LinePlan`:
which number becomes which trigger or target, with the kind, symbol, category, notes and problem
as read. The next line of that shape is read by :meth:`LinePlan.reading`: its numbers are sliced
out of the text and put where the plan says, without tokenizing or running the grammar.

A plan is made only when that is sound:

* the line is a signal, a ticker line without a bias, a line of targets, noise, or a bias line
  (header and other lines need the grammar's look at their tokens' values afterwards, so they
  always go through it). A bias line's plan keeps its tokens, and :meth:`LinePlan.tokens_of`
  puts the new line's numbers in them: the tokens of two lines of one shape differ only there
  (checked once too), and the bias is read from them later;
* every number is a usable price written without a thousands separator, with at most nine
  digits before the point (so "under a billion" follows from the shape), and a line that is not
  a signal holds no header word (so no date is read);
* no digit of the line touches a letter: words such as ``T1``/``PT1`` are vocabulary while
  ``PT4`` is the word ``PT`` and the number 4, so there the digit's value decides the tokens,
  which the shape cannot tell;
* the plan filled in with the line's own numbers gives exactly the grammar's reading (checked
  once, when the plan is made; a line that fails it is simply never planned).

A plan is used only when none of the new line's numbers is zero (checked on every use, the one
property of the values left); a zone's ends are ordered by value, as the grammar orders them.
Agg/Con shorthand takes the category of the line above, so plans are kept per inherited
category. Each table forgets everything when it reaches :data:`LIMIT` shapes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Final, NamedTuple

from core.parsing.bias import bias_code
from core.parsing.grammar import LineKind, LineReading, read_line, strip_lead
from core.parsing.lexer import NUM, WORD, Token, number_spans
from core.parsing.models import Aggressiveness, Category, Comparison, Signal, new_signal
from core.parsing.vocabulary import Role

__all__ = ["LIMIT", "PLANS", "SHAPE", "LinePlan", "forget", "learn", "shape_of"]

log = logging.getLogger(__name__)

LIMIT: Final = 4096
"""Shapes remembered per inherited category before the table starts again."""

SHAPE: Final = bytes.maketrans(b"0123456789", b"\xff" * 10)
"""The ``bytes.translate`` table of :func:`shape_of`."""
_LETTER_DIGIT: Final = re.compile(r"[^\W\d_]\d|\d[^\W\d_]")
_MAX_WHOLE_DIGITS: Final = 9

_set = object.__setattr__

Trigger = int | tuple[int, int]
"""A number's index in the line, or the indexes of a zone's ends in the order written."""


def shape_of(line: str) -> bytes:
    """Return the shape of ``line``: its UTF-8 bytes with every ASCII digit as ``0xff``."""
    return line.encode("utf-8", "surrogatepass").translate(SHAPE)


class _SignalPlan(NamedTuple):
    """One signal of a line: a tuple, so that reading a line unpacks it in one step."""

    category: Category
    aggressiveness: Aggressiveness
    comparison: Comparison
    trigger: Trigger
    targets: slice | tuple[int, ...]
    """A slice of the numbers when the targets are consecutive, else their indexes."""


@dataclass(frozen=True, slots=True)
class LinePlan:
    """How to read a line of one shape from its numbers (see the module docstring)."""

    kind: LineKind
    slices: tuple[slice, ...]
    """Where each number of the line is, in order."""
    symbol: str | None
    category: Category | None
    notes: list[str] | None
    problem: str | None
    signals: tuple[_SignalPlan, ...] | None
    targets: slice | tuple[int, ...] | None
    tokens: tuple[Token, ...] | None = None
    """A bias line's tokens, numbers and all (:meth:`tokens_of` puts the line's own in)."""
    bias_code: str | None = None
    """A bias line's :func:`~core.parsing.bias.bias_code` (the same for every line of the shape,
    as its numbers are all usable prices)."""
    plain_signals: bool = field(init=False)
    """A signal line without notes or problem: :meth:`read_signals` is all there is to read."""
    one_open_signal: bool = field(init=False)
    """One signal without targets (a targets line under it may complete it)."""
    plain_ticker: bool = field(init=False)
    """A ticker line with nothing else on it and no number: it only opens :attr:`symbol`."""
    _take: itemgetter[str] | None = field(init=False)
    _number_at: tuple[tuple[int, slice], ...] = field(init=False)
    """Each number's position in :attr:`tokens` and in the line."""

    def __post_init__(self) -> None:
        signals = self.signals
        plain = self.kind is LineKind.SIGNAL and signals is not None
        _set(self, "plain_signals", plain and self.problem is None and not self.notes)
        _set(self, "one_open_signal", plain and len(signals) == 1 and signals[0].targets == ())  # type: ignore[arg-type]
        _set(self, "plain_ticker", self.kind is LineKind.TICKER and signals is None
             and self.problem is None and not self.slices)
        # itemgetter slices the numbers out in C; with one slice it returns the text itself.
        _set(self, "_take", itemgetter(*self.slices) if self.slices else None)
        positions = [i for i, token in enumerate(self.tokens or ()) if token[0] == NUM]
        _set(self, "_number_at", tuple(zip(positions, self.slices, strict=False)))

    def numbers(self, line: str) -> list[Decimal] | None:
        """Return the line's numbers, or ``None`` when one is zero (the grammar must read it)."""
        take = self._take
        if take is None:
            return []
        found = take(line)
        values = list(map(Decimal, found)) if len(self.slices) > 1 else [Decimal(found)]
        return values if all(values) else None

    def read_signals(self, line: str, line_no: int) -> list[Signal] | None:
        """Return the signals of a plain signal line (see :attr:`plain_signals`), or ``None``
        when one of its numbers is zero (the grammar must read it)."""
        found = self._take(line)  # type: ignore[misc]
        values = list(map(Decimal, found)) if len(self.slices) > 1 else [Decimal(found)]
        return _signals(self.signals, line, line_no, values) if all(values) else None  # type: ignore[arg-type]

    def reading(self, line: str, line_no: int, values: list[Decimal]) -> LineReading:
        """Return what the grammar would read from ``line``, whose numbers are ``values``."""
        signals = None
        if self.signals is not None:
            signals = _signals(self.signals, line, line_no, values)
        targets = None
        if self.targets is not None:
            targets = _pick(self.targets, values)
        bias_text = strip_lead(line) if self.kind is LineKind.BIAS else None
        return LineReading(
            self.kind, self.symbol, signals, self.category, self.notes, bias_text, targets,
            self.problem,
        )

    def tokens_of(self, line: str, values: list[Decimal]) -> list[Token]:
        """Return the tokens of a bias line of this shape whose numbers are ``values``."""
        tokens = list(self.tokens)  # type: ignore[arg-type]
        for index, (position, where) in enumerate(self._number_at):
            tokens[position] = (NUM, line[where], values[index], None)
        return tokens


def _signals(
    plans: tuple[_SignalPlan, ...], line: str, line_no: int, values: list[Decimal]
) -> list[Signal]:
    """Return the signals ``plans`` make of a line whose numbers are ``values``."""
    signals = []
    for category, aggressiveness, comparison, where, targets in plans:
        if where.__class__ is int:
            trigger: Decimal | tuple[Decimal, Decimal] = values[where]  # type: ignore[index]
        else:
            first, second = values[where[0]], values[where[1]]  # type: ignore[index]
            trigger = (first, second) if first <= second else (second, first)
        signals.append(new_signal(
            category, aggressiveness, comparison, trigger,
            values[targets] if targets.__class__ is slice else [values[i] for i in targets],  # type: ignore[union-attr]
            line, line_no,
        ))
    return signals


def _pick(where: slice | tuple[int, ...], values: list[Decimal]) -> list[Decimal]:
    if isinstance(where, slice):
        return values[where]
    return [values[i] for i in where]


PLANS: Final[dict[Category | None, dict[bytes, LinePlan]]] = {
    category: {} for category in (None, *Category)
}
"""Inherited category → shape → plan."""


def forget() -> None:
    """Forget every plan (after the vocabulary changed, its readings may be stale)."""
    for table in PLANS.values():
        table.clear()


# --- learning a plan ------------------------------------------------------------------------


class _Slot(Decimal):
    """A number standing in for the ``index``-th number of the line while a plan is made."""

    __slots__ = ("index",)
    index: int


_PLANNED_KINDS: Final = frozenset({LineKind.SIGNAL, LineKind.TICKER, LineKind.TARGETS,
                                   LineKind.NOISE})


def learn(
    shape: bytes,
    line: str,
    tokens: list[Token],
    line_no: int,
    inherited: Category | None,
    reading: LineReading,
) -> LinePlan | None:
    """Remember the plan of ``line`` under ``shape`` when one is sound; return it."""
    bias = reading.kind is LineKind.BIAS
    if not bias and (reading.kind not in _PLANNED_KINDS or reading.bias_text is not None):
        return None
    if _LETTER_DIGIT.search(line) is not None:
        return None
    numbers = [t for t in tokens if t[0] == NUM]
    for _kind, text, key, _role in numbers:
        if key is None or "," in text or len(text.split(".", 1)[0]) > _MAX_WHOLE_DIGITS:
            return None
    if reading.kind is not LineKind.SIGNAL and any(
        t[0] == WORD and t[3] is not None and t[3][0] is Role.HEADER  # type: ignore[index]
        for t in tokens
    ):
        return None
    spans = number_spans(line)
    if [line[start:end] for start, end in spans] != [t[1] for t in numbers]:
        return None
    slotted = list(tokens)
    index = 0
    for position, token in enumerate(tokens):
        if token[0] == NUM:
            slot = _Slot(token[2])  # type: ignore[arg-type]
            slot.index = index
            slotted[position] = (NUM, token[1], slot, None)
            index += 1
    plan = _make_plan(
        read_line(line, slotted, line_no, inherited), tuple(slice(s, e) for s, e in spans),
        tuple(tokens) if bias else None, bias_code(tokens) if bias else None,
    )
    if plan is None:
        return None
    values = plan.numbers(line)
    if (
        values is None
        or not _same(plan.reading(line, line_no, values), reading)
        or (bias and (plan.tokens_of(line, values) != tokens or bias_code(tokens) != plan.bias_code))
    ):
        log.debug("no plan for line %d: the filled-in plan differs from the grammar", line_no)
        return None
    table = PLANS[inherited]
    if len(table) >= LIMIT:
        table.clear()
    table[shape] = plan
    return plan


def _index(value: object) -> int:
    if not isinstance(value, _Slot):
        raise _NotPlannable
    return value.index


class _NotPlannable(Exception):
    """A reading holds a value that is not one of the line's numbers."""


def _indexes(values: list[Decimal]) -> slice | tuple[int, ...]:
    found = tuple(_index(v) for v in values)
    if found and found == tuple(range(found[0], found[0] + len(found))):
        return slice(found[0], found[0] + len(found))
    return found


def _make_plan(
    slotted: LineReading,
    slices: tuple[slice, ...],
    tokens: tuple[Token, ...] | None,
    code: str | None,
) -> LinePlan | None:
    try:
        signals = None
        if slotted.signals is not None:
            signals = tuple(
                _SignalPlan(
                    s.category,
                    s.aggressiveness,
                    s.comparison,
                    tuple(sorted(_index(end) for end in s.trigger))  # type: ignore[arg-type]
                    if isinstance(s.trigger, tuple)
                    else _index(s.trigger),
                    _indexes(s.targets),
                )
                for s in slotted.signals
            )
        targets = _indexes(slotted.targets) if slotted.targets is not None else None
    except _NotPlannable:
        return None
    return LinePlan(
        slotted.kind, slices, slotted.symbol, slotted.category, slotted.notes, slotted.problem,
        signals, targets, tokens, code,
    )


def _same(planned: LineReading, read: LineReading) -> bool:
    """Return whether two readings agree in everything, prices to the digit."""
    def signal_key(s: Signal) -> tuple[object, ...]:
        trigger = s.trigger
        return (
            s.category, s.aggressiveness, s.comparison,
            tuple(map(str, trigger)) if isinstance(trigger, tuple) else str(trigger),
            tuple(map(str, s.targets)), s.line, s.line_no,
        )

    return (
        planned.kind is read.kind
        and planned.symbol == read.symbol
        and planned.category is read.category
        and planned.notes == read.notes
        and planned.bias_text == read.bias_text
        and planned.problem == read.problem
        and (planned.targets is None) == (read.targets is None)
        and list(map(str, planned.targets or ())) == list(map(str, read.targets or ()))
        and (planned.signals is None) == (read.signals is None)
        and list(map(signal_key, planned.signals or ())) == list(map(signal_key, read.signals or ()))
    )
