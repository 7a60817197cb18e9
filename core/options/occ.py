"""OCC option symbols: ``SPY250606C00590000`` = root, YYMMDD expiry, C/P, strike × 1000.

The compact form (no padding) is what brokers such as Alpaca and data vendors use; the
21-character OSI form pads the root to six characters with spaces, and both are accepted by
:meth:`OccSymbol.parse`. Strikes are :class:`~decimal.Decimal` so that ``str(sym)`` rebuilds
the exact symbol.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from core.errors import AplusError

logger = logging.getLogger(__name__)

__all__ = ["InvalidOccSymbol", "OccSymbol", "OptionRight"]

_PATTERN = re.compile(r"^(?P<root>[A-Z0-9]{1,6}) *(?P<date>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")
_ROOT = re.compile(r"^[A-Z0-9]{1,6}$")
_MAX_STRIKE = Decimal("99999.999")


def _plain(value: Decimal) -> Decimal:
    """Return ``value`` without trailing zeros or exponent (590.000 -> 590, 22.500 -> 22.5)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


class InvalidOccSymbol(AplusError, ValueError):
    """Raised when a string is not a valid OCC option symbol (the message says why)."""


class OptionRight(StrEnum):
    """Call or put. Values are ``"call"``/``"put"``; :attr:`letter` gives the OCC ``C``/``P``."""

    CALL = "call"
    PUT = "put"

    @property
    def letter(self) -> str:
        """Return ``"C"`` or ``"P"``."""
        return "C" if self is OptionRight.CALL else "P"

    @property
    def is_call(self) -> bool:
        """Return whether this is a call."""
        return self is OptionRight.CALL

    @classmethod
    def parse(cls, value: str | OptionRight) -> OptionRight:
        """Return the right for ``"C"``/``"P"``/``"call"``/``"put"`` (any case)."""
        if isinstance(value, OptionRight):
            return value
        text = str(value).strip().lower()
        if text in ("c", "call"):
            return cls.CALL
        if text in ("p", "put"):
            return cls.PUT
        raise ValueError(f"option right must be C/P/call/put, got {value!r}")


@dataclass(frozen=True, slots=True)
class OccSymbol:
    """One listed option contract identified by its OCC symbol."""

    root: str
    expiry: date
    right: OptionRight
    strike: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.root, str) or not _ROOT.match(self.root):
            raise InvalidOccSymbol(
                f"root must be 1-6 upper-case letters or digits, got {self.root!r}"
            )
        if not isinstance(self.expiry, date):
            raise InvalidOccSymbol(f"expiry must be a date, got {self.expiry!r}")
        if not 2000 <= self.expiry.year <= 2099:
            raise InvalidOccSymbol(f"expiry year must be 2000-2099, got {self.expiry.year}")
        object.__setattr__(self, "right", OptionRight.parse(self.right))
        try:
            strike = Decimal(str(self.strike))
        except InvalidOperation as e:
            raise InvalidOccSymbol(f"strike must be a number, got {self.strike!r}") from e
        if not strike.is_finite() or strike <= 0 or strike > _MAX_STRIKE:
            raise InvalidOccSymbol(f"strike must be in (0, {_MAX_STRIKE}], got {self.strike}")
        if strike * 1000 != (strike * 1000).to_integral_value():
            raise InvalidOccSymbol(f"strike must be a multiple of 0.001, got {self.strike}")
        object.__setattr__(self, "strike", _plain(strike))

    @classmethod
    def parse(cls, text: str) -> OccSymbol:
        """Parse ``SPY250606C00590000`` (or the space-padded OSI form); raise InvalidOccSymbol."""
        if not isinstance(text, str):
            raise InvalidOccSymbol(f"OCC symbol must be a string, got {type(text).__name__}")
        m = _PATTERN.match(text.strip().upper())
        if m is None:
            raise InvalidOccSymbol(
                f"{text!r} is not an OCC symbol (expected ROOT + YYMMDD + C/P + 8-digit strike×1000, "
                "e.g. SPY250606C00590000)"
            )
        yymmdd = m["date"]
        try:
            expiry = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
        except ValueError as e:
            raise InvalidOccSymbol(f"{text!r} has an invalid expiry date {yymmdd}: {e}") from e
        strike = Decimal(int(m["strike"])) / 1000
        if strike <= 0:
            raise InvalidOccSymbol(f"{text!r} has a zero strike")
        return cls(m["root"], expiry, OptionRight.parse(m["right"]), strike)

    @classmethod
    def build(
        cls, root: str, expiry: date, right: OptionRight | str, strike: Decimal | float | str
    ) -> OccSymbol:
        """Return a validated symbol from its parts (floats are rounded to 0.001)."""
        if isinstance(strike, float):
            strike = Decimal(f"{strike:.3f}")
        return cls(root.strip().upper(), expiry, OptionRight.parse(right), Decimal(str(strike)))

    def __str__(self) -> str:
        """Return the compact OCC symbol, e.g. ``SPY250606C00590000``."""
        return f"{self.root}{self.expiry:%y%m%d}{self.right.letter}{int(self.strike * 1000):08d}"

    def osi(self) -> str:
        """Return the 21-character OSI form with the root padded to six characters."""
        return f"{self.root:<6}{self.expiry:%y%m%d}{self.right.letter}{int(self.strike * 1000):08d}"
