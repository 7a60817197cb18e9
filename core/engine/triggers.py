"""Trigger rules: decide when a watched A+ level fires, from completed bars.

Pure and synchronous: a :class:`TriggerBook` holds the live signals of the day indexed by
symbol, and :meth:`TriggerBook.on_bar` evaluates only the signals of the bar's symbol, as a
handful of float comparisons. Nothing here reads the clock; every time comes from the bar
(or trade) that caused it.

Rules (all distances are ``max(abs, pct % of the level)``, rounded to the cent; see
:class:`TriggerRules` for the defaults):

* **breakout** -- a completed bar closes at or above ``trigger + breakout buffer`` (the top of
  the range when the level is a range). A gap open above fires on the first completed bar.
* **breakdown** -- a completed bar closes at or below ``trigger - breakout buffer`` (the bottom
  of a range). A gap open below fires on the first completed bar.
* **rejection** (bearish) -- two phases. *Touch*: price trades at or above
  ``level - rejection tolerance`` (bar high, or a trade from :meth:`TriggerBook.on_trade`); a
  gap open above the level is a touch. *Fire*: a completed bar, the touching bar itself or a
  later one, closes at least ``rejection confirm`` below the level (the confirm distance is
  validated to be at least the tolerance, so the close is back out of the near band). A close
  away from the level without any touch never fires. For a range the level is its bottom.
* **bounce** (bullish) -- two phases. *Touch*: price trades at or below the top of the zone
  (a single level counts as a zone ``level +/- bounce tolerance``); a gap open inside or below
  the zone is a touch. *Fire*: a completed bar, the touching bar itself or a later one, closes
  at least ``bounce confirm`` above the top of the zone.

Each signal fires at most once and then leaves the book. Aggressive and conservative variants
of the same symbol and category are one trade: once one has triggered, the other is reported
``suppressed`` when its own rule is met (once) and leaves the book, unless
``allow_both_aggressiveness`` is on. If both meet their rule on the same bar, the aggressive
one triggers.

Bars are 1-minute bars; their start is read from ``start`` or, for the market-data module's
bars, ``timestamp``. With ``bar_minutes > 1`` touches
are still tracked on every 1-minute bar, but closes are judged only at the end of each
``bar_minutes`` bucket (aligned to midnight UTC, so 5-minute bars start at 09:30 New York); a
bucket whose last minute never arrives is judged, at its nominal end, when the next bucket's
first bar arrives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.clock import NEW_YORK, utc
from core.parsing.models import Aggressiveness, Category, Comparison, Direction

__all__ = [
    "Aggressiveness",
    "Bar",
    "BarLike",
    "Category",
    "Comparison",
    "DecisionKind",
    "Direction",
    "StartBar",
    "TimestampBar",
    "Touch",
    "TriggerBook",
    "TriggerDecision",
    "TriggerRules",
    "WatchedSignal",
    "bar_start",
]

_ONE_MINUTE = timedelta(minutes=1)
_EPS = 1e-9  # float slack so that "at least 0.05 away" holds for a close exactly 0.05 away
_BAR_MINUTES = (1, 2, 3, 5, 10, 15, 30)


class DecisionKind(StrEnum):
    """What the book decided about a signal whose rule was met."""

    TRIGGERED = "triggered"
    SUPPRESSED = "suppressed"


_DIRECTION = {
    Category.BREAKOUT: Direction.BULLISH,
    Category.BOUNCE: Direction.BULLISH,
    Category.BREAKDOWN: Direction.BEARISH,
    Category.REJECTION: Direction.BEARISH,
}
_AGGRESSIVENESS_ORDER = {
    Aggressiveness.AGGRESSIVE: 0,
    Aggressiveness.CONSERVATIVE: 1,
    Aggressiveness.NONE: 2,
}


def _distance(level: float, pct: float, abs_: float) -> float:
    return round(max(abs_, level * pct / 100.0), 2)


class TriggerRules(BaseModel):
    """How each category of level fires; percentages are percent of the level (0.1 = 0.1 %).

    Every distance is ``max(<name>_abs, <name>_pct % of the level)`` rounded to the cent, so
    with the defaults a SPY breakout at 591.82 needs a close at or above 591.88 (buffer 0.06)
    and a TSLA one at 336.60 needs 336.64 (buffer 0.04).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bar_minutes: int = Field(
        1, description="Length of the bar whose close decides: 1, 2, 3, 5, 10, 15 or 30 minutes."
    )
    breakout_buffer_pct: float = Field(
        0.01, ge=0, le=5, description="Breakout/breakdown close must clear the level by this %."
    )
    breakout_buffer_abs: float = Field(
        0.02, ge=0, le=100, description="... or by at least this many dollars."
    )
    rejection_tolerance_pct: float = Field(
        0.05, ge=0, le=5, description="Price within this % below a rejection level touches it."
    )
    rejection_tolerance_abs: float = Field(0.05, ge=0, le=100, description="... or this many $.")
    rejection_confirm_pct: float = Field(
        0.1,
        ge=0,
        le=5,
        description="After a touch, a close this % below the level fires (>= the tolerance).",
    )
    rejection_confirm_abs: float = Field(0.10, ge=0, le=100, description="... or this many $.")
    bounce_tolerance_pct: float = Field(
        0.05, ge=0, le=5, description="A single bounce level is the zone level +/- this %."
    )
    bounce_tolerance_abs: float = Field(0.05, ge=0, le=100, description="... or this many $.")
    bounce_confirm_pct: float = Field(
        0.0, ge=0, le=5, description="After a touch, a close this % above the zone top fires."
    )
    bounce_confirm_abs: float = Field(0.01, ge=0, le=100, description="... or this many $.")
    allow_both_aggressiveness: bool = Field(
        False,
        description="Let the aggressive and the conservative variant both trigger (two positions).",
    )

    @field_validator("bar_minutes")
    @classmethod
    def _bar_minutes_divides_the_half_hour(cls, value: int) -> int:
        if value not in _BAR_MINUTES:
            raise ValueError(f"bar_minutes must be one of {_BAR_MINUTES}, not {value}")
        return value

    @model_validator(mode="after")
    def _rejection_closes_out_of_the_near_band(self) -> TriggerRules:
        # A confirm distance inside the touch band would fire on a bar that merely reached
        # the band and closed where it was: that is price approaching, not a rejection.
        if (
            self.rejection_confirm_pct < self.rejection_tolerance_pct
            or self.rejection_confirm_abs < self.rejection_tolerance_abs
        ):
            raise ValueError(
                "rejection_confirm_pct/_abs must be at least rejection_tolerance_pct/_abs, "
                "so that a rejection close is back out of the near band"
            )
        return self

    def breakout_buffer(self, level: float) -> float:
        """Return how far past ``level`` a breakout or breakdown close must be."""
        return _distance(level, self.breakout_buffer_pct, self.breakout_buffer_abs)

    def rejection_tolerance(self, level: float) -> float:
        """Return how far below ``level`` price may trade and still touch it."""
        return _distance(level, self.rejection_tolerance_pct, self.rejection_tolerance_abs)

    def rejection_confirm(self, level: float) -> float:
        """Return how far below ``level`` a close must be to confirm a rejection."""
        return _distance(level, self.rejection_confirm_pct, self.rejection_confirm_abs)

    def bounce_tolerance(self, level: float) -> float:
        """Return the half-width of the zone around a single bounce level."""
        return _distance(level, self.bounce_tolerance_pct, self.bounce_tolerance_abs)

    def bounce_confirm(self, level: float) -> float:
        """Return how far above the zone top a close must be to confirm a bounce."""
        return _distance(level, self.bounce_confirm_pct, self.bounce_confirm_abs)


