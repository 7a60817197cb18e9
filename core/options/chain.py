"""Option chains as columns of numpy arrays, our own IV and Greeks, and the parity-implied spot.

An :class:`OptionChain` holds one row per contract but stores every field as a column
(``strike``, ``bid``, ``open_interest``...), so that analytics run on whole chains at once.
Missing numbers are NaN (a blank volume is NaN, not 0). The source's own IV and Greeks are
kept as ``source_*`` columns; :meth:`OptionChain.with_greeks` adds ours, computed from the
mid (or the bid, ask or last) with :func:`core.options.iv.implied_vol_greeks`.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import AplusError
from core.options.expiry import to_datetime64_days, year_fraction_to_close
from core.options.iv import IVReason, implied_vol_greeks, quote_prices
from core.options.occ import InvalidOccSymbol, OccSymbol, OptionRight

logger = logging.getLogger(__name__)

__all__ = [
    "ChainError",
    "ChainGreeks",
    "ImpliedSpot",
    "OptionChain",
    "PriceBasis",
    "implied_spot",
    "implied_spot_detail",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.object_]
DateArray = npt.NDArray[np.datetime64]

_FLOAT_COLUMNS = (
    "strike",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "last",
    "volume",
    "open_interest",
    "source_iv",
    "source_delta",
    "source_gamma",
    "source_theta",
    "source_vega",
)

# Accepted spellings of each field in rows given to OptionChain.from_rows.
_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "contract_symbol", "contractSymbol", "occ_symbol"),
    "bid": ("bid", "bid_price"),
    "ask": ("ask", "ask_price"),
    "bid_size": ("bid_size", "bidSize"),
    "ask_size": ("ask_size", "askSize"),
    "last": ("last", "last_price", "lastPrice"),
    "volume": ("volume",),
    "open_interest": ("open_interest", "openInterest", "oi"),
    "source_iv": ("iv", "implied_volatility", "impliedVolatility", "source_iv"),
    "source_delta": ("delta", "source_delta"),
    "source_gamma": ("gamma", "source_gamma"),
    "source_theta": ("theta", "source_theta"),
    "source_vega": ("vega", "source_vega"),
}


class ChainError(AplusError, ValueError):
    """Raised for chains that cannot be built or analysed (the message says why)."""


class PriceBasis(StrEnum):
    """Which price our IV and Greeks are computed from."""

    MID = "mid"
    BID = "bid"
    ASK = "ask"
    LAST = "last"


@dataclass(frozen=True, eq=False)
class ChainGreeks:
    """Our IV and Greeks for every contract of a chain (arrays aligned with the chain).

    ``reason`` is an :class:`~core.options.iv.IVReason` code per contract (quote problems such
    as crossed or one-sided quotes included); IV and Greeks are NaN where it is not OK.
    Greeks follow :func:`core.options.pricing.bsm_greeks` (theta per day, vega per vol point,
    rho per 1 %), per share.
    """

    basis: PriceBasis
    now: datetime
    rate: float
    div_yield: FloatArray
    spot: FloatArray
    t: FloatArray
    price: FloatArray
    iv: FloatArray
    reason: npt.NDArray[np.int8]
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray

    def take(self, index: npt.NDArray[np.intp] | BoolArray) -> ChainGreeks:
        """Return the rows selected by ``index`` (an index array or boolean mask)."""
        arrays = {
            f.name: getattr(self, f.name)[index]
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return dataclasses.replace(self, **arrays)


def _col(values: npt.ArrayLike, n: int, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        raise ChainError(f"column {name} has {arr.shape[0]} values for {n} contracts")
    return arr


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


@dataclass(frozen=True, eq=False)
class OptionChain:
    """Option contracts as columns; every array has one element per contract.

    ``root`` is the OCC root (the underlying's ticker for standard contracts), ``is_call``
    the right, ``expiry`` a ``datetime64[D]`` column. Sizes, volume and open interest are
    floats so that "missing" (NaN) differs from zero. ``computed`` holds our own IV and
    Greeks once :meth:`with_greeks` has run.
    """

    symbol: StrArray
    root: StrArray
    is_call: BoolArray
    strike: FloatArray
    expiry: DateArray
    bid: FloatArray
    ask: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    last: FloatArray
    volume: FloatArray
    open_interest: FloatArray
    source_iv: FloatArray
    source_delta: FloatArray
    source_gamma: FloatArray
    source_theta: FloatArray
    source_vega: FloatArray
    computed: ChainGreeks | None = None

    def __post_init__(self) -> None:
        n = len(np.asarray(self.symbol).reshape(-1))
        object.__setattr__(self, "symbol", np.asarray(self.symbol, dtype=object).reshape(-1))
        object.__setattr__(self, "root", np.asarray(self.root, dtype=object).reshape(-1))
        is_call = np.asarray(self.is_call).reshape(-1)
        if is_call.dtype != np.bool_ or is_call.shape[0] != n:
            raise ChainError("is_call must be a boolean column with one value per contract")
        object.__setattr__(self, "is_call", is_call)
        expiry = to_datetime64_days(self.expiry).reshape(-1)
        if expiry.shape[0] != n:
            raise ChainError(f"column expiry has {expiry.shape[0]} values for {n} contracts")
        object.__setattr__(self, "expiry", expiry)
        if self.root.shape[0] != n:
            raise ChainError(f"column root has {self.root.shape[0]} values for {n} contracts")
        for name in _FLOAT_COLUMNS:
            object.__setattr__(self, name, _col(getattr(self, name), n, name))
        if self.computed is not None and self.computed.iv.shape[0] != n:
            raise ChainError("computed Greeks do not match the chain's length")

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def empty(cls) -> OptionChain:
        """Return a chain with no contracts."""
        return cls.from_rows([])

    @classmethod
    def from_symbols(
        cls, symbols: Iterable[str | OccSymbol], **columns: npt.ArrayLike
    ) -> OptionChain:
        """Build a chain from OCC symbols plus any float columns given by name (NaN otherwise)."""
        parsed = [s if isinstance(s, OccSymbol) else OccSymbol.parse(s) for s in symbols]
        n = len(parsed)
        unknown = set(columns) - set(_FLOAT_COLUMNS) - {"strike"}
        if unknown:
            raise ChainError(f"unknown chain columns: {sorted(unknown)}")
        data: dict[str, Any] = {name: columns.get(name, _nan(n)) for name in _FLOAT_COLUMNS}
        data["strike"] = np.array([float(s.strike) for s in parsed], dtype=np.float64)
        return cls(
            symbol=np.array([str(s) for s in parsed], dtype=object),
            root=np.array([s.root for s in parsed], dtype=object),
            is_call=np.array([s.right is OptionRight.CALL for s in parsed], dtype=bool),
            expiry=np.array([s.expiry for s in parsed], dtype="datetime64[D]"),
            **data,
        )

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any] | Any]) -> OptionChain:
        """Build a chain from mappings or small objects (dataclasses, models) with attributes.

        Each row needs an OCC ``symbol`` (also ``contract_symbol``/``contractSymbol``) and may
        carry ``bid``, ``ask``, ``bid_size``, ``ask_size``, ``last``, ``volume``,
        ``open_interest``, and the source's ``iv``, ``delta``, ``gamma``, ``theta``, ``vega``.
        Missing or blank values become NaN; a bad symbol or number raises :class:`ChainError`
        naming the row.
        """
        names = [name for name in _FLOAT_COLUMNS if name != "strike"]
        aliases = [_ALIASES[name] for name in names]
        values: list[list[float]] = [[] for _ in names]
        parts: list[_SymbolParts] = []
        for i, row in enumerate(rows):
            get = row.get if isinstance(row, Mapping) else (lambda k, r=row: getattr(r, k, None))
            raw_symbol = _first(get, _ALIASES["symbol"])
            if raw_symbol is None:
                raise ChainError(f"row {i} has no OCC symbol")
            parts.append(_row_symbol(raw_symbol, i))
            for column, name, names_of in zip(values, names, aliases, strict=True):
                column.append(_to_float(_first(get, names_of), i, name))
        return cls(**_symbol_columns(parts), **{
            name: np.asarray(column, dtype=np.float64)
            for name, column in zip(names, values, strict=True)})

    @classmethod
    def from_snapshots(cls, snapshots: Sequence[Any]) -> OptionChain:
        """Build a chain from market-data snapshots, column by column (faster than rows).

        Each snapshot has the typed fields of
        :class:`~core.marketdata.models.OptionSnapshot`: ``symbol``, ``bid``, ``ask``,
        ``bid_size``, ``ask_size``, ``last``, ``volume``, ``open_interest``, ``iv`` and
        ``greeks`` (``delta``, ``gamma``, ``theta``, ``vega``), None where the source has
        none. The chain is the one :meth:`from_rows` builds from the same values.
        """
        if len(snapshots) == 0:
            return cls.from_rows([])
        # One pass over the snapshots reads every field; columns are then made in C.
        symbol, greeks, *numbers = zip(*map(_SNAPSHOT_FIELDS, snapshots), strict=True)
        columns = np.array(numbers, dtype=np.float64)  # None -> NaN
        greek_rows = [_NO_GREEKS if g is None else _GREEK_FIELDS(g) for g in greeks]
        greek_columns = np.array(list(zip(*greek_rows, strict=True)), dtype=np.float64)
        return cls.from_snapshot_columns(
            symbol,
            **{name: columns[k] for k, name in enumerate(_SNAPSHOT_NUMBERS)},
            **{name: greek_columns[k] for k, name in enumerate(_SNAPSHOT_GREEKS)},
        )

    @classmethod
    def from_snapshot_columns(
        cls, symbol: Sequence[str], **columns: npt.ArrayLike
    ) -> OptionChain:
        """Build the chain :meth:`from_snapshots` builds, from the snapshots' values as columns.

        ``symbol`` holds each contract's OCC symbol, read as :meth:`from_snapshots` reads a
        snapshot's (the same columns, the same errors). ``columns`` holds, under the chain's
        names, every number :meth:`from_snapshots` takes from a snapshot, one value per symbol
        (None or NaN where the source has none): ``bid``, ``ask``, ``bid_size``, ``ask_size``,
        ``last``, ``volume``, ``open_interest``, ``source_iv`` (the snapshot's ``iv``) and
        ``source_delta``, ``source_gamma``, ``source_theta``, ``source_vega`` (its Greeks).
        For a market-data source that prices a chain in columns.
        """
        if set(columns) != _SNAPSHOT_COLUMNS:
            raise ChainError(f"snapshot columns must be {sorted(_SNAPSHOT_COLUMNS)}, "
                             f"not {sorted(columns)}")
        if len(symbol) == 0:
            return cls.from_rows([])
        return cls(
            **_snapshot_symbol_columns(symbol),
            **{name: np.asarray(values, dtype=np.float64) for name, values in columns.items()},
        )

    @classmethod
    def from_yahoo_csv(cls, path: str | Path, underlying: str | None = None) -> OptionChain:
        """Load a Yahoo-style options CSV (``contractSymbol``, ``bid``, ``ask``, ``volume``...).

        Keeps only ``underlying``'s contracts when given. Blank volume or open interest is NaN.
        """
        with Path(path).open(newline="") as fh:
            reader = csv.DictReader(fh)
            rows = [
                r
                for r in reader
                if underlying is None
                or r.get("contractSymbol", "")[:-15].upper() == underlying.upper()
            ]
        if underlying is not None and not rows:
            raise ChainError(f"no contracts for {underlying} in {path}")
        return cls.from_rows(rows)

    # --- basic views -----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.symbol.shape[0])

    @property
    def underlyings(self) -> list[str]:
        """Return the sorted OCC roots present in the chain."""
        return sorted({str(r) for r in self.root})

    @property
    def expiries(self) -> list[date]:
        """Return the sorted expiry dates present in the chain."""
        return [d.astype(object) for d in np.unique(self.expiry)]

    @property
    def mid(self) -> FloatArray:
        """Return the mid price, NaN where the quote is one-sided, missing or crossed."""
        return quote_prices(self.bid, self.ask)[0]

    @property
    def spread(self) -> FloatArray:
        """Return ask - bid (NaN where either side is missing)."""
        return self.ask - self.bid

    def right(self, i: int) -> OptionRight:
        """Return the right of contract ``i``."""
        return OptionRight.CALL if self.is_call[i] else OptionRight.PUT

    def occ(self, i: int) -> OccSymbol:
        """Return the parsed OCC symbol of contract ``i``."""
        return OccSymbol.parse(str(self.symbol[i]))

    def index_of(self, symbol: str | OccSymbol) -> int:
        """Return the row of ``symbol``; raise :class:`ChainError` if absent."""
        text = str(symbol).replace(" ", "").upper()
        hits = np.flatnonzero(self.symbol == text)
        if hits.size == 0:
            raise ChainError(f"{text} is not in the chain")
        return int(hits[0])

    def take(self, index: npt.NDArray[np.intp] | BoolArray) -> OptionChain:
        """Return the contracts selected by ``index`` (an index array or boolean mask)."""
        columns = {
            name: getattr(self, name)[index]
            for name in (*_FLOAT_COLUMNS, "symbol", "root", "is_call", "expiry")
        }
        computed = self.computed.take(index) if self.computed is not None else None
        return OptionChain(**columns, computed=computed)

    def for_underlying(self, root: str) -> OptionChain:
        """Return the contracts of one underlying (by OCC root)."""
        return self.take(self.root == root.upper())

    def split(self) -> dict[str, OptionChain]:
        """Return one chain per underlying."""
        return {root: self.for_underlying(root) for root in self.underlyings}

    # --- analytics -------------------------------------------------------------------------

    def years_to_expiry(self, now: datetime) -> FloatArray:
        """Return years from ``now`` to the 16:00 New York close on each contract's expiry."""
        t = year_fraction_to_close(now, self.expiry)
        assert isinstance(t, np.ndarray)
        return t

    def with_greeks(
        self,
        spot: float | Mapping[str, float],
        now: datetime,
        rate: float,
        div_yield: float | Mapping[str, float] = 0.0,
        basis: PriceBasis | str = PriceBasis.MID,
    ) -> OptionChain:
        """Return a copy with our IV and Greeks in :attr:`computed`.

        ``spot`` (and ``div_yield``) is one number or a mapping from OCC root to number for
        multi-underlying chains. Prices come from ``basis``: the mid (quotes that are
        crossed, one-sided or missing get a reason code instead), the bid, the ask or the last
        trade.
        """
        basis = PriceBasis(basis)
        spots = self._per_root(spot, "spot")
        yields = self._per_root(div_yield, "div_yield")
        t = self.years_to_expiry(now)
        if basis is PriceBasis.MID:
            price, quote_reason = quote_prices(self.bid, self.ask)
        else:
            price = {
                PriceBasis.BID: self.bid,
                PriceBasis.ASK: self.ask,
                PriceBasis.LAST: self.last,
            }[basis]
            quote_reason = np.zeros(len(self), dtype=np.int8)
            with np.errstate(invalid="ignore"):
                quote_reason[(self.bid > self.ask) & (self.ask > 0)] = IVReason.CROSSED_QUOTE
            if basis is not PriceBasis.LAST:
                price = np.where(quote_reason == IVReason.OK, price, np.nan)
        result, greeks = implied_vol_greeks(
            price, spots, self.strike, t, rate, yields, self.is_call
        )
        reason = np.where(quote_reason != IVReason.OK, quote_reason, result.reason).astype(np.int8)
        computed = ChainGreeks(
            basis=basis,
            now=now,
            rate=float(rate),
            div_yield=yields,
            spot=spots,
            t=t,
            price=price,
            iv=result.iv,
            reason=reason,
            delta=greeks.delta,
            gamma=greeks.gamma,
            theta=greeks.theta,
            vega=greeks.vega,
            rho=greeks.rho,
        )
        return dataclasses.replace(self, computed=computed)

    def _per_root(self, value: float | Mapping[str, float], name: str) -> FloatArray:
        if not isinstance(value, Mapping):
            return np.full(len(self), float(value))
        out = np.full(len(self), np.nan)
        for root in self.underlyings:
            if root not in value:
                raise ChainError(f"no {name} given for {root}")
            out[self.root == root] = float(value[root])
        return out


def _first(get: Any, names: tuple[str, ...]) -> Any:
    """Return the value of the first of ``names`` that ``get`` has (not None), else None."""
    for name in names:
        value = get(name)
        if value is not None:
            return value
    return None


_SymbolParts = tuple[str, str, bool, date, float]  # symbol, root, is_call, expiry, strike


def _row_symbol(raw: str | OccSymbol, row: int) -> _SymbolParts:
    """Return :func:`_symbol_parts` of row ``row``'s symbol; a bad one names the row."""
    try:
        return _symbol_parts(raw)
    except InvalidOccSymbol as e:
        raise ChainError(f"row {row}: {e}") from e


def _snapshot_symbol_columns(raws: Sequence[Any]) -> dict[str, Any]:
    """Return :func:`_symbol_columns` of the symbols ``raws`` (the symbol of row ``i`` first).

    The usual case, every symbol a string already in OCC form (upper case, no spaces, a real
    date and a positive strike), is read by one regex pass over all of them, with the results
    :func:`_symbol_parts` would give; anything else goes through :func:`_row_symbol`, row by row.
    """
    try:
        text = "\n".join(raws)
    except TypeError:  # not all strings (OccSymbol objects, say)
        text = ""
    # One line per symbol, each matched whole, so the i-th match is row i's symbol.
    found = _OCC_LINES.findall(text) if text.count("\n") == len(raws) - 1 else []
    if len(found) == len(raws):
        root, yymmdd, right, digits = zip(*found, strict=True)
        expiries = {d: _yymmdd_date(d) for d in set(yymmdd)}
        strikes = list(map(int, digits))
        if None not in expiries.values() and min(strikes) > 0:
            days = {d: np.datetime64(expiry, "D") for d, expiry in expiries.items()}
            return {"symbol": np.array(text.split("\n"), dtype=object),
                    "root": np.array(root, dtype=object),
                    "is_call": np.array(right) == "C",
                    "expiry": np.array([days[d] for d in yymmdd], dtype="datetime64[D]"),
                    "strike": np.array(strikes, dtype=np.int64) / 1000}
    return _symbol_columns([_row_symbol(raw, i) for i, raw in enumerate(raws)])


def _yymmdd_date(yymmdd: str) -> date | None:
    """Return the date of an OCC ``YYMMDD`` (years 2000-2099), None if there is no such day."""
    try:
        return date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return None


def _symbol_columns(parts: list[_SymbolParts]) -> dict[str, Any]:
    """Return the chain's symbol, root, is_call, expiry and strike columns from ``parts``."""
    symbol, root, is_call, expiry, strike = (
        (list(c) for c in zip(*parts, strict=True)) if parts else ([], [], [], [], []))
    # Each distinct expiry converted once (numpy converts dates one by one, slowly).
    days = {d: np.datetime64(d, "D") for d in set(expiry)}
    return {"symbol": np.array(symbol, dtype=object), "root": np.array(root, dtype=object),
            "is_call": np.array(is_call, dtype=bool),
            "expiry": np.array([days[d] for d in expiry], dtype="datetime64[D]"),
            "strike": np.array(strike, dtype=np.float64)}


def _symbol_parts(raw: str | OccSymbol) -> _SymbolParts:
    """Return (symbol, root, is_call, expiry, strike) of an OCC symbol, as from_symbols has them.

    The same checks as :meth:`OccSymbol.parse`, which raises its own error for a bad symbol.
    """
    if isinstance(raw, OccSymbol):
        return str(raw), raw.root, raw.right is OptionRight.CALL, raw.expiry, float(raw.strike)
    text = str(raw)
    m = _OCC.fullmatch(text.strip().upper())
    if m is not None:
        root, yymmdd, right, digits = m.groups()
        expiry = _yymmdd_date(yymmdd)
        strike = int(digits)
        if expiry is not None and strike > 0:
            return f"{root}{yymmdd}{right}{digits}", root, right == "C", expiry, strike / 1000
    OccSymbol.parse(text)  # raises, saying why
    raise InvalidOccSymbol(f"{text!r} is not an OCC symbol")  # parse accepts what we refused


_OCC = re.compile(r"([A-Z0-9]{1,6}) *(\d{6})([CP])(\d{8})")
# Lines that are OCC symbols in their usual form, which _OCC matches with the same groups.
_OCC_LINES = re.compile(r"^([A-Z0-9]{1,6})(\d{6})([CP])(\d{8})$", re.MULTILINE)

# What OptionChain.from_snapshots reads from each snapshot, and the columns it makes of it.
_SNAPSHOT_NUMBERS = (
    "bid", "ask", "bid_size", "ask_size", "last", "volume", "open_interest", "source_iv")
_SNAPSHOT_FIELDS = operator.attrgetter(
    "symbol", "greeks", *(name.removeprefix("source_") for name in _SNAPSHOT_NUMBERS))
_SNAPSHOT_GREEKS = ("source_delta", "source_gamma", "source_theta", "source_vega")
_GREEK_FIELDS = operator.attrgetter(*(name.removeprefix("source_") for name in _SNAPSHOT_GREEKS))
_NO_GREEKS = (None, None, None, None)
_SNAPSHOT_COLUMNS = frozenset(_SNAPSHOT_NUMBERS + _SNAPSHOT_GREEKS)


def _to_float(raw: Any, row: int, name: str) -> float:
    if raw is None or raw == "":
        return float("nan")
    try:
        return float(raw)
    except (TypeError, ValueError) as e:
        raise ChainError(f"row {row}: {name} is not a number: {raw!r}") from e


@dataclass(frozen=True, slots=True)
class ImpliedSpot:
    """Underlying price implied by put–call parity, with how it was obtained."""

    spot: float
    pairs_used: int
    pairs_available: int
    spread: float
    """Typical half-spread of the pairs used: the estimate's uncertainty, in price units."""


def implied_spot_detail(
    chain: OptionChain, now: datetime, rate: float, div_yield: float = 0.0, pairs: int = 6
) -> ImpliedSpot:
    """Return the parity-implied underlying price and how many call/put pairs support it.

    At each (expiry, strike) where both the call and the put have sane two-sided quotes,
    ``S = (C_mid - P_mid + K e^{-rT}) e^{qT}``. The ``pairs`` pairs nearest the money (smallest
    ``|C - P|``, where early exercise and spreads matter least) are combined by a median
    weighted by the inverse of their combined bid–ask spread. Raises :class:`ChainError` for
    a chain with several underlyings or without any usable pair.
    """
    if len(chain.underlyings) > 1:
        raise ChainError(
            f"chain has several underlyings {chain.underlyings}; use for_underlying() first"
        )
    t = chain.years_to_expiry(now)
    mid = chain.mid
    sane = np.isfinite(mid) & (t > 0)
    calls = np.flatnonzero(sane & chain.is_call)
    puts = np.flatnonzero(sane & ~chain.is_call)
    # Match calls and puts on (expiry, strike).
    call_keys = {(chain.expiry[i], chain.strike[i]): i for i in calls}
    matched = [
        (call_keys[(chain.expiry[j], chain.strike[j])], j)
        for j in puts
        if (chain.expiry[j], chain.strike[j]) in call_keys
    ]
    if not matched:
        raise ChainError("no strike has both a call and a put with two-sided quotes")
    ci = np.array([m[0] for m in matched])
    pi = np.array([m[1] for m in matched])
    tt = t[ci]
    diff = mid[ci] - mid[pi]
    estimates = (diff + chain.strike[ci] * np.exp(-rate * tt)) * np.exp(div_yield * tt)
    spreads = (chain.spread[ci] + chain.spread[pi]) * np.exp(div_yield * tt)
    near = np.argsort(np.abs(diff), kind="stable")[: max(1, pairs)]
    est = estimates[near]
    weights = 1.0 / np.maximum(spreads[near], 1e-4)
    order = np.argsort(est, kind="stable")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, 0.5 * cum[-1]))
    return ImpliedSpot(
        spot=float(est[order][k]),
        pairs_used=int(near.size),
        pairs_available=len(matched),
        spread=float(np.median(spreads[near]) * 0.5),
    )


def implied_spot(chain: OptionChain, now: datetime, rate: float, div_yield: float = 0.0) -> float:
    """Return the underlying price implied by put–call parity (see :func:`implied_spot_detail`)."""
    return implied_spot_detail(chain, now, rate, div_yield).spot
