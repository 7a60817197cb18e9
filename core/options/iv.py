"""Implied volatility from option prices, vectorized, with a reason code for every entry.

:func:`implied_vol` never raises for market data: entries without a defined implied
volatility get NaN and a :class:`IVReason` explaining why (expired, price outside the
no-arbitrage bounds, no price, ...). Method (details in :mod:`core.options._kernel`): in
Jäckel's normalised form, an interpolated initial guess (within 6.3e-4) and one fifth-order
step on the log of the normalised price; outside the table a Stefanica–Radoičić explicit
guess and two third-order Householder steps; a bracketed fallback for anything left.
Accuracy is at the level of the double-precision price (|σ̂ − σ| < 1e-8 wherever vega is not
negligible). Inputs are processed in cache-sized chunks with reused buffers.

The model is European Black–Scholes–Merton with a continuous dividend yield; for listed
American equity options this is the usual market convention for short expiries.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from core.options import _kernel
from core.options.pricing import Greeks, as_is_call

logger = logging.getLogger(__name__)

__all__ = [
    "IVReason",
    "IVResult",
    "implied_vol",
    "implied_vol_greeks",
    "quote_prices",
]

FloatArray = npt.NDArray[np.float64]


class IVReason(IntEnum):
    """Why an implied volatility is (or is not) defined; stored as ``int8``."""

    OK = _kernel.OK
    EXPIRED = _kernel.EXPIRED
    """Time to expiry is zero or negative."""
    NO_PRICE = _kernel.NO_PRICE
    """Price missing, zero or negative (or a quote with no ask)."""
    BELOW_INTRINSIC = _kernel.BELOW_INTRINSIC
    """Price at or below the discounted intrinsic value: no time value to invert."""
    ABOVE_UPPER_BOUND = _kernel.ABOVE_UPPER_BOUND
    """Price at or above the no-arbitrage maximum (spot·e^{-qt} for calls, K·e^{-rt} for puts)."""
    CROSSED_QUOTE = 5
    """Bid above ask."""
    NOT_CONVERGED = _kernel.NOT_CONVERGED
    """The solver failed even with its bracketed fallback (not expected for valid inputs)."""
    INVALID_INPUT = _kernel.INVALID_INPUT
    """Spot or strike missing or non-positive, or rate/yield not finite."""
    NO_BID = 8
    """One-sided quote (bid zero or missing): the mid is not a price anyone traded at."""


@dataclass(frozen=True, slots=True)
class IVResult:
    """Implied volatilities (NaN where undefined) and their :class:`IVReason` codes."""

    iv: FloatArray
    reason: npt.NDArray[np.int8]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Return the mask of entries with a valid implied volatility."""
        return self.reason == IVReason.OK

    def reason_counts(self) -> dict[IVReason, int]:
        """Return how many entries carry each reason code (only codes that occur)."""
        codes, counts = np.unique(self.reason, return_counts=True)
        return {IVReason(int(c)): int(n) for c, n in zip(codes, counts, strict=True)}


def _prepare(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> tuple[tuple[int, ...], list[FloatArray | float]]:
    """Broadcast the inputs; return the shape and each input flattened (or as a scalar)."""
    arrays: list[FloatArray] = []
    for name, value in (
        ("price", price),
        ("spot", spot),
        ("strike", strike),
        ("t", t),
        ("rate", rate),
        ("div_yield", div_yield),
    ):
        try:
            arrays.append(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} must be numeric") from e
    arrays.append(np.where(as_is_call(is_call), 1.0, -1.0))
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as e:
        raise ValueError(f"inputs do not broadcast together: {e}") from e
    flat: list[FloatArray | float] = []
    for a in arrays:
        if a.size == 1:
            flat.append(float(a.reshape(())))  # shared by every contract: keep it scalar
        else:
            flat.append(np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1))
    return shape, flat


def _run(args: tuple[npt.ArrayLike, ...], greeks: bool) -> tuple[IVResult, Greeks | None]:
    shape, flat = _prepare(*args)
    n = math.prod(shape)
    iv = np.empty(n)
    reason = np.empty(n, dtype=np.int8)
    out_g = [np.empty(n) for _ in range(6)] if greeks else []
    n_chunks = max(1, -(-n // _kernel.CHUNK))
    bounds = [n * i // n_chunks for i in range(n_chunks + 1)]
    with np.errstate(all="ignore"):
        for lo, hi in itertools.pairwise(bounds):
            if hi == lo:
                continue
            _kernel.iv_greeks_chunk(
                *(a[lo:hi] if isinstance(a, np.ndarray) else a for a in flat),
                out_iv=iv[lo:hi],
                out_reason=reason[lo:hi],
                out_greeks=tuple(g[lo:hi] for g in out_g) if greeks else None,
            )
    result = IVResult(iv=iv.reshape(shape), reason=reason.reshape(shape))
    if not greeks:
        return result, None
    return result, Greeks(*(a.reshape(shape) for a in out_g))


def implied_vol(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> IVResult:
    """Return Black–Scholes–Merton implied volatilities of option prices, broadcasting inputs.

    Entries without a defined volatility get NaN and a reason code; nothing raises for
    market data. Raises :class:`ValueError` only for inputs that are not numeric or do not
    broadcast.
    """
    result, _ = _run((price, spot, strike, t, rate, div_yield, is_call), greeks=False)
    return result


def implied_vol_greeks(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> tuple[IVResult, Greeks]:
    """Return implied volatilities and the Greeks at those volatilities in one pass.

    The Greeks follow :func:`core.options.pricing.bsm_greeks` conventions and are NaN where
    the volatility is NaN. ``greeks.price`` is the model price at the implied volatility
    (equal to ``price`` up to rounding).
    """
    result, greeks = _run((price, spot, strike, t, rate, div_yield, is_call), greeks=True)
    assert greeks is not None
    return result, greeks


def quote_prices(bid: npt.ArrayLike, ask: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Return the mid of each quote and a reason code for quotes that have no usable mid.

    Crossed quotes (bid > ask) get :attr:`IVReason.CROSSED_QUOTE`, quotes without an ask get
    :attr:`IVReason.NO_PRICE` and one-sided quotes (no bid) get :attr:`IVReason.NO_BID`;
    their mid is NaN.
    """
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    b, a = np.broadcast_arrays(b, a)
    reason = np.zeros(b.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        reason[~(b > 0.0)] = IVReason.NO_BID
        reason[~(a > 0.0)] = IVReason.NO_PRICE
        reason[(b > a) & (a > 0.0)] = IVReason.CROSSED_QUOTE
    mid = np.where(reason == IVReason.OK, 0.5 * (b + a), np.nan)
    return mid, reason
