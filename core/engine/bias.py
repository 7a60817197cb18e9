"""The stated bias of each symbol: whether it is in force, when it flips, what it filters.

A post's bias line ("Bullish bias above 323.47", "bias flips bearish only if 579.60 breaks")
becomes a :class:`BiasSpec`. :class:`BiasTracker` keeps one per symbol and follows 1-minute
bar closes:

* **In force.** The stated direction applies while its condition holds on the last close
  (``above`` = close at or above the price, ``below`` = at or below); before the first close of
  the day it applies as stated. A spec with no direction (narrative only) filters nothing.
* **Flip.** A flip level is crossed when a bar *closes* through it in the stated direction:
  ``flip_direction=bearish`` means a close strictly below ``flip_price``, ``bullish`` strictly
  above. A gap through the level flips on the first bar. The flip happens once per day and is
  final: the bias is then ``flip_direction``, unconditionally, and :meth:`BiasTracker.on_bar`
  returns a :class:`BiasFlip` event. :meth:`BiasFlip.exit_reason` says whether it is a reason to
  exit an open position.
* **Filter.** :meth:`BiasTracker.check` compares a signal's direction with the bias in force:
  ``block`` refuses signals against it, ``warn`` lets them through with a warning, ``allow`` lets
  them through and only says so in the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.clock import NEW_YORK
from core.engine.triggers import BarLike, Direction, bar_start

__all__ = ["BiasFlip", "BiasMode", "BiasSpec", "BiasTracker", "BiasVerdict", "Condition"]

_ONE_MINUTE = timedelta(minutes=1)


class BiasMode(StrEnum):
    """What to do with a signal against the bias in force."""

    BLOCK = "block"
    WARN = "warn"
    ALLOW = "allow"


class Condition(StrEnum):
    """Where price must be for the stated bias to apply."""

    ABOVE = "above"
    BELOW = "below"


class BiasSpec(BaseModel):
    """A bias as stated in a post; only ``direction`` must be given (it may be None).

    ``direction=None`` is a narrative-only bias ("watching for weakness ..."): it filters
    nothing, but a flip level, if stated, still sets a direction when crossed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: Direction | None
    condition: Condition | None = None
    price: float | None = Field(None, gt=0, allow_inf_nan=False)
    flip_direction: Direction | None = None
    flip_price: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _pairs_are_complete(self) -> BiasSpec:
        if (self.condition is None) != (self.price is None):
            raise ValueError("condition and price go together (e.g. above 580.89)")
        if (self.flip_direction is None) != (self.flip_price is None):
            raise ValueError("flip_direction and flip_price go together (e.g. bearish 579.60)")
        if self.flip_direction is not None and self.flip_direction == self.direction:
            raise ValueError(f"a {self.direction} bias cannot flip {self.flip_direction}")
        return self

    def describe(self) -> str:
        """Return the spec in a trader's words, e.g. ``bullish above 583.75, flips bearish
        below 579.60``."""
        parts = [str(self.direction) if self.direction else "narrative only"]
        if self.condition is not None:
            parts[0] += f" {self.condition} {self.price:.2f}"
        if self.flip_direction is not None:
            side = "below" if self.flip_direction is Direction.BEARISH else "above"
            parts.append(f"flips {self.flip_direction} {side} {self.flip_price:.2f}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class BiasFlip:
    """A flip level was crossed by a bar close: the bias of ``symbol`` is now ``to_direction``."""

    symbol: str
    from_direction: Direction | None
    to_direction: Direction
    price: float  # the close that crossed
    at: datetime  # end of that bar
    reason: str

    def is_against(self, position_direction: Direction | str) -> bool:
        """Return True when the new bias opposes a position of ``position_direction``."""
        return Direction(str(position_direction)) is not self.to_direction

    def exit_reason(self, position_direction: Direction | str) -> str | None:
        """Return why a position of ``position_direction`` should exit, or None if it agrees."""
        if not self.is_against(position_direction):
            return None
        return f"{self.reason}; against this {Direction(str(position_direction))} position"


@dataclass(frozen=True, slots=True)
class BiasVerdict:
    """Whether a signal may go ahead given the bias, with a sentence saying why."""

    allowed: bool
    warning: str | None
    reason: str


@dataclass(slots=True)
class _State:
    spec: BiasSpec
    last_close: float | None = None
    flip: BiasFlip | None = None


def _hhmm(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%H:%M")


class BiasTracker:
    """The bias in force per symbol, following 1-minute bar closes."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}

    def set(self, symbol: str, spec: BiasSpec | None) -> None:
        """Set (or, with None, clear) the stated bias of ``symbol``; a new spec resets flips."""
        symbol = symbol.upper()
        if spec is None:
            self._states.pop(symbol, None)
        else:
            self._states[symbol] = _State(spec)

    def clear(self) -> None:
        """Forget every bias (end of the trading day)."""
        self._states.clear()

    def symbols(self) -> frozenset[str]:
        """Return the symbols with a stated bias."""
        return frozenset(self._states)

    def spec(self, symbol: str) -> BiasSpec | None:
        """Return the stated bias of ``symbol``, or None."""
        state = self._states.get(symbol.upper())
        return None if state is None else state.spec

    def flip(self, symbol: str) -> BiasFlip | None:
        """Return the flip of ``symbol`` today, if its flip level was crossed."""
        state = self._states.get(symbol.upper())
        return None if state is None else state.flip

    def current(self, symbol: str) -> Direction | None:
        """Return the bias in force for ``symbol`` now, or None if none applies."""
        state = self._states.get(symbol.upper())
        if state is None:
            return None
        return self._in_force(state)

    def on_bar(self, bar: BarLike) -> list[BiasFlip]:
        """Follow a bar close; return the flip it caused, if any (at most one per day)."""
        state = self._states.get(bar.symbol)
        if state is None:
            return []
        close = float(bar.close)
        state.last_close = close
        spec = state.spec
        if state.flip is not None or spec.flip_direction is None or spec.flip_price is None:
            return []
        bearish = spec.flip_direction is Direction.BEARISH
        if not (close < spec.flip_price if bearish else close > spec.flip_price):
            return []
        at = bar_start(bar) + _ONE_MINUTE
        side = "below" if bearish else "above"
        before = spec.direction or "no direction"
        state.flip = BiasFlip(
            symbol=bar.symbol,
            from_direction=spec.direction,
            to_direction=spec.flip_direction,
            price=close,
            at=at,
            reason=(
                f"{bar.symbol} 1-min bar closed {close:.2f} {side} the {spec.flip_price:.2f} flip "
                f"level at {_hhmm(at)}: bias {before} → {spec.flip_direction}"
            ),
        )
        return [state.flip]

    def check(
        self, symbol: str, direction: Direction | str, mode: BiasMode | str = BiasMode.BLOCK
    ) -> BiasVerdict:
        """Say whether a signal of ``direction`` on ``symbol`` may go ahead under ``mode``."""
        symbol = symbol.upper()
        direction = Direction(str(direction))
        mode = BiasMode(str(mode))
        state = self._states.get(symbol)
        if state is None:
            return BiasVerdict(True, None, f"no bias stated for {symbol}")
        bias = self._in_force(state)
        if bias is None:
            return BiasVerdict(True, None, self._why_not_in_force(symbol, state))
        described = self._describe(symbol, state, bias)
        if bias is direction:
            return BiasVerdict(True, None, f"{direction} signal agrees with the {described}")
        against = f"{direction} signal against the {described}"
        if mode is BiasMode.BLOCK:
            return BiasVerdict(False, None, f"blocked: {against} (bias mode block)")
        if mode is BiasMode.WARN:
            return BiasVerdict(True, against, f"allowed with a warning: {against}")
        return BiasVerdict(True, None, f"allowed: {against} (bias mode allow)")

    @staticmethod
    def _in_force(state: _State) -> Direction | None:
        if state.flip is not None:
            return state.flip.to_direction
        spec = state.spec
        if spec.direction is None or spec.condition is None or state.last_close is None:
            return spec.direction
        assert spec.price is not None  # the validator pairs condition with price
        if spec.condition is Condition.ABOVE:
            holds = state.last_close >= spec.price
        else:
            holds = state.last_close <= spec.price
        return spec.direction if holds else None

    @staticmethod
    def _why_not_in_force(symbol: str, state: _State) -> str:
        spec = state.spec
        if spec.direction is None:
            return f"{symbol} bias is narrative only (no direction); nothing is filtered"
        return (
            f"{symbol} {spec.direction} bias applies only {spec.condition} {spec.price:.2f}; "
            f"last close {state.last_close:.2f} is not"
        )

    @staticmethod
    def _describe(symbol: str, state: _State, bias: Direction) -> str:
        spec = state.spec
        if state.flip is not None:
            flip = state.flip
            side = "below" if flip.to_direction is Direction.BEARISH else "above"
            return (
                f"{symbol} {bias} bias (flipped at {_hhmm(flip.at)} on a {flip.price:.2f} close "
                f"{side} {spec.flip_price:.2f})"
            )
        where = "" if spec.condition is None else f" {spec.condition} {spec.price:.2f}"
        return f"{symbol} {bias} bias{where}"
