"""The simulated market: replayed CSV bars or seeded synthetic paths, and priced option chains.

Prices for a symbol and New York trading day come from ``<bars_dir>/<SYMBOL>/<date>.csv`` when
that file exists (see :mod:`core.marketdata.bars_csv`), otherwise from a synthetic intraday path
seeded by ``(seed, symbol, date)``, so the same settings always give the same market. Within a
minute the price moves linearly from the bar's open to its close. Nothing after the clock's
``now`` is ever visible.

Option chains are priced from the underlying with Black–Scholes–Merton on a volatility smile
(:mod:`core.marketdata.sim_pricing`); spreads widen and displayed sizes shrink for far strikes
and short expiries; open interest and volume peak at the money, on round strikes and on
monthly expiries.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, cast

import numpy as np

from core.brokers.errors import UnknownSymbol
from core.brokers.ticks import PENNY_ALL_PRICES, PENNY_PROGRAM
from core.calendar import MarketCalendar
from core.clock import Clock
from core.marketdata.bars_csv import DayBars, bars_path, read_bars_csv
from core.marketdata.base import MarketData, PriceStream
from core.marketdata.models import (
    Bar,
    ChainFilter,
    Greeks,
    OptionContract,
    OptionRight,
    OptionSnapshot,
    PriceEvent,
    PriceEventKind,
    Quote,
    Trade,
    normalise_symbol,
)
from core.marketdata.sim_pricing import (
    price_contract_one,
    price_contracts,
    smile_vol,
    smile_vol_one,
)

if TYPE_CHECKING:  # imported on first use: core.options imports scipy, which is slow to import
    from core.options.chain import OptionChain

log = logging.getLogger(__name__)

#: Symbols the simulated market knows without CSV data: anchor price, annual volatility,
#: typical daily share volume. Add more with :meth:`SimMarketData.add_symbol`.
DEFAULT_UNIVERSE: dict[str, tuple[float, float, int]] = {
    "SPY": (600.0, 0.15, 60_000_000), "QQQ": (530.0, 0.19, 35_000_000),
    "IWM": (210.0, 0.22, 30_000_000), "DIA": (425.0, 0.14, 3_000_000),
    "AAPL": (200.0, 0.27, 50_000_000), "MSFT": (470.0, 0.24, 20_000_000),
    "NVDA": (143.0, 0.45, 200_000_000), "TSLA": (330.0, 0.60, 110_000_000),
    "AMZN": (215.0, 0.32, 40_000_000), "META": (690.0, 0.36, 12_000_000),
    "GOOGL": (178.0, 0.30, 30_000_000), "AMD": (120.0, 0.50, 45_000_000),
    "NFLX": (1200.0, 0.35, 3_500_000), "PLTR": (135.0, 0.70, 80_000_000),
    "COIN": (250.0, 0.75, 10_000_000), "SMCI": (42.0, 0.85, 30_000_000),
    "MSTR": (390.0, 0.85, 12_000_000), "AVGO": (250.0, 0.40, 25_000_000),
    "SAIL": (22.0, 0.65, 5_000_000), "HOOD": (75.0, 0.70, 40_000_000),
}
YEAR_SECONDS = 365.0 * 86_400
RATE = 0.043


def _unit(key: str) -> float:
    """Return a deterministic pseudo-random number in [0, 1) for ``key``."""
    return zlib.crc32(key.encode()) / 4_294_967_296.0


def _unit_after(prefix_crc: int, suffix: bytes) -> float:
    """Return ``_unit(prefix + suffix)`` from ``zlib.crc32(prefix.encode())`` (the same number:
    CRC-32 continues from a running value), so a fixed prefix is encoded and hashed once."""
    return zlib.crc32(suffix, prefix_crc) / 4_294_967_296.0


def _seed(*parts: object) -> int:
    return zlib.crc32(":".join(str(p) for p in parts).encode())


def _ushape(n: int) -> np.ndarray:
    x = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return 0.7 + 0.9 * x**2


KEEP_DAYS: Final = 1
"""Calendar days of bars kept behind the newest day asked for (older ones are read again)."""


def strike_step(underlying: str, spot: float) -> float:
    """Return the listed strike spacing near the money."""
    if underlying in PENNY_ALL_PRICES:
        return 1.0
    if spot < 25:
        return 0.5
    if spot < 150:
        return 1.0
    if spot < 500:
        return 2.5
    return 5.0


def _third_friday(year: int, month: int) -> date:
    d = date(year, month, 15)
    return d + timedelta(days=(4 - d.weekday()) % 7)


def _option_ticks(underlying: str, price: np.ndarray) -> np.ndarray:
    """Return :func:`option_tick` of each price (rounded to the cent first, as quoted)."""
    u = underlying.upper()
    if u in PENNY_ALL_PRICES:
        return np.full(len(price), 0.01)
    low, high = (0.01, 0.05) if u in PENNY_PROGRAM else (0.05, 0.10)
    # round(p, 2) < 3.0 exactly when p is below the decimal 2.995 (Python rounds the exact binary
    # value correctly, and no float equals 2.995); the float 2.995 lies just above that decimal
    # and the next float down just below it, so the test is p < 2.995. NaN: the high tick, as ever.
    return np.where(price < 2.995, low, high)


def _ceil_tick(x: np.ndarray, tick: np.ndarray) -> np.ndarray:
    return np.round(np.ceil(np.round(x / tick, 6)) * tick, 2)


def _floor_tick(x: np.ndarray, tick: np.ndarray) -> np.ndarray:
    return np.round(np.floor(np.round(x / tick, 6)) * tick, 2)


class _ContractDay(NamedTuple):
    """What a contract's snapshot takes from the trading day alone (worked out once a day).

    The factors are kept apart, not multiplied together, so the per-minute arithmetic multiplies
    them in the same order as ever (floating-point products depend on the order).
    """

    symbol: str
    days: float  # calendar days from the trading day to the expiry
    monthly: float  # the open-interest factor of a monthly expiry (2.5, else 1.0)
    round_strike: float  # the open-interest factor of a strike on a multiple of 5 (1.8, else 1.0)
    oi_draw: float  # 0.4 + 1.2 * the day's open-interest draw
    oi_age: float  # min(1.0, (days + 2) / 10)
    vol_age: float  # 0.04 + 0.8 * exp(-days / 2)
    crc_v: int  # zlib.crc32 of "<symbol>:v:" (the minute follows): the volume draw
    crc_s: int  # ... of "<symbol>:s:": the ask size draw
    crc_bs: int  # ... of "<symbol>:bs:": the bid size draw


FEW_CONTRACTS: Final = 16
"""Up to this many contracts are priced one by one in plain floats (:func:`_quote_one`), more
with numpy arrays: for a few contracts the fixed cost of ~80 array operations dominates (the
break-even was ~20 contracts)."""


def _np_round(x: float, decimals: int) -> float:
    """``np.round`` of one float: numpy scales, rounds half to even and scales back, which is not
    always Python's correctly rounded ``round(x, decimals)``."""
    scale = 10.0**decimals
    return float(np.rint(x * scale)) / scale