class _OHLC(Protocol):
    @property
    def symbol(self) -> str: ...
    @property
    def open(self) -> Any: ...
    @property
    def high(self) -> Any: ...
    @property
    def low(self) -> Any: ...
    @property
    def close(self) -> Any: ...
    @property
    def volume(self) -> Any: ...


class StartBar(_OHLC, Protocol):
    """A bar whose start is ``start`` (this module's :class:`Bar`)."""

    @property
    def start(self) -> datetime: ...


class TimestampBar(_OHLC, Protocol):
    """A bar whose start is ``timestamp`` (``core.marketdata.models.Bar``)."""

    @property
    def timestamp(self) -> datetime: ...


BarLike = StartBar | TimestampBar
"""Anything with a symbol, OHLCV prices (float or Decimal) and a start time."""


def bar_start(bar: BarLike) -> datetime:
    """Return the start of ``bar`` as an aware UTC datetime (``start`` or ``timestamp``)."""
    start = getattr(bar, "start", None)
    if start is None:
        start = bar.timestamp  # type: ignore[union-attr]
    # Already UTC (the usual case): utc() would return this very object, so skip the call.
    return start if start.tzinfo is UTC else utc(start)


@dataclass(frozen=True, slots=True)
class Bar:
    """A 1-minute OHLCV bar starting at ``start``."""

    symbol: str
    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive price, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class WatchedSignal:
    """One level to watch for its trading date.

    ``category``, ``aggressiveness`` and ``comparison`` accept the parser's enums or plain
    strings with the same values; they are stored as this module's enums. A range
    (``trigger_high`` set) is a zone: bounce zones mostly, sometimes a rejection zone.
    ``trading_date`` (New York date) is optional; :meth:`TriggerBook.expire_all` keeps signals
    dated after the day it closes.
    """

    signal_id: int
    symbol: str
    category: Category
    aggressiveness: Aggressiveness
    comparison: Comparison
    trigger_low: float
    trigger_high: float | None = None
    targets: tuple[float, ...] = ()
    trading_date: date | None = None

    def __post_init__(self) -> None:
        symbol = str(self.symbol).strip().upper()
        if not symbol:
            raise ValueError("a watched signal needs a symbol")
        low = _positive("trigger_low", self.trigger_low)
        high = None if self.trigger_high is None else _positive("trigger_high", self.trigger_high)
        if high is not None and high < low:
            raise ValueError(f"trigger_high {high} is below trigger_low {low}")
        comparison = Comparison(str(self.comparison))
        if comparison is Comparison.RANGE and high is None:
            raise ValueError("a range signal needs trigger_high")
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "category", Category(str(self.category)))
        object.__setattr__(self, "aggressiveness", Aggressiveness(str(self.aggressiveness)))
        object.__setattr__(self, "comparison", comparison)
        object.__setattr__(self, "trigger_low", low)
        object.__setattr__(self, "trigger_high", high)
        object.__setattr__(
            self, "targets", tuple(_positive("target", t) for t in self.targets)
        )

    @property
    def direction(self) -> Direction:
        """Return bullish for breakouts and bounces, bearish for breakdowns and rejections."""
        return _DIRECTION[self.category]

    @property
    def top(self) -> float:
        """Return the top of the level (``trigger_high`` for a range)."""
        return self.trigger_low if self.trigger_high is None else self.trigger_high

    @property
    def label(self) -> str:
        """Return a short description, e.g. ``SPY aggressive breakout 592.10``."""
        level = (
            f"{self.trigger_low:.2f}"
            if self.trigger_high is None
            else f"{self.trigger_low:.2f}–{self.trigger_high:.2f}"
        )
        variant = "" if self.aggressiveness is Aggressiveness.NONE else f"{self.aggressiveness} "
        return f"{self.symbol} {variant}{self.category} {level}"


