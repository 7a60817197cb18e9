"""Market-data values.

These are frozen, slotted dataclasses with float prices: market data arrives by the million
(the replay streams a million bars in a few seconds), and a quote is an observation, not
money we owe. Convert to :class:`~decimal.Decimal` where a price becomes an order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache

from core.brokers.models import OCC_RE


class OptionRight(StrEnum):
    """Call or put."""

    CALL = "call"
    PUT = "put"


class PriceEventKind(StrEnum):
    """What a price event reports."""

    TRADE = "trade"
    BAR = "bar"


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and offer (sizes in shares for stocks, contracts for options)."""

    symbol: str
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    timestamp: datetime

    def __post_init__(self) -> None:
        if self.bid > self.ask > 0:
            raise ValueError(f"crossed quote for {self.symbol}: bid {self.bid} > ask {self.ask}")

    @property
    def mid(self) -> float:
        """Return the midpoint."""
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Trade:
    """The last trade."""

    symbol: str
    price: float
    size: int
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar; ``timestamp`` is the bar's start (UTC)."""

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int

    def __post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise ValueError(f"inconsistent bar {self.symbol} {self.timestamp}: "
                             f"O{self.open} H{self.high} L{self.low} C{self.close}")


@dataclass(frozen=True, slots=True)
class OptionContract:
    """The identity of one listed option (parsed from / printed as an OCC symbol)."""

    underlying: str
    expiry: date
    right: OptionRight
    strike: float

    @classmethod
    def parse(cls, symbol: str) -> OptionContract:
        """Parse an OCC symbol such as ``SPY250611C00600000``."""
        m = OCC_RE.match(symbol.strip().upper())
        if not m:
            raise ValueError(f"not an OCC option symbol: {symbol!r}")
        ymd = m.group("ymd")
        return cls(
            underlying=m.group("root"),
            expiry=date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:])),
            right=OptionRight.CALL if m.group("cp") == "C" else OptionRight.PUT,
            strike=int(m.group("strike")) / 1000,
        )

    @staticmethod
    def parse_cached(symbol: str) -> OptionContract:
        """:meth:`parse`, remembered for the last 4,096 symbols (the same held contracts are
        parsed every minute); a symbol that is not one raises every time."""
        return _parse_cached(symbol)

    @property
    def symbol(self) -> str:
        """Return the OCC symbol."""
        cp = "C" if self.right is OptionRight.CALL else "P"
        return f"{self.underlying}{self.expiry:%y%m%d}{cp}{round(self.strike * 1000):08d}"


@lru_cache(maxsize=4096)
def _parse_cached(symbol: str) -> OptionContract:
    return OptionContract.parse(symbol)


@dataclass(frozen=True, slots=True)
class Greeks:
    """Option sensitivities: theta per day, vega per volatility point, rho per 1 % rate."""

    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float | None = None


@dataclass(frozen=True, slots=True)
class OptionSnapshot:
    """One contract of a chain at one moment; fields the source lacks are None."""

    symbol: str
    underlying: str
    expiry: date
    right: OptionRight
    strike: float
    bid: float | None
    ask: float | None
    bid_size: int | None
    ask_size: int | None
    last: float | None
    volume: int | None
    open_interest: int | None
    iv: float | None
    greeks: Greeks | None
    timestamp: datetime | None

    @property
    def mid(self) -> float | None:
        """Return the midpoint when both sides are quoted."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class ChainFilter:
    """Which contracts of a chain to return (bounds inclusive, None = unbounded)."""

    expiry_from: date | None = None
    expiry_to: date | None = None
    strike_min: float | None = None
    strike_max: float | None = None
    right: OptionRight | None = None

    def __post_init__(self) -> None:
        if self.expiry_from and self.expiry_to and self.expiry_from > self.expiry_to:
            raise ValueError("expiry_from is after expiry_to")
        if self.strike_min is not None and self.strike_max is not None and self.strike_min > self.strike_max:
            raise ValueError("strike_min is above strike_max")


@dataclass(frozen=True, slots=True)
class PriceEvent:
    """One live price: a trade, or a completed 1-minute bar (``bar`` set, price = close)."""

    symbol: str
    price: float
    timestamp: datetime
    kind: PriceEventKind
    size: int = 0
    bar: Bar | None = None


_SYMBOL = re.compile(r"^[A-Z]{1,5}([.][A-Z])?$")


def normalise_symbol(symbol: str) -> str:
    """Upper-case and check a stock symbol; raise ``ValueError`` if it cannot be one."""
    s = symbol.strip().upper()
    if not _SYMBOL.match(s):
        raise ValueError(f"not a stock symbol: {symbol!r}")
    return s