def _quote_one(
    underlying: str, base_vol: float, spot: float, rate: float, strike: float, years: float,
    is_call: bool, days: float,
) -> tuple[float, ...] | None:
    """Return one contract's (z, tick, inside, bid, ask, iv, delta, gamma, theta, vega, rho)
    in plain floats, bit for bit what :meth:`SimMarketData._price_now` computes for it in
    arrays, or None when the option is not live or anything is not finite (price it with arrays).

    The same operations in the same order; numpy's own ``log``/``rint``/``floor``/``ceil``.
    ``np.maximum``/``np.minimum``/``np.clip`` are written as ``a if a > b else b`` where a tie
    can only be between equal bit patterns; the bid's ``np.maximum(x, 0.0)``, where ``x`` can be
    ``-0.0`` and which zero comes out is numpy's (and the platform's) choice, stays numpy's.
    Keep it in step with the array code; tests compare the two bit for bit.
    """
    iv = smile_vol_one(base_vol, spot, strike, years)
    greeks = price_contract_one(spot, strike, years, rate, 0.0, iv, is_call)
    if greeks is None:
        return None
    price, delta, gamma, theta, vega, rho = greeks
    z = abs(float(np.log(strike / spot))) / (iv * math.sqrt(years))
    width = price * (0.012 + 0.02 * (z if z < 4.0 else 4.0) + 0.03 / (1.0 + days)) + 0.01
    if not math.isfinite(width):
        return None
    u = underlying.upper()
    if u in PENNY_ALL_PRICES:
        tick = 0.01
    else:
        low, high = (0.01, 0.05) if u in PENNY_PROGRAM else (0.05, 0.10)
        tick = low if price < 2.995 else high  # as _option_ticks
    floor_ = _np_round(float(np.floor(_np_round((price - width / 2) / tick, 6))) * tick, 2)
    bid = float(np.maximum(floor_, 0.0))
    ceil_ = _np_round(float(np.ceil(_np_round((price + width / 2) / tick, 6))) * tick, 2)
    ask = _np_round(ceil_ if ceil_ > bid + tick else bid + tick, 2)
    inside = price if price > bid else bid
    inside = inside if inside < ask else ask
    return (z, tick, inside, bid, ask, iv, delta, gamma, theta, vega, rho)


def _minute_rows(
    facts: Sequence[_ContractDay], quotes: Iterable[tuple[float, ...]], minute: bytes,
    oi_base: float, day_frac: float,
) -> list[tuple[Any, ...]]:
    """Return each contract's snapshot values (a :class:`_Priced` row) from its day's facts,
    its quote (z, tick, inside, bid, ask, iv, delta, gamma, theta, vega, rho) and the minute:
    open interest, volume, sizes and the last price. One contract at a time, in plain floats."""
    out: list[tuple[Any, ...]] = []
    exp, crc32 = math.exp, zlib.crc32
    for f, (z_i, tick, inside_i, bid_i, ask_i, iv_i, d_i, g_i, t_i, v_i, r_i) in zip(
            facts, quotes, strict=True):
        oi = int(oi_base * exp(-0.5 * z_i ** 2) * f.monthly * f.round_strike * f.oi_draw * f.oi_age)
        # the per-minute draws: _unit(f"{symbol}:v:{minute}") and so on (_unit_after inlined)
        vol_ = int(oi * f.vol_age * day_frac * (0.5 + crc32(minute, f.crc_v) / 4_294_967_296.0))
        size = max(1, int(300 * exp(-0.8 * z_i) * (0.3 + crc32(minute, f.crc_s) / 4_294_967_296.0)))
        bsz = max(1, int(size * (0.5 + crc32(minute, f.crc_bs) / 4_294_967_296.0)))
        last = round(inside_i / tick) * tick
        # bid and ask are np.round(..., 2) results (or 0.0): the float nearest a whole number
        # of cents, which Python's round(x, 2) returns unchanged, so it is not applied again
        out.append((f.symbol, bid_i, ask_i, bsz, size, round(max(last, tick), 2), vol_, oi,
                    round(iv_i, 4), d_i, g_i, t_i, v_i, r_i))
    return out


_INT_SAFE: Final = 2.0**52
"""Below this, a float's ``int()`` is its truncation in int64, and an int's float is exact."""


def _truncated(x: np.ndarray) -> np.ndarray | None:
    """Return ``int()`` of each element (toward zero) in int64, or None unless all are finite
    and well inside int64 (NaN and inf have no int; Python's ints do not overflow)."""
    if not bool(np.all(np.abs(x) < _INT_SAFE)):
        return None
    return x.astype(np.int64)


def _minute_columns(
    facts: Sequence[_ContractDay], quotes: Sequence[np.ndarray], minute: bytes,
    oi_base: float, day_frac: float,
) -> list[list[Any]] | None:
    """Return :func:`_minute_rows` as columns (the values bit for bit), or None if some value
    is not finite or too large (then :func:`_minute_rows` must say what happens).

    Arithmetic is in arrays, in the same order (IEEE products and sums are numpy's as Python's;
    ints below 2**52 convert exactly; ``np.rint`` rounds half to even as ``round`` does);
    ``math.exp``, ``**``, the CRC draws and ``round(x, ndigits)``, which numpy's own could
    change in the last bit, stay Python's, one element at a time. Keep it in step with
    :func:`_minute_rows`; tests compare the two bit for bit.
    """
    z, tick, inside, bid, ask, iv, delta, gamma, theta, vega, rho = quotes
    (symbol, _days, monthly, round_strike, oi_draw, oi_age, vol_age,
     crc_v, crc_s, crc_bs) = zip(*facts, strict=True)
    exp, crc32 = math.exp, zlib.crc32
    zs = z.tolist()
    oi_f = (oi_base * np.array([exp(-0.5 * x ** 2) for x in zs]) * np.array(monthly)
            * np.array(round_strike) * np.array(oi_draw) * np.array(oi_age))
    oi = _truncated(oi_f)
    if oi is None:
        return None
    draw_v = np.array([crc32(minute, c) for c in crc_v]) / 4_294_967_296.0
    vol_ = _truncated(oi.astype(np.float64) * np.array(vol_age) * day_frac * (0.5 + draw_v))
    draw_s = np.array([crc32(minute, c) for c in crc_s]) / 4_294_967_296.0
    size_int = _truncated(300 * np.array([exp(-0.8 * x) for x in zs]) * (0.3 + draw_s))
    if vol_ is None or size_int is None:
        return None
    size = np.maximum(size_int, 1)
    draw_bs = np.array([crc32(minute, c) for c in crc_bs]) / 4_294_967_296.0
    bsz_int = _truncated(size.astype(np.float64) * (0.5 + draw_bs))
    steps = inside / tick  # the last price in ticks, to be rounded to a whole number
    if bsz_int is None or not bool(np.all(np.abs(steps) < _INT_SAFE)):
        return None
    bsz = np.maximum(bsz_int, 1)
    last = np.maximum(np.rint(steps) * tick, tick)
    return [list(symbol), bid.tolist(), ask.tolist(), bsz.tolist(), size.tolist(),
            [round(x, 2) for x in last.tolist()], vol_.tolist(), oi.tolist(),
            [round(x, 4) for x in iv.tolist()], delta.tolist(), gamma.tolist(), theta.tolist(),
            vega.tolist(), rho.tolist()]