@dataclass(frozen=True, slots=True)
class Touch:
    """The first time price reached a rejection or bounce level (phase one of two)."""

    signal_id: int
    symbol: str
    at: datetime  # end of the bar, or the time of the trade, that touched
    price: float  # bar high (rejection) or low (bounce), or the trade price


@dataclass(frozen=True, slots=True)
class TriggerDecision:
    """A signal whose rule was met on a completed bar: triggered, or suppressed."""

    signal_id: int
    symbol: str
    at: datetime  # end of the completed bar
    price: float  # close of that bar
    kind: DecisionKind
    reason: str
    signal: WatchedSignal
    touch: Touch | None = None


def _hhmm(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%H:%M")


class _Entry:
    """A live signal with its thresholds precomputed from the rules."""

    __slots__ = (
        "close_ge",
        "close_le",
        "distance",
        "signal",
        "touch",
        "touch_ge",
        "touch_le",
        "zone_top",
    )

    def __init__(self, signal: WatchedSignal, rules: TriggerRules) -> None:
        self.signal = signal
        self.touch: Touch | None = None
        self.touch_ge = math.inf  # touched when bar high >= this (rejection)
        self.touch_le = -math.inf  # touched when bar low <= this (bounce)
        self.close_ge = math.inf  # fires when close >= this
        self.close_le = -math.inf  # fires when close <= this
        self.zone_top = signal.top  # bounce: top of the zone (a single level plus tolerance)
        cat = signal.category
        if cat is Category.BREAKOUT:
            self.distance = rules.breakout_buffer(signal.top)
            self.close_ge = signal.top + self.distance - _EPS
        elif cat is Category.BREAKDOWN:
            self.distance = rules.breakout_buffer(signal.trigger_low)
            self.close_le = signal.trigger_low - self.distance + _EPS
        elif cat is Category.REJECTION:
            level = signal.trigger_low
            self.distance = rules.rejection_confirm(level)
            self.touch_ge = level - rules.rejection_tolerance(level) - _EPS
            self.close_le = level - self.distance + _EPS
        else:
            if signal.trigger_high is None:
                self.zone_top = signal.trigger_low + rules.bounce_tolerance(signal.trigger_low)
            self.distance = rules.bounce_confirm(signal.top)
            self.touch_le = self.zone_top + _EPS
            self.close_ge = self.zone_top + self.distance - _EPS

    @property
    def needs_touch(self) -> bool:
        return self.signal.category in (Category.REJECTION, Category.BOUNCE)


class _SymbolBook:
    """The live signals of one symbol, as lists rebuilt lazily after changes.

    A symbol has a handful of signals, so the per-bar checks are plain float comparisons in
    a loop (faster than numpy on so few elements): ``waiting`` holds the two-phase signals
    not yet touched, ``armed`` the signals whose close rule is live, both in the order the
    signals were added.
    """

    __slots__ = ("armed", "bucket", "entries", "last_close", "order", "stale", "waiting")

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}
        self.order: list[_Entry] = []
        self.stale = True
        self.bucket: datetime | None = None
        self.last_close = 0.0
        # (touch_ge, touch_le, entry) of the untouched rejections and bounces.
        self.waiting: list[tuple[float, float, _Entry]] = []
        # (close_ge, close_le, entry) of the signals that fire on a close.
        self.armed: list[tuple[float, float, _Entry]] = []

    def _rebuild(self) -> None:
        self.order = list(self.entries.values())
        self._split()
        self.stale = False

    def _split(self) -> None:
        """Sort the signals into ``waiting`` and ``armed`` by whether they await a touch."""
        waiting: list[tuple[float, float, _Entry]] = []
        armed: list[tuple[float, float, _Entry]] = []
        for e in self.order:
            if e.touch is None and e.needs_touch:
                waiting.append((e.touch_ge, e.touch_le, e))
            else:
                armed.append((e.close_ge, e.close_le, e))
        self.waiting, self.armed = waiting, armed

    def apply_touch(self, high: float, low: float, at: datetime, symbol: str) -> list[Touch]:
        if self.stale:
            self._rebuild()
        touches: list[Touch] = []
        for touch_ge, touch_le, entry in self.waiting:
            if touch_ge <= high or touch_le >= low:
                price = high if entry.signal.category is Category.REJECTION else low
                entry.touch = Touch(entry.signal.signal_id, symbol, at, price)
                touches.append(entry.touch)
        if touches:
            self._split()
        return touches

    def fired(self, close: float) -> list[_Entry]:
        if self.stale:
            self._rebuild()
        return [e for close_ge, close_le, e in self.armed if close_ge <= close or close_le >= close]


