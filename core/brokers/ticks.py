"""Minimum price increments (the tick grid) for limit prices.

Option rules (Cboe / Nasdaq options rulebooks, "Penny Interval Program", Cboe Rule 5.4):

- classes in the Penny Interval Program: $0.01 below $3.00, $0.05 at or above $3.00;
- SPY, QQQ and IWM: $0.01 at every price;
- every other class: $0.05 below $3.00, $0.10 at or above $3.00.

Stocks (Reg NMS Rule 612): $0.01 at or above $1.00, $0.0001 below.

:data:`PENNY_PROGRAM` is a subset of the Penny Interval Program list (the most actively traded
classes) as published by Cboe at https://www.cboe.com/us/options/market_statistics/penny_tick_type/
and updated each January and July. Names missing from it are treated as non-penny, which is
the stricter grid, so a missing name can only make a price be refused or rounded, never sent
off-grid.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.brokers.errors import InvalidOrder
from core.brokers.models import OCC_RE, OrderSide

PENNY_ALL_PRICES: frozenset[str] = frozenset({"SPY", "QQQ", "IWM"})

PENNY_PROGRAM: frozenset[str] = PENNY_ALL_PRICES | frozenset(
    ["AAL", "AAPL", "ABBV", "ABNB", "ADBE", "AFRM", "AMAT", "AMC", "AMD", "AMZN", "ARKK", "AVGO", "BA", "BABA", "BAC", "BIDU", "BITO", "BMY", "C", "CAT", "CCL", "CHWY", "COIN", "COST", "CRM", "CSCO", "CVNA", "CVX", "DAL", "DIA", "DIS", "DKNG", "EEM", "EFA", "ENPH", "ET", "F", "FCX", "FXI", "GDX", "GDXJ", "GE", "GILD", "GLD", "GM", "GME", "GOOG", "GOOGL", "GS", "HD", "HOOD", "HYG", "IBM", "INTC", "JD", "JNJ", "JPM", "KO", "KRE", "LLY", "LULU", "LYFT", "MARA", "MCD", "META", "MRNA", "MRVL", "MS", "MSFT", "MSTR", "MU", "NFLX", "NIO", "NKE", "NVDA", "ORCL", "OXY", "PDD", "PFE", "PLTR", "PYPL", "QCOM", "RBLX", "RIOT", "RIVN", "ROKU", "SBUX", "SHOP", "SLV", "SMCI", "SMH", "SNAP", "SNOW", "SOFI", "SQ", "T", "TGT", "TLT", "TSLA", "TSM", "UBER", "UNH", "UPS", "USO", "V", "VALE", "WBA", "WFC", "WMT", "X", "XBI", "XLE", "XLF", "XLI", "XLK", "XLU", "XLV", "XOM", "XOP"]
)

PENNY = Decimal("0.01")
NICKEL = Decimal("0.05")
DIME = Decimal("0.10")
STOCK_SUBPENNY = Decimal("0.0001")
THREE = Decimal(3)


def option_root(symbol: str) -> str:
    """Return the underlying root of an OCC option symbol."""
    m = OCC_RE.match(symbol)
    if not m:
        raise ValueError(f"not an OCC option symbol: {symbol!r}")
    return m.group("root")


def option_tick(underlying: str, price: Decimal) -> Decimal:
    """Return the tick size of an option on ``underlying`` quoted at ``price``."""
    underlying = underlying.upper()
    if underlying in PENNY_ALL_PRICES:
        return PENNY
    if underlying in PENNY_PROGRAM:
        return PENNY if price < THREE else NICKEL
    return NICKEL if price < THREE else DIME


def stock_tick(price: Decimal) -> Decimal:
    """Return the tick size of a stock quoted at ``price``."""
    return PENNY if price >= 1 else STOCK_SUBPENNY


def tick_for(symbol: str, price: Decimal) -> Decimal:
    """Return the tick size of ``symbol`` (stock or OCC option) at ``price``."""
    if OCC_RE.match(symbol):
        return option_tick(option_root(symbol), price)
    return stock_tick(price)


def round_to_tick(price: Decimal, tick: Decimal, side: OrderSide) -> Decimal:
    """Round ``price`` onto the grid in the safe direction: down for buys, up for sells."""
    mode = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    steps = (price / tick).to_integral_value(rounding=mode)
    return (steps * tick).quantize(tick)


def on_grid(price: Decimal, tick: Decimal) -> bool:
    """Tell whether ``price`` is a whole number of ticks."""
    return (price % tick) == 0


def checked_limit_price(symbol: str, price: Decimal, side: OrderSide, *, allow_rounding: bool) -> Decimal:
    """Return ``price`` on the tick grid, rounded safely if allowed, else raise ``InvalidOrder``.

    Rounding can cross the $3.00 boundary where the tick changes; the result is re-checked
    against the tick at the rounded price.
    """
    tick = tick_for(symbol, price)
    if on_grid(price, tick):
        return price
    if not allow_rounding:
        raise InvalidOrder(
            f"limit price {price} for {symbol} is off the ${tick} tick grid; "
            f"nearest safe price is {round_to_tick(price, tick, side)}"
        )
    rounded = round_to_tick(price, tick, side)
    if rounded <= 0:
        raise InvalidOrder(f"limit price {price} for {symbol} rounds to zero on the ${tick} grid")
    tick2 = tick_for(symbol, rounded)
    if not on_grid(rounded, tick2):
        rounded = round_to_tick(rounded, tick2, side)
    return rounded