class _Priced(NamedTuple):
    """Contracts priced together at one time, as columns of what their snapshots hold.

    Row ``i`` is the snapshot of ``contracts[i]`` at ``t``; the columns after ``contracts``
    follow the snapshot's fields (the Greeks' own last).
    """

    underlying: str
    t: datetime
    contracts: Sequence[OptionContract]
    symbol: Sequence[str]
    bid: Sequence[float]
    ask: Sequence[float]
    bid_size: Sequence[int]
    ask_size: Sequence[int]
    last: Sequence[float]
    volume: Sequence[int]
    open_interest: Sequence[int]
    iv: Sequence[float]
    delta: Sequence[float]
    gamma: Sequence[float]
    theta: Sequence[float]
    vega: Sequence[float]
    rho: Sequence[float]

    @classmethod
    def from_rows(
        cls, underlying: str, t: datetime, contracts: Sequence[OptionContract],
        rows: list[tuple[Any, ...]],
    ) -> _Priced:
        """Return the columns of ``rows``, each a contract's values (:meth:`row`'s order)."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * _PRICED_VALUES
        return cls(underlying, t, contracts, *columns)

    def row(self, i: int) -> tuple[Any, ...]:
        """Return the values of row ``i``: symbol, bid, ask... rho, in column order."""
        return tuple(column[i] for column in self[3:])

    def snapshot(self, i: int) -> OptionSnapshot:
        """Return the snapshot of row ``i``."""
        c = self.contracts[i]
        sym, bid, ask, bsz, asz, last, vol, oi, iv, d, g, th, v, r = self.row(i)
        return OptionSnapshot(sym, self.underlying, c.expiry, c.right, c.strike, bid, ask, bsz,
                              asz, last, vol, oi, iv, Greeks(d, g, th, v, r), self.t)

    def snapshots(self) -> list[OptionSnapshot]:
        """Return the snapshot of every row, in order."""
        u, t = self.underlying, self.t
        return [OptionSnapshot(sym, u, c.expiry, c.right, c.strike, bid, ask, bsz, asz, last, vol,
                               oi, iv, Greeks(d, g, th, v, r), t)
                for c, sym, bid, ask, bsz, asz, last, vol, oi, iv, d, g, th, v, r
                in zip(self.contracts, *self[3:], strict=True)]

    def chain(self) -> OptionChain:
        """Return the rows as the chain ``OptionChain.from_snapshots(self.snapshots())`` is."""
        from core.options.chain import OptionChain

        numbers = {"bid": self.bid, "ask": self.ask, "bid_size": self.bid_size,
                   "ask_size": self.ask_size, "last": self.last, "volume": self.volume,
                   "open_interest": self.open_interest, "source_iv": self.iv,
                   "source_delta": self.delta, "source_gamma": self.gamma,
                   "source_theta": self.theta, "source_vega": self.vega}
        symbol_columns = self._symbol_columns()
        if symbol_columns is None:  # read from the symbols, as from_snapshots reads them
            return OptionChain.from_snapshot_columns(self.symbol, **numbers)
        return OptionChain(**symbol_columns, **{name: np.asarray(values, dtype=np.float64)
                                                for name, values in numbers.items()})

    def _symbol_columns(self) -> dict[str, Any] | None:
        """Return the chain's symbol, root, is_call, expiry and strike columns made from the
        contracts, or None unless they are what ``OptionChain.from_snapshots`` reads from the
        symbols (``<root><yymmdd><C|P><strike in thousandths, 8 digits>``).

        Each symbol was made from its contract (:meth:`SimMarketData._contract_day`), so they
        are when the root is 1-6 letters or digits (a root such as ``BRK.B`` is not), every
        expiry falls in 2000-2099, and every strike is a positive whole number of thousandths
        below 100,000: then the symbol's strike is ``round(strike * 1000) / 1000``.
        """
        contracts = self.contracts
        if not contracts or _OCC_ROOT.fullmatch(self.underlying) is None:
            return None
        thousandths = np.rint(np.array([c.strike for c in contracts]) * 1000.0)  # as round()
        days = {e: np.datetime64(e, "D") for e in {c.expiry for c in contracts}}
        if (not thousandths.min() > 0.0 or not thousandths.max() <= 99_999_999.0
                or not all(2000 <= e.year <= 2099 for e in days)):
            return None
        return {"symbol": np.array(self.symbol, dtype=object),
                "root": np.full(len(contracts), self.underlying, dtype=object),
                "is_call": np.array([c.right is OptionRight.CALL for c in contracts], dtype=bool),
                "expiry": np.array([days[c.expiry] for c in contracts], dtype="datetime64[D]"),
                "strike": thousandths / 1000}


_OCC_ROOT: Final = re.compile(r"[A-Z0-9]{1,6}")
"""An OCC root as :class:`~core.options.chain.OptionChain` reads symbols (a ``.`` is not one)."""

_PRICED_VALUES: Final = len(_Priced._fields) - 3
"""The number of value columns of :class:`_Priced` (those after ``contracts``)."""


def _snapshot_row(snap: OptionSnapshot) -> tuple[Any, ...]:
    """Return a simulated snapshot's values as a :class:`_Priced` row."""
    g = cast(Greeks, snap.greeks)  # the simulated market always has Greeks
    return (snap.symbol, snap.bid, snap.ask, snap.bid_size, snap.ask_size, snap.last, snap.volume,
            snap.open_interest, snap.iv, g.delta, g.gamma, g.theta, g.vega, g.rho)