@dataclass(frozen=True, slots=True)
class _Fired:
    aggressiveness: Aggressiveness
    at: datetime
    signal_id: int


class TriggerBook:
    """The live signals of the day, indexed by symbol, and the rules that fire them."""

    def __init__(self, rules: TriggerRules | None = None) -> None:
        self._rules = rules or TriggerRules()
        self._bar = timedelta(minutes=self._rules.bar_minutes)
        self._books: dict[str, _SymbolBook] = {}
        self._where: dict[int, str] = {}
        self._fired: dict[tuple[str, Category], _Fired] = {}
        self._symbols: frozenset[str] | None = frozenset()

    @property
    def rules(self) -> TriggerRules:
        """Return the rules in force."""
        return self._rules

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, signal_id: object) -> bool:
        return signal_id in self._where

    def add(self, signal: WatchedSignal) -> None:
        """Start watching ``signal``; raise ``ValueError`` if its id is already watched."""
        if signal.signal_id in self._where:
            raise ValueError(f"signal {signal.signal_id} is already watched")
        book = self._books.get(signal.symbol)
        if book is None:
            book = self._books[signal.symbol] = _SymbolBook()
            self._symbols = None
        book.entries[signal.signal_id] = _Entry(signal, self._rules)
        book.stale = True
        self._where[signal.signal_id] = signal.symbol

    def remove(self, signal_id: int) -> bool:
        """Stop watching a signal; return False if it was not watched."""
        symbol = self._where.pop(signal_id, None)
        if symbol is None:
            return False
        book = self._books[symbol]
        del book.entries[signal_id]
        book.stale = True
        if not book.entries:
            del self._books[symbol]
            self._symbols = None
        return True

    def get(self, signal_id: int) -> WatchedSignal | None:
        """Return a watched signal by id, or None."""
        symbol = self._where.get(signal_id)
        return None if symbol is None else self._books[symbol].entries[signal_id].signal

    def signals(self, symbol: str | None = None) -> tuple[WatchedSignal, ...]:
        """Return the watched signals (of one symbol, or all), in the order they were added."""
        books = [self._books.get(symbol.upper())] if symbol else list(self._books.values())
        return tuple(e.signal for b in books if b is not None for e in b.entries.values())

    def symbols(self) -> frozenset[str]:
        """Return the symbols with at least one live signal: exactly what to subscribe to."""
        if self._symbols is None:
            self._symbols = frozenset(self._books)
        return self._symbols

    def touch_of(self, signal_id: int) -> Touch | None:
        """Return the touch recorded for a live rejection or bounce signal, if any."""
        symbol = self._where.get(signal_id)
        return None if symbol is None else self._books[symbol].entries[signal_id].touch

    def on_trade(self, symbol: str, price: float, at: datetime) -> list[Touch]:
        """Record touches from one trade (no signal fires before a bar completes)."""
        book = self._books.get(symbol)
        if book is None:
            return []
        price = float(price)
        return book.apply_touch(price, price, utc(at), symbol)

    def on_bar(self, bar: BarLike) -> list[TriggerDecision]:
        """Evaluate a 1-minute bar against the signals of its symbol.

        Return one decision per signal whose rule was met (triggered or suppressed); those
        signals leave the book. Bars of symbols with no live signal cost one dict lookup.
        """
        symbol = bar.symbol
        book = self._books.get(symbol)
        if book is None:
            return []
        start = bar_start(bar)
        end = start + _ONE_MINUTE
        high, low, close = float(bar.high), float(bar.low), float(bar.close)
        if self._rules.bar_minutes == 1:
            book.apply_touch(high, low, end, symbol)
            return self._decide(book, close, end)

        decisions: list[TriggerDecision] = []
        bucket = self._bucket(start)
        if book.bucket is not None and book.bucket != bucket:
            # The last minute of the previous bucket never came: judge it at its nominal end.
            decisions = self._decide(book, book.last_close, book.bucket + self._bar)
            book.bucket = None
            if symbol not in self._books:
                return decisions
        book.apply_touch(high, low, end, symbol)
        book.bucket, book.last_close = bucket, close
        if end >= bucket + self._bar:
            book.bucket = None
            decisions += self._decide(book, close, end)
        return decisions

    def expire_all(self, at: datetime) -> list[int]:
        """End the trading day at ``at``: drop every signal dated that day or earlier (or
        undated) and forget which variants fired; return the expired ids in order."""
        today = utc(at).astimezone(NEW_YORK).date()
        expired = sorted(
            sid
            for sid, symbol in self._where.items()
            if (d := self._books[symbol].entries[sid].signal.trading_date) is None or d <= today
        )
        for sid in expired:
            self.remove(sid)
        self._fired.clear()
        for book in self._books.values():
            book.bucket = None
        return expired

    def _bucket(self, start: datetime) -> datetime:
        minutes = self._rules.bar_minutes
        floored = start.replace(second=0, microsecond=0)
        return floored - timedelta(minutes=floored.minute % minutes)

    def _decide(self, book: _SymbolBook, close: float, at: datetime) -> list[TriggerDecision]:
        fired = book.fired(close)
        if not fired:
            return []
        if len(fired) > 1:
            fired.sort(
                key=lambda e: (_AGGRESSIVENESS_ORDER[e.signal.aggressiveness], e.signal.signal_id)
            )
        decisions: list[TriggerDecision] = []
        for entry in fired:
            signal = entry.signal
            kind, reason = self._judge(entry, close, at)
            decisions.append(
                TriggerDecision(
                    signal_id=signal.signal_id,
                    symbol=signal.symbol,
                    at=at,
                    price=close,
                    kind=kind,
                    reason=reason,
                    signal=signal,
                    touch=entry.touch,
                )
            )
            self.remove(signal.signal_id)
        return decisions

    def _judge(self, entry: _Entry, close: float, at: datetime) -> tuple[DecisionKind, str]:
        signal = entry.signal
        if signal.aggressiveness is Aggressiveness.NONE:
            return DecisionKind.TRIGGERED, self._explain(entry, close)
        key = (signal.symbol, signal.category)
        prior = self._fired.get(key)
        if (
            prior is not None
            and prior.aggressiveness is not signal.aggressiveness
            and not self._rules.allow_both_aggressiveness
        ):
            reason = (
                f"suppressed: {signal.symbol} {prior.aggressiveness} {signal.category} already "
                f"triggered at {_hhmm(prior.at)} (allow_both_aggressiveness is off)"
            )
            return DecisionKind.SUPPRESSED, reason
        if prior is None:
            self._fired[key] = _Fired(signal.aggressiveness, at, signal.signal_id)
        return DecisionKind.TRIGGERED, self._explain(entry, close)

    def _explain(self, entry: _Entry, close: float) -> str:
        signal, dist, rules = entry.signal, entry.distance, self._rules
        bar = f"{rules.bar_minutes}-min bar"
        if signal.category is Category.BREAKOUT:
            return f"{bar} closed {close:.2f} above {signal.top:.2f} + {dist:.2f} buffer"
        if signal.category is Category.BREAKDOWN:
            return f"{bar} closed {close:.2f} below {signal.trigger_low:.2f} − {dist:.2f} buffer"
        touch = entry.touch
        assert touch is not None  # two-phase rules fire only once touched
        if signal.category is Category.REJECTION:
            level = signal.trigger_low
            tol = rules.rejection_tolerance(level)
            return (
                f"rejected at {level:.2f}: price reached {touch.price:.2f} by {_hhmm(touch.at)} "
                f"(a touch counts from {level - tol:.2f}), then the {bar} closed "
                f"{close:.2f}, {level - close:.2f} below the level (at least {dist:.2f} needed)"
            )
        top = entry.zone_top
        zone = (
            f"zone {signal.trigger_low:.2f}–{signal.top:.2f}"
            if signal.trigger_high is not None
            else f"{signal.trigger_low:.2f} (± {top - signal.trigger_low:.2f})"
        )
        return (
            f"bounced from {zone}: price dipped to {touch.price:.2f} by {_hhmm(touch.at)}, then "
            f"the {bar} closed {close:.2f}, back above {top:.2f}"
        )
