"""Typed results of reading an A+ setup post.

Prices are :class:`~decimal.Decimal` everywhere inside (they go into ``Numeric`` columns);
:meth:`ParsedMessage.to_contract_dict` is the only place they become floats, for JSON.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Aggressiveness",
    "Bias",
    "BiasFlip",
    "Category",
    "Comparison",
    "Direction",
    "ParsedMessage",
    "Price",
    "Signal",
    "TickerSetup",
    "Trigger",
    "new_signal",
    "trusted",
]


class Category(StrEnum):
    """What the price has to do at the trigger."""

    BREAKOUT = "breakout"
    BREAKDOWN = "breakdown"
    REJECTION = "rejection"
    BOUNCE = "bounce"


class Aggressiveness(StrEnum):
    """How early the poster would enter: at the first level or the confirmed one."""

    AGGRESSIVE = "aggressive"
    CONSERVATIVE = "conservative"
    NONE = "none"


class Comparison(StrEnum):
    """How the price relates to the trigger."""

    ABOVE = "above"
    BELOW = "below"
    NEAR = "near"
    RANGE = "range"


class Direction(StrEnum):
    """Which way a signal or a bias leans."""

    BULLISH = "bullish"
    BEARISH = "bearish"


_M = TypeVar("_M", bound=BaseModel)

_BULLISH_CATEGORIES = frozenset({Category.BREAKOUT, Category.BOUNCE})

Price = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
"""A strictly positive, finite price."""

Trigger = Price | tuple[Price, Price]
"""One level, or a ``(low, high)`` zone."""

_FROZEN = ConfigDict(frozen=True)


class Signal(BaseModel):
    """One tradable level: a category, a trigger and the targets in the order posted."""

    model_config = _FROZEN

    category: Category
    aggressiveness: Aggressiveness = Aggressiveness.NONE
    comparison: Comparison
    trigger: Trigger
    targets: list[Price] = Field(default_factory=list)
    line: str = ""
    """The normalised source line the signal was read from."""
    line_no: int = Field(default=0, ge=0)
    """1-based line of the message (lines split by U+2028 share their line's number)."""

    @model_validator(mode="after")
    def _trigger_matches_comparison(self) -> Signal:
        if isinstance(self.trigger, tuple):
            low, high = self.trigger
            if low > high:
                raise ValueError(f"trigger range {low}-{high} has low above high")
            if self.comparison is not Comparison.RANGE:
                raise ValueError("a trigger range needs comparison 'range'")
        elif self.comparison is Comparison.RANGE:
            raise ValueError("comparison 'range' needs a [low, high] trigger")
        return self

    @property
    def direction(self) -> Direction:
        """Return bullish for breakouts and bounces, bearish for breakdowns and rejections."""
        if self.category in _BULLISH_CATEGORIES:
            return Direction.BULLISH
        return Direction.BEARISH

    @property
    def trigger_low(self) -> Decimal:
        """Return the trigger, or the low end of a zone."""
        return self.trigger[0] if isinstance(self.trigger, tuple) else self.trigger

    @property
    def trigger_high(self) -> Decimal:
        """Return the trigger, or the high end of a zone."""
        return self.trigger[1] if isinstance(self.trigger, tuple) else self.trigger


class BiasFlip(BaseModel):
    """The level at which the poster says the bias turns the other way."""

    model_config = _FROZEN

    direction: Direction
    price: Price


class Bias(BaseModel):
    """The poster's lean for a ticker, with the narrative kept verbatim in ``text``.

    ``direction``, ``condition`` and ``price`` are ``None`` when the text does not state them
    (a purely narrative bias); ``condition`` and ``price`` are set together or not at all.
    """

    model_config = _FROZEN

    direction: Direction | None = None
    condition: Comparison | None = None
    price: Price | None = None
    flip: BiasFlip | None = None
    text: str

    @model_validator(mode="after")
    def _condition_with_price(self) -> Bias:
        if (self.condition is None) != (self.price is None):
            raise ValueError("condition and price are set together or not at all")
        if self.condition not in (None, Comparison.ABOVE, Comparison.BELOW):
            raise ValueError("a bias condition is 'above' or 'below'")
        return self


class TickerSetup(BaseModel):
    """Everything posted for one ticker."""

    model_config = _FROZEN

    symbol: str = Field(min_length=1, max_length=10)
    signals: list[Signal] = Field(default_factory=list)
    bias: Bias | None = None


class ParsedMessage(BaseModel):
    """The result of reading one message; ``is_aplus`` is false for anything else."""

    model_config = _FROZEN

    trading_date: date | None = None
    setups: list[TickerSetup] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    is_aplus: bool = False

    def to_contract_dict(self) -> dict[str, Any]:
        """Return the ``parse --json`` object: exactly the contract keys, prices as floats."""
        return {
            "trading_date": self.trading_date.isoformat() if self.trading_date else None,
            "setups": [_setup_dict(s) for s in self.setups],
            "warnings": list(self.warnings),
        }


    def to_contract_json(self) -> str:
        """Return ``json.dumps(self.to_contract_dict())``, written directly (about 5x faster).

        The text is byte-for-byte what :func:`json.dumps` gives with its defaults (a property
        test checks it on arbitrary and mutated posts); ``parse --json`` prints it.
        """
        day = f'"{self.trading_date.isoformat()}"' if self.trading_date else "null"
        setups = ", ".join([_setup_json(s) for s in self.setups])
        warnings = ", ".join([_json_str(w) for w in self.warnings])
        return f'{{"trading_date": {day}, "setups": [{setups}], "warnings": [{warnings}]}}'


_json_str = encode_basestring_ascii
_QUOTED: dict[StrEnum, str] = {
    member: f'"{member.value}"'
    for enum in (Category, Aggressiveness, Comparison, Direction)
    for member in enum
}
_float_repr = float.__repr__  # what json.dumps writes for a float
_NONZERO_DIGITS = frozenset("123456789")


def _json_number(value: Decimal) -> str:
    """Return the JSON text of a price as a float, the way json.dumps writes it.

    A plain decimal of at most 15 digits, not below 0.0001, is written from its own digits:
    any such decimal survives the trip through a float unchanged (``sys.float_info.dig`` is
    15), so ``repr(float(value))`` is those digits without trailing zeros (a property test
    checks it). Anything else goes through the float. Nothing is remembered: hashing a new
    Decimal for a lookup costs more than converting it.
    """
    text = str(value)
    if len(text) <= 16 and text[0] in _NONZERO_DIGITS and "E" not in text:
        # the common price, "591.82" or "590": digits with at most one point, from 1 up
        if "." not in text:
            return text + ".0" if len(text) <= 15 else _float_repr(float(value))
        text = text.rstrip("0")
        return text + "0" if text[-1] == "." else text
    if text.isdigit():
        return text + ".0" if len(text) <= 15 else _float_repr(float(value))
    whole, dot, fraction = text.partition(".")
    if (
        dot
        and whole.isdigit()
        and fraction.isdigit()
        and len(whole) + len(fraction) <= 15
        and not (whole == "0" and fraction.startswith("000"))
    ):
        return f"{whole}.{fraction.rstrip('0') or '0'}"
    return _float_repr(float(value))


_SIGNAL_HEADS: Final = {
    (category, aggressiveness, comparison): (
        f'{{"category": {_QUOTED[category]}, "aggressiveness": {_QUOTED[aggressiveness]}, '
        f'"comparison": {_QUOTED[comparison]}, "trigger": '
    )
    for category in Category
    for aggressiveness in Aggressiveness
    for comparison in Comparison
}
"""The JSON of a signal up to its trigger, by category, aggressiveness and comparison."""


def _setup_json(setup: TickerSetup) -> str:
    signals = ", ".join([_signal_json(s) for s in setup.signals])
    bias = "null" if setup.bias is None else _bias_json(setup.bias)
    return f'{{"symbol": {_json_str(setup.symbol)}, "signals": [{signals}], "bias": {bias}}}'


def _signal_json(signal: Signal) -> str:
    trigger = signal.trigger
    if isinstance(trigger, tuple):
        trigger_text = f"[{_json_number(trigger[0])}, {_json_number(trigger[1])}]"
    else:
        trigger_text = _json_number(trigger)
    targets = ", ".join(map(_json_number, signal.targets))
    head = _SIGNAL_HEADS[signal.category, signal.aggressiveness, signal.comparison]
    return f'{head}{trigger_text}, "targets": [{targets}]}}'


def _bias_json(bias: Bias) -> str:
    direction = _QUOTED[bias.direction] if bias.direction else "null"
    condition = _QUOTED[bias.condition] if bias.condition else "null"
    price = _json_number(bias.price) if bias.price is not None else "null"
    flip = (
        f'{{"direction": {_QUOTED[bias.flip.direction]}, "price": {_json_number(bias.flip.price)}}}'
        if bias.flip
        else "null"
    )
    return (
        f'{{"direction": {direction}, "condition": {condition}, "price": {price}, '
        f'"flip": {flip}, "text": {_json_str(bias.text)}}}'
    )


def _setup_dict(setup: TickerSetup) -> dict[str, Any]:
    return {
        "symbol": setup.symbol,
        "signals": [
            {
                "category": str(s.category),
                "aggressiveness": str(s.aggressiveness),
                "comparison": str(s.comparison),
                "trigger": (
                    [float(s.trigger[0]), float(s.trigger[1])]
                    if isinstance(s.trigger, tuple)
                    else float(s.trigger)
                ),
                "targets": [float(t) for t in s.targets],
            }
            for s in setup.signals
        ],
        "bias": _bias_dict(setup.bias),
    }


def _bias_dict(bias: Bias | None) -> dict[str, Any] | None:
    if bias is None:
        return None
    return {
        "direction": str(bias.direction) if bias.direction else None,
        "condition": str(bias.condition) if bias.condition else None,
        "price": float(bias.price) if bias.price is not None else None,
        "flip": (
            {"direction": str(bias.flip.direction), "price": float(bias.flip.price)}
            if bias.flip
            else None
        ),
        "text": bias.text,
    }


_new = object.__new__
# The setters of BaseModel's four slots, called directly (what object.__setattr__ ends up
# calling, without looking the attribute up first).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """Build ``cls`` from ``values`` without validating them.

    Only for the parser's own output, whose values are valid by construction (positive
    finite prices, a ``(low, high)`` range with ``low <= high`` exactly when the comparison
    is ``range``, enums where enums belong) and which passes every field. It does what
    :meth:`~pydantic.BaseModel.model_construct` does for these models (no aliases, no
    private attributes, no extra fields) without its per-field loop, several times faster;
    ``ParsedMessage.model_validate(m.model_dump()) == m`` holds for everything the parser
    returns (a property test checks it).
    """
    model = _new(cls)
    _set_dict(model, values)
    _set_fields_set(model, set(values))
    _set_extra(model, None)
    _set_private(model, None)
    return model


_SIGNAL_FIELDS: Final = set(Signal.model_fields)


def new_signal(
    category: Category,
    aggressiveness: Aggressiveness,
    comparison: Comparison,
    trigger: Decimal | tuple[Decimal, Decimal],
    targets: list[Decimal],
    line: str,
    line_no: int,
) -> Signal:
    """Build a :class:`Signal` the parser has read, without validating it (see :func:`trusted`).

    Every signal shares one ``__pydantic_fields_set__`` (all fields are set; a frozen model
    never changes it, and ``model_copy`` copies it before adding to it).
    """
    signal = _new(Signal)
    _set_dict(signal, {
        "category": category,
        "aggressiveness": aggressiveness,
        "comparison": comparison,
        "trigger": trigger,
        "targets": targets,
        "line": line,
        "line_no": line_no,
    })
    _set_fields_set(signal, _SIGNAL_FIELDS)
    _set_extra(signal, None)
    _set_private(signal, None)
    return signal