class SimMarketData(MarketData):
    """Simulated market data at the injected clock's ``now``."""

    def __init__(
        self,
        clock: Clock,
        *,
        bars_dir: Path | None = None,
        seed: int = 42,
        calendar: MarketCalendar | None = None,
        universe: Mapping[str, tuple[float, float, int]] | None = None,
        rate: float = RATE,
        cache_days: int = 4096,
    ) -> None:
        self.clock = clock
        self.bars_dir = bars_dir
        self.seed = seed
        self.calendar = calendar or MarketCalendar()
        self.rate = rate
        self._universe: dict[str, tuple[float, float, int]] = dict(universe or DEFAULT_UNIVERSE)
        self._cache: OrderedDict[tuple[str, date], DayBars] = OrderedDict()
        self._cache_days = cache_days
        self._newest_day: date | None = None
        # pure functions of their arguments, memoised: the listed expiries of (underlying, day);
        # each contract's per-day facts for the latest trading day; and
        # each contract's snapshot at the latest time priced, per (underlying, spot) (a
        # contract's snapshot does not depend on the other contracts priced with it). Chains
        # priced as columns (option_chain_table) at that time are kept as columns, their
        # contracts indexed and a snapshot made of a row only when one is asked for: the
        # values a contract was first priced with at a time are the ones served at that time.
        self._expiries: dict[tuple[str, date], tuple[date, ...]] = {}
        self._listed: dict[tuple[str, date], frozenset[date]] = {}
        self._spots_at: datetime | None = None
        self._spots: dict[str, float] = {}
        self._day_facts_of: date | None = None
        self._day_facts: dict[OptionContract, _ContractDay] = {}
        self._expiry_facts: dict[date, tuple[str, float, float, float, float]] = {}
        self._oi_suffix = b""
        self._priced_at: tuple[datetime, tzinfo | None, float] | None = None
        self._priced: dict[tuple[str, float], dict[OptionContract, OptionSnapshot]] = {}
        self._priced_blocks: dict[tuple[str, float], list[_Priced]] = {}  # not yet indexed
        self._priced_rows: dict[tuple[str, float], dict[OptionContract, tuple[_Priced, int]]] = {}
        if bars_dir is not None and bars_dir.is_dir():
            for sub in bars_dir.iterdir():
                if sub.is_dir() and any(sub.glob("*.csv")) and sub.name.upper() not in self._universe:
                    self._universe[sub.name.upper()] = self._anchor_from_csv(sub)

    # ---- universe --------------------------------------------------------------------
    @staticmethod
    def _anchor_from_csv(folder: Path) -> tuple[float, float, int]:
        first = sorted(folder.glob("*.csv"))[-1]
        bars = read_bars_csv(first)
        return (bars.close[-1] if len(bars) else 100.0, 0.35, max(1, sum(bars.volume)))

    def add_symbol(self, symbol: str, price: float, vol: float = 0.35, daily_volume: int = 5_000_000) -> None:
        """Make ``symbol`` tradable with a synthetic path around ``price``."""
        self._universe[normalise_symbol(symbol)] = (price, vol, daily_volume)
        self._forget_priced()
        self._spots.clear()

    def knows(self, symbol: str) -> bool:
        """Tell whether ``symbol`` is a stock the simulated market lists."""
        return symbol.upper() in self._universe

    def _check(self, symbol: str) -> str:
        try:
            s = normalise_symbol(symbol)
        except ValueError:
            raise UnknownSymbol(f"unknown symbol {symbol!r}") from None
        if s not in self._universe:
            raise UnknownSymbol(f"unknown symbol {s}")
        return s

    # ---- day bars --------------------------------------------------------------------
    def day_bars(self, symbol: str, day: date) -> DayBars:
        """Return the 1-minute bars of ``symbol`` on session ``day`` (CSV, else synthetic)."""
        key = (symbol, day)
        bars = self._cache.get(key)
        if bars is not None:
            self._cache.move_to_end(key)
            return bars
        path = bars_path(self.bars_dir, symbol, day) if self.bars_dir is not None else None
        bars = read_bars_csv(path) if path is not None and path.is_file() else self._synthetic(symbol, day)
        if self._newest_day is None or day > self._newest_day:
            self._newest_day = day
            self._forget_days_before(day - timedelta(days=KEEP_DAYS))
        self._cache[key] = bars
        if len(self._cache) > self._cache_days:
            self._cache.popitem(last=False)
        return bars

    def _forget_days_before(self, oldest: date) -> None:
        """Drop the cached bars of days before ``oldest``: a process that trades day after day
        (the bot, the soak) would otherwise keep every day it ever priced (read back on demand)."""
        for key in [k for k in self._cache if k[1] < oldest]:
            del self._cache[key]

    def _synthetic(self, symbol: str, day: date) -> DayBars:
        anchor, vol, daily_volume = self._universe[symbol]
        rng = np.random.default_rng(_seed(self.seed, symbol, day))
        open_ = self.calendar.session_open(day)
        n = int((self.calendar.session_close(day) - open_).total_seconds() // 60)
        start = anchor * math.exp(rng.normal(0.0, vol / math.sqrt(252.0)))
        shape = _ushape(n)
        sig = vol / math.sqrt(252.0 * 390.0) * shape / shape.mean()
        rets = rng.normal(0.0, 1.0, n) * sig
        close = start * np.exp(np.cumsum(rets))
        opens = np.empty(n)
        opens[0] = start
        opens[1:] = close[:-1]
        wick = np.abs(rng.normal(0.0, 0.6, (2, n))) * sig
        high = np.maximum(opens, close) * (1.0 + wick[0])
        low = np.minimum(opens, close) * (1.0 - wick[1])
        vols = daily_volume / n * shape / shape.mean() * rng.lognormal(0.0, 0.35, n)
        tick = 0.01
        o = np.round(opens / tick) * tick
        c = np.round(close / tick) * tick
        h = np.maximum(np.round(high / tick) * tick, np.maximum(o, c))
        lo = np.minimum(np.round(low / tick) * tick, np.minimum(o, c))
        t0 = int(open_.timestamp())
        return DayBars(
            epoch=list(range(t0, t0 + 60 * n, 60)),
            open=np.round(o, 2).tolist(), high=np.round(h, 2).tolist(),
            low=np.round(lo, 2).tolist(), close=np.round(c, 2).tolist(),
            volume=np.maximum(1, vols).astype(np.int64).tolist(),
        )

    # ---- prices at a time (synchronous, used by the matching engine) -------------------
    def price_at(self, symbol: str, t: datetime) -> float:
        """Return the last price of ``symbol`` at ``t`` (between bars: linear open→close)."""
        if t != self._spots_at:  # remembered for the latest time asked (each minute: many asks)
            self._spots_at = t
            self._spots.clear()
        price = self._spots.get(symbol)
        if price is None:
            price = self._spots[symbol] = self._price_at(symbol, t)
        return price

    def _price_at(self, symbol: str, t: datetime) -> float:
        session = self.calendar.last_session_at(t)
        bars = self.day_bars(symbol, session)
        while not len(bars):
            session = self.calendar.previous_session(session)
            bars = self.day_bars(symbol, session)
        ts = t.timestamp()
        import bisect

        i = bisect.bisect_right(bars.epoch, ts) - 1
        if i < 0:
            prev = self.day_bars(symbol, self.calendar.previous_session(session))
            return prev.close[-1] if len(prev) else bars.open[0]
        frac = (ts - bars.epoch[i]) / 60.0
        if frac >= 1.0:
            return bars.close[i]
        return round(bars.open[i] + (bars.close[i] - bars.open[i]) * frac, 2)

    def quote_at(self, symbol: str, t: datetime) -> Quote:
        """Return the simulated NBBO of a stock at ``t`` (new sizes every minute)."""
        symbol = self._check(symbol)
        p = self.price_at(symbol, t)
        spread = max(0.01, round(p * 0.0001, 2))
        bid = math.floor((p - spread / 2) * 100 + 1e-9) / 100
        ask = round(bid + spread, 2)
        minute = int(t.timestamp()) // 60
        bs = 100 * (1 + int(_unit(f"{symbol}:b:{minute}") * 8))
        as_ = 100 * (1 + int(_unit(f"{symbol}:a:{minute}") * 8))
        return Quote(symbol, bid, ask, bs, as_, t)

    def trade_at(self, symbol: str, t: datetime) -> Trade:
        """Return the last trade of a stock at ``t``."""
        symbol = self._check(symbol)
        minute = int(t.timestamp()) // 60
        return Trade(symbol, self.price_at(symbol, t), 1 + int(_unit(f"{symbol}:t:{minute}") * 300), t)

    # ---- option chains -----------------------------------------------------------------
    def expiries(self, underlying: str, as_of: date) -> list[date]:
        """Return the listed expiries of ``underlying`` from ``as_of`` on (weeklies, monthlies)."""
        key = (underlying, as_of)
        listed = self._expiries.get(key)
        if listed is None:
            if len(self._expiries) >= self._cache_days or (
                self._newest_day is not None and as_of > self._newest_day
            ):  # a new day: the earlier days' lists are not asked for again
                self._expiries.clear()
                self._listed.clear()
            listed = self._expiries[key] = tuple(self._list_expiries(underlying, as_of))
        return list(listed)

    def _listed_expiries(self, underlying: str, as_of: date) -> frozenset[date]:
        listed = self._listed.get((underlying, as_of))
        if listed is None:
            listed = self._listed[(underlying, as_of)] = frozenset(self.expiries(underlying, as_of))
        return listed

    def _list_expiries(self, underlying: str, as_of: date) -> list[date]:
        cal = self.calendar
        out: set[date] = set()
        end_weekly = as_of + timedelta(days=60)
        if underlying in PENNY_ALL_PRICES:
            out.update(cal.sessions_between(as_of, as_of + timedelta(days=21)))
        d = as_of
        while d <= end_weekly:
            if d.weekday() == 4:
                out.add(d if cal.is_session(d) else cal.previous_session(d))
            d += timedelta(days=1)
        for k in range(13):
            y, m = divmod(as_of.month - 1 + k, 12)
            tf = _third_friday(as_of.year + y, m + 1)
            out.add(tf if cal.is_session(tf) else cal.previous_session(tf))
        return sorted(x for x in out if x >= as_of and cal.is_session(x))

    def _listed_strikes(self, underlying: str, spot: float) -> np.ndarray:
        step = strike_step(underlying, spot)
        lo = math.floor(spot * 0.7 / step) * step
        hi = math.ceil(spot * 1.3 / step) * step
        return np.round(np.arange(lo, hi + step / 2, step), 2)

    def chain_at(
        self, underlying: str, t: datetime, chain_filter: ChainFilter | None = None
    ) -> list[OptionSnapshot]:
        """Return the priced chain of ``underlying`` at ``t``."""
        underlying, spot, contracts = self._chain_contracts(underlying, t, chain_filter)
        return self._price(underlying, spot, t, contracts)

    def chain_table_at(
        self, underlying: str, t: datetime, chain_filter: ChainFilter | None = None
    ) -> OptionChain:
        """Return ``OptionChain.from_snapshots(self.chain_at(underlying, t, chain_filter))``.

        The same chain, column for column, from the same prices (and the same cache: see
        :meth:`_price_table`), filled without making a snapshot object per contract.
        """
        underlying, spot, contracts = self._chain_contracts(underlying, t, chain_filter)
        if not contracts:
            from core.options.chain import OptionChain

            return OptionChain.from_snapshots([])
        return self._price_table(underlying, spot, t, contracts).chain()

    def _chain_contracts(
        self, underlying: str, t: datetime, chain_filter: ChainFilter | None
    ) -> tuple[str, float, list[OptionContract]]:
        """Return the checked underlying, its price at ``t`` and its contracts passing the
        filter at ``t`` (in chain order: expiry, then right, then strike)."""
        underlying = self._check(underlying)
        f = chain_filter or ChainFilter()
        today = self.calendar.trading_date(t)
        spot = self.price_at(underlying, t)
        strikes_all = self._listed_strikes(underlying, spot)
        keep = np.ones(len(strikes_all), bool)
        if f.strike_min is not None:
            keep &= strikes_all >= f.strike_min - 1e-9
        if f.strike_max is not None:
            keep &= strikes_all <= f.strike_max + 1e-9
        strikes_sel = strikes_all[keep].tolist()  # plain floats, the same values
        contracts: list[OptionContract] = []
        for exp in self.expiries(underlying, today):
            if (f.expiry_from and exp < f.expiry_from) or (f.expiry_to and exp > f.expiry_to):
                continue
            if self.calendar.session_close(exp) <= t:
                continue
            for right in (OptionRight.CALL, OptionRight.PUT):
                if f.right is not None and right is not f.right:
                    continue
                contracts.extend(OptionContract(underlying, exp, right, k) for k in strikes_sel)
        return underlying, spot, contracts

    def is_listed(self, contract: OptionContract, t: datetime) -> bool:
        """Tell whether ``contract`` trades at ``t`` (listed expiry, strike on the grid)."""
        if contract.underlying not in self._universe:
            return False
        today = self.calendar.trading_date(t)
        if contract.expiry not in self._listed_expiries(contract.underlying, today):
            return False
        if self.calendar.session_close(contract.expiry) <= t:
            return False
        spot = self.price_at(contract.underlying, t)
        k = contract.strike
        return abs(k * 2 - round(k * 2)) < 1e-9 and 0.5 * spot <= k <= 1.5 * spot

    def option_quote_at(self, symbol: str, t: datetime) -> OptionSnapshot:
        """Return the snapshot of one contract at ``t``; raise ``UnknownSymbol`` if unlisted."""
        contract = self._parse(symbol)
        if contract is None:
            raise UnknownSymbol(f"not an option contract: {symbol!r}")
        if not self.is_listed(contract, t):
            raise UnknownSymbol(f"no such contract listed: {contract.symbol}")
        spot = self.price_at(contract.underlying, t)
        return self._price(contract.underlying, spot, t, [contract])[0]

    def option_quotes_at(self, symbols: Iterable[str], t: datetime) -> dict[str, OptionSnapshot]:
        """Return snapshots of many contracts at ``t``, each underlying priced in one pass."""
        groups: dict[str, list[OptionContract]] = {}
        for symbol in symbols:
            contract = self._parse(symbol)
            if contract is not None and self.is_listed(contract, t):
                groups.setdefault(contract.underlying, []).append(contract)
        out: dict[str, OptionSnapshot] = {}
        for underlying, contracts in groups.items():
            spot = self.price_at(underlying, t)
            for snap in self._price(underlying, spot, t, contracts):
                out[snap.symbol] = snap
        return out

    @staticmethod
    def _parse(symbol: str) -> OptionContract | None:
        """Return the contract of an OCC symbol, None if it is not one (parses are remembered)."""
        try:
            return OptionContract.parse_cached(symbol)
        except ValueError:
            return None

    def settlement_price(self, underlying: str, day: date) -> float:
        """Return the closing price of ``underlying`` on session ``day`` (used at expiry)."""
        bars = self.day_bars(underlying, day)
        return bars.close[-1]

    def _price(
        self, underlying: str, spot: float, t: datetime, contracts: list[OptionContract]
    ) -> list[OptionSnapshot]:
        """Price ``contracts``; a contract already priced at the same ``t`` (alone or with any
        others) is served from the cache, the rest are priced together in one pass."""
        if not contracts:
            return []
        key = (underlying, spot)
        self._enter_scope(t)
        priced = self._priced.setdefault(key, {})
        if not priced and not self._has_columns(key):  # nothing priced yet: no look-ups
            fresh = self._price_now(underlying, spot, t, contracts)
            priced.update(zip(contracts, fresh, strict=True))
            return fresh
        missing = [c for c in dict.fromkeys(contracts) if c not in priced]
        if missing:
            rows = self._column_rows(key)
            unpriced: list[OptionContract] = []
            for c in missing:
                hit = rows.get(c)
                if hit is None:
                    unpriced.append(c)
                else:  # priced in a chain's columns at this time: its snapshot, made now
                    priced[c] = hit[0].snapshot(hit[1])
            if unpriced:
                priced.update(zip(unpriced, self._price_now(underlying, spot, t, unpriced), strict=True))
        return [priced[c] for c in contracts]

    def _price_table(
        self, underlying: str, spot: float, t: datetime, contracts: list[OptionContract]
    ) -> _Priced:
        """Return :meth:`_price` of the distinct ``contracts`` as columns, from the same cache.

        Contracts already priced at ``t`` keep their values (as snapshots or as columns); the
        rest are priced together and kept as columns, made snapshots only if asked for later.
        """
        key = (underlying, spot)
        self._enter_scope(t)
        if not self._priced.get(key) and not self._has_columns(key):  # the usual: a new minute
            block = self._price_columns(underlying, spot, t, contracts)
            self._priced_blocks[key] = [block]
            return block
        priced = self._priced.setdefault(key, {})
        rows = self._column_rows(key)
        unpriced = [c for c in contracts if c not in priced and c not in rows]
        if unpriced:
            block = self._price_columns(underlying, spot, t, unpriced)
            rows.update(zip(unpriced, ((block, i) for i in range(len(unpriced))), strict=True))
        values: list[tuple[Any, ...]] = []
        for c in contracts:
            snap = priced.get(c)
            if snap is not None:
                values.append(_snapshot_row(snap))
            else:
                block, i = rows[c]
                values.append(block.row(i))
        return _Priced.from_rows(underlying, t, contracts, values)

    def _enter_scope(self, t: datetime) -> None:
        """Forget what was priced unless it was priced at ``t`` (and at the same rate)."""
        scope = (t, t.tzinfo, self.rate)  # the time zone too: it shows in the snapshots' timestamp
        if scope != self._priced_at:
            self._priced_at = scope
            self._forget_priced()

    def _forget_priced(self) -> None:
        self._priced.clear()
        self._priced_blocks.clear()
        self._priced_rows.clear()

    def _has_columns(self, key: tuple[str, float]) -> bool:
        """Tell whether chains of ``key`` were priced as columns at the current time."""
        return key in self._priced_blocks or bool(self._priced_rows.get(key))

    def _column_rows(self, key: tuple[str, float]) -> dict[OptionContract, tuple[_Priced, int]]:
        """Return where each contract priced in columns under ``key`` is (block, row), indexing
        the blocks not indexed yet (a contract's first pricing at a time is the one kept)."""
        rows = self._priced_rows.setdefault(key, {})
        for block in self._priced_blocks.pop(key, ()):
            for i, c in enumerate(block.contracts):
                rows.setdefault(c, (block, i))
        return rows

    def _contract_days(self, today: date, contracts: Sequence[OptionContract]) -> list[_ContractDay]:
        """Return the per-day facts of each contract on trading day ``today`` (kept for the day)."""
        if today != self._day_facts_of:
            self._day_facts_of = today
            self._day_facts.clear()
            self._expiry_facts.clear()
            self._oi_suffix = f":oi:{today}".encode()
        facts = self._day_facts
        out: list[_ContractDay] = []
        for c in contracts:
            f = facts.get(c)
            if f is None:
                f = facts[c] = self._contract_day(today, c)
            out.append(f)
        return out

    def _contract_day(self, today: date, c: OptionContract) -> _ContractDay:
        e = c.expiry
        per_expiry = self._expiry_facts.get(e)
        if per_expiry is None:  # the expiry's part: symbol date, days away, monthly, the ages
            days_away = float((e - today).days)
            tf = _third_friday(e.year, e.month)
            per_expiry = self._expiry_facts[e] = (
                f"{e:%y%m%d}", days_away, 2.5 if e == tf or e + timedelta(days=1) == tf else 1.0,
                min(1.0, (days_away + 2) / 10), 0.04 + 0.8 * math.exp(-days_away / 2.0))
        yymmdd, days, monthly, oi_age, vol_age = per_expiry
        sym = f"{c.underlying}{yymmdd}{'C' if c.right is OptionRight.CALL else 'P'}{round(c.strike * 1000):08d}"
        crc = zlib.crc32(sym.encode())  # each draw's key is "<symbol>:<draw>:<day or minute>"
        # np.isclose(m, 0.0) | np.isclose(m, 5.0) with its default tolerances, written out
        m5 = c.strike % 5.0  # the same remainder as np.mod
        round_strike = abs(m5) <= 1e-08 or abs(m5 - 5.0) <= 1e-08 + 1e-05 * 5.0
        return _ContractDay(  # in field order (positional: a chain makes a thousand at once)
            sym, days, monthly, 1.8 if round_strike else 1.0,
            0.4 + 1.2 * _unit_after(crc, self._oi_suffix),  # the open-interest draw
            oi_age, vol_age,
            zlib.crc32(b":v:", crc), zlib.crc32(b":s:", crc), zlib.crc32(b":bs:", crc),
        )

    def _price_now(
        self, underlying: str, spot: float, t: datetime, contracts: list[OptionContract]
    ) -> list[OptionSnapshot]:
        """Return the snapshots of ``contracts`` at ``t``, priced together (no cache)."""
        return self._price_columns(underlying, spot, t, contracts).snapshots()

    def _price_columns(
        self, underlying: str, spot: float, t: datetime, contracts: Sequence[OptionContract]
    ) -> _Priced:
        """Return ``contracts`` at ``t`` priced together (no cache), as columns."""
        _, base_vol, daily_volume = self._universe[underlying]
        cal = self.calendar
        today = cal.trading_date(t)
        facts = self._contract_days(today, contracts)
        # per expiry: years to its close (a minute at least)
        years = {e: max((cal.session_close(e) - t).total_seconds(), 60.0) / YEAR_SECONDS
                 for e in {c.expiry for c in contracts}}
        minute = str(int(t.timestamp()) // 60).encode()
        oi_base = daily_volume / 2000.0
        open_t = cal.session_open(today) if cal.is_session(today) else t
        day_frac = min(max((t - open_t).total_seconds() / 23_400.0, 0.0), 1.0)
        if len(contracts) <= FEW_CONTRACTS:
            one_by_one = [_quote_one(underlying, base_vol, spot, self.rate, c.strike, years[c.expiry],
                                     c.right is OptionRight.CALL, f.days)
                          for c, f in zip(contracts, facts, strict=True)]
            if all(row is not None for row in one_by_one):
                rows = _minute_rows(facts, cast(list[tuple[float, ...]], one_by_one), minute,
                                    oi_base, day_frac)
                return _Priced.from_rows(underlying, t, contracts, rows)
        quotes = self._quote_arrays(underlying, base_vol, spot, contracts, facts, years)
        columns = _minute_columns(facts, quotes, minute, oi_base, day_frac)
        if columns is None:  # not all finite: one by one, failing (or not) as ever
            quote_rows = zip(*(q.tolist() for q in quotes), strict=True)
            rows = _minute_rows(facts, quote_rows, minute, oi_base, day_frac)
            return _Priced.from_rows(underlying, t, contracts, rows)
        return _Priced(underlying, t, contracts, *columns)

    def _quote_arrays(
        self, underlying: str, base_vol: float, spot: float, contracts: Sequence[OptionContract],
        facts: list[_ContractDay], years: dict[date, float],
    ) -> tuple[np.ndarray, ...]:
        """Return the arrays z, tick, inside, bid, ask, iv, delta, gamma, theta, vega and rho of
        the contracts (what :func:`_quote_one` gives of each)."""
        k = np.array([c.strike for c in contracts])
        tt = np.array([years[c.expiry] for c in contracts])
        is_call = np.array([c.right is OptionRight.CALL for c in contracts])
        days = np.array([f.days for f in facts])
        iv = smile_vol(base_vol, spot, k, tt)
        price, delta, gamma, theta, vega, rho = price_contracts(spot, k, tt, self.rate, 0.0, iv, is_call)
        # spreads: wider for far strikes (in standard deviations) and short expiries
        z = np.abs(np.log(k / spot)) / (iv * np.sqrt(tt))
        width = price * (0.012 + 0.02 * np.minimum(z, 4.0) + 0.03 / (1.0 + days)) + 0.01
        ticks = _option_ticks(underlying, price)
        bid = np.maximum(_floor_tick(price - width / 2, ticks), 0.0)
        ask = np.maximum(_ceil_tick(price + width / 2, ticks), bid + ticks)
        ask = np.round(ask, 2)
        inside = np.clip(price, bid, ask)
        return z, ticks, inside, bid, ask, iv, delta, gamma, theta, vega, rho

    # ---- the MarketData interface --------------------------------------------------------
    async def latest_quote(self, symbol: str) -> Quote:
        """Return the current stock quote."""
        return self.quote_at(symbol, self.clock.now())

    async def latest_trade(self, symbol: str) -> Trade:
        """Return the current last trade."""
        return self.trade_at(symbol, self.clock.now())

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe_minutes: int = 1
    ) -> list[Bar]:
        """Return completed bars starting in ``[start, end)`` (never past the clock)."""
        symbol = self._check(symbol)
        if timeframe_minutes < 1:
            raise ValueError("timeframe must be at least one minute")
        now_ts = self.clock.now().timestamp()
        s_ts, e_ts = start.timestamp(), end.timestamp()
        tf = 60 * timeframe_minutes
        out: list[Bar] = []
        for day in self.calendar.sessions_between(self.calendar.trading_date(start), self.calendar.trading_date(end)):
            b = self.day_bars(symbol, day)
            t_open = int(self.calendar.session_open(day).timestamp())
            group: list[int] = []
            cur_bucket = None
            for i, ts in enumerate(b.epoch):
                if ts < s_ts or ts >= e_ts or ts + 60 > now_ts:
                    continue
                bucket = (ts - t_open) // tf
                if cur_bucket is not None and bucket != cur_bucket:
                    out.append(self._agg(symbol, b, group, t_open + cur_bucket * tf))
                    group = []
                cur_bucket = bucket
                group.append(i)
            if group and cur_bucket is not None:
                out.append(self._agg(symbol, b, group, t_open + cur_bucket * tf))
        return out

    @staticmethod
    def _agg(symbol: str, b: DayBars, idx: list[int], start: int) -> Bar:
        return Bar(symbol, datetime.fromtimestamp(start, UTC), b.open[idx[0]],
                   max(b.high[i] for i in idx), min(b.low[i] for i in idx), b.close[idx[-1]],
                   sum(b.volume[i] for i in idx))

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> list[OptionSnapshot]:
        """Return the chain at the clock's now."""
        return self.chain_at(underlying, self.clock.now(), chain_filter)

    async def option_chain_table(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> OptionChain:
        """Return the chain at the clock's now as columns (:meth:`chain_table_at`).

        A subclass that changes :meth:`option_chain` or :meth:`chain_at` gets the default
        (its own snapshots, as columns), so the two always agree.
        """
        cls = type(self)
        if cls.option_chain is not SimMarketData.option_chain or cls.chain_at is not SimMarketData.chain_at:
            return await super().option_chain_table(underlying, chain_filter)
        return self.chain_table_at(underlying, self.clock.now(), chain_filter)

    async def option_quote(self, symbol: str) -> OptionSnapshot:
        """Return one contract at the clock's now."""
        return self.option_quote_at(symbol, self.clock.now())

    async def option_quotes(self, symbols: Iterable[str]) -> dict[str, OptionSnapshot]:
        """Return snapshots of many contracts at the clock's now (one pass per underlying)."""
        return self.option_quotes_at(symbols, self.clock.now())

    def price_stream(self, symbols: Iterable[str] = (), *, bars: bool = False) -> SimPriceStream:
        """Stream prices paced by the clock (every second for trades, every minute for bars)."""
        return SimPriceStream(self, symbols, bars=bars)

    def replay(
        self, symbols: Iterable[str], start: datetime, end: datetime, *, clock: object | None = None
    ) -> SimPriceStream:
        """Stream completed 1-minute bars from ``start`` to ``end`` as fast as possible.

        If ``clock`` has a ``set`` method (a :class:`~core.clock.FakeClock`), it is moved to
        each bar's end so everything else sharing the clock sees the replayed time.
        """
        return SimPriceStream(self, symbols, bars=True, start=start, end=end, fast_clock=clock, fast=True)


class SimPriceStream(PriceStream):
    """Prices from :class:`SimMarketData`, paced by the clock or as fast as possible."""

    def __init__(
        self,
        market: SimMarketData,
        symbols: Iterable[str],
        *,
        bars: bool,
        start: datetime | None = None,
        end: datetime | None = None,
        fast: bool = False,
        fast_clock: object | None = None,
        trade_interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self.market = market
        self._symbols: set[str] = set()
        for s in symbols:
            self._symbols.add(market._check(s))
        self.bars = bars
        self.start = start
        self.end = end
        self.fast = fast
        self._fast_clock = fast_clock
        self._interval = timedelta(minutes=1) if bars else trade_interval
        self._closed = False

    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Add symbols (takes effect at the next event time)."""
        for s in symbols:
            self._symbols.add(self.market._check(s))

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Remove symbols."""
        for s in symbols:
            self._symbols.discard(s.upper())

    @property
    def symbols(self) -> frozenset[str]:
        """Return the symbols streamed."""
        return frozenset(self._symbols)

    async def close(self) -> None:
        """End the iteration."""
        self._closed = True

    def __aiter__(self) -> AsyncIterator[PriceEvent]:
        return self._fast_bars() if self.fast else self._paced()

    async def _fast_bars(self) -> AsyncIterator[PriceEvent]:
        m = self.market
        cal = m.calendar
        assert self.start is not None and self.end is not None
        s_ts, e_ts = self.start.timestamp(), self.end.timestamp()
        set_clock = getattr(self._fast_clock, "set", None)
        kind = PriceEventKind.BAR
        for day in cal.sessions_between(cal.trading_date(self.start), cal.trading_date(self.end)):
            syms = sorted(self._symbols)
            days = [(s, m.day_bars(s, day)) for s in syms]
            epochs = sorted({ts for _, b in days for ts in b.epoch})
            index = [dict(zip(b.epoch, range(len(b.epoch)), strict=True)) for _, b in days]
            for n, ts in enumerate(epochs):
                if ts < s_ts or ts + 60 > e_ts:
                    continue
                if self._closed:
                    return
                when = datetime.fromtimestamp(ts, UTC)
                end_t = datetime.fromtimestamp(ts + 60, UTC)
                if set_clock is not None:
                    set_clock(end_t)
                for (sym, b), idx in zip(days, index, strict=True):
                    i = idx.get(ts)
                    if i is None:
                        continue
                    c = b.close[i]
                    yield PriceEvent(sym, c, end_t, kind, b.volume[i],
                                     Bar(sym, when, b.open[i], b.high[i], b.low[i], c, b.volume[i]))
                if n % 512 == 0:
                    await asyncio.sleep(0)

    async def _paced(self) -> AsyncIterator[PriceEvent]:
        m = self.market
        clock = m.clock
        cal = m.calendar
        step = self._interval.total_seconds()
        t = clock.now()
        nxt = datetime.fromtimestamp((math.floor(t.timestamp() / step) + 1) * step, UTC)
        while not self._closed:
            if not cal.is_open(nxt - timedelta(seconds=1)):
                nxt = cal.next_open(nxt)
                nxt = nxt + self._interval
            await clock.sleep_until(nxt)
            if self._closed:
                return
            for sym in sorted(self._symbols):
                if self.bars:
                    bar_start = nxt - timedelta(minutes=1)
                    b = m.day_bars(sym, cal.trading_date(bar_start))
                    try:
                        i = b.epoch.index(int(bar_start.timestamp()))
                    except ValueError:
                        continue
                    bar = Bar(sym, bar_start, b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i])
                    yield PriceEvent(sym, bar.close, nxt, PriceEventKind.BAR, bar.volume, bar)
                else:
                    tr = m.trade_at(sym, nxt)
                    yield PriceEvent(sym, tr.price, nxt, PriceEventKind.TRADE, tr.size)
            nxt = nxt + self._interval
