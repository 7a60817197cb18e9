"""Black–Scholes–Merton prices and Greeks with a continuous dividend yield, vectorized.

All inputs are array-like and broadcast against each other (numpy rules); nothing loops over
contracts in Python. Conventions:

- ``t`` is in years (see :mod:`core.options.expiry`); ``t <= 0`` means expired: the price is
  the intrinsic value, delta is 1/0 (call) or -1/0 (put) by moneyness and the other Greeks are 0.
- ``vol`` is annualised (0.20 = 20 %); ``vol == 0`` prices the discounted forward payoff.
- ``rate`` and ``div_yield`` are continuously compounded annual rates.
- ``is_call`` is boolean (``True`` for calls); the strings ``"C"``/``"P"``/``"call"``/``"put"``
  are accepted as well.
- theta is per calendar day (the year has 365 days), vega per volatility point (0.01) and rho
  per 1 % of rate (0.01), all per unit of underlying (multiply by the contract multiplier).

NaN inputs propagate to NaN outputs; non-positive spot or strike and negative volatility raise
:class:`ValueError`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

logger = logging.getLogger(__name__)

__all__ = ["DAYS_PER_YEAR", "Greeks", "as_is_call", "bsm_greeks", "bsm_price"]

DAYS_PER_YEAR = 365.0
"""Calendar days per year used to express theta per day."""

_INV_SQRT_2PI = 0.3989422804014327

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and sensitivities of a set of options, one array element per option.

    ``theta`` is per calendar day, ``vega`` per volatility point (0.01) and ``rho`` per 1 %
    of interest rate, all per unit of underlying.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray


def as_is_call(is_call: ArrayLike) -> npt.NDArray[np.bool_]:
    """Convert call/put flags (booleans or ``"C"``/``"P"``/``"call"``/``"put"``) to booleans."""
    arr = np.asarray(is_call)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iu":
        if np.any((arr != 0) & (arr != 1)):
            raise ValueError("is_call must be boolean (or 0/1)")
        return arr.astype(bool)
    if arr.dtype.kind in "USO":
        text = np.char.lower(np.char.strip(arr.astype(str)))
        calls = (text == "c") | (text == "call")
        puts = (text == "p") | (text == "put")
        if not np.all(calls | puts):
            bad = np.unique(arr[~(calls | puts)])[:3]
            raise ValueError(f"is_call strings must be C/P/call/put, got {bad.tolist()}")
        return calls
    raise ValueError(f"is_call must be boolean or C/P strings, got dtype {arr.dtype}")


def _float(name: str, value: ArrayLike) -> FloatArray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numeric") from e


def _validated(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> tuple[FloatArray, ...]:
    s = _float("spot", spot)
    k = _float("strike", strike)
    tt = _float("t", t)
    r = _float("rate", rate)
    q = _float("div_yield", div_yield)
    v = _float("vol", vol)
    w = np.where(as_is_call(is_call), 1.0, -1.0)
    with np.errstate(invalid="ignore"):
        if np.any(s <= 0.0):
            raise ValueError("spot must be positive")
        if np.any(k <= 0.0):
            raise ValueError("strike must be positive")
        if np.any(v < 0.0):
            raise ValueError("vol must be non-negative")
    try:
        return tuple(np.broadcast_arrays(s, k, tt, r, q, v, w))
    except ValueError as e:
        raise ValueError(f"inputs do not broadcast together: {e}") from e


def _core(
    s: FloatArray | float,
    k: FloatArray,
    t: FloatArray,
    r: FloatArray | float,
    q: FloatArray | float,
    v: FloatArray,
    w: FloatArray,
    greeks: bool,
) -> Greeks | FloatArray:
    tt = np.maximum(t, 0.0)  # NaN stays NaN
    sqrt_t = np.sqrt(tt)
    sd = v * sqrt_t
    dfq = np.exp(-q * tt)
    dfr = np.exp(-r * tt)
    fwd_s = s * dfq  # discounted forward of the underlying
    pv_k = k * dfr  # present value of the strike
    live = sd > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.where(live, (np.log(fwd_s / pv_k)) / sd + 0.5 * sd, 0.0)
    # Degenerate entries (expired or zero volatility): the payoff is deterministic.
    dead = ~live & ~np.isnan(sd)
    if np.any(dead):
        m = fwd_s - pv_k
        d1 = np.where(dead, np.where(m > 0, np.inf, np.where(m < 0, -np.inf, 0.0)), d1)
    d2 = np.where(live, d1 - sd, d1)
    nd1 = ndtr(w * d1)
    nd2 = ndtr(w * d2)
    price = np.asarray(w * (fwd_s * nd1 - pv_k * nd2) + 0.0)  # + 0.0 turns -0.0 into 0.0
    if not greeks:
        return price
    pdf = np.where(live, _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(live, fwd_s * pdf / (s * s * sd), 0.0)
        decay = np.where(live, fwd_s * pdf * v / (2.0 * sqrt_t), 0.0)
    delta = w * dfq * nd1
    vega = fwd_s * pdf * sqrt_t
    theta_year = -decay - w * r * pv_k * nd2 + w * q * fwd_s * nd1
    theta_year = np.where(tt > 0.0, theta_year, np.where(np.isnan(tt), np.nan, 0.0))
    rho = w * pv_k * tt * nd2
    return Greeks(
        price=price,
        delta=np.asarray(delta + 0.0),
        gamma=np.asarray(gamma),
        theta=np.asarray(theta_year / DAYS_PER_YEAR + 0.0),
        vega=np.asarray(vega * 0.01),
        rho=np.asarray(rho * 0.01 + 0.0),
    )


def bsm_price(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Return Black–Scholes–Merton option prices (per unit of underlying), broadcasting inputs."""
    args = _validated(spot, strike, t, rate, div_yield, vol, is_call)
    out = _core(*args, greeks=False)
    assert isinstance(out, np.ndarray)
    return out


def _bsm_greeks_unchecked(
    spot: float,
    strike: FloatArray,
    t: FloatArray,
    rate: float,
    div_yield: float,
    vol: FloatArray,
    sign: FloatArray,
) -> Greeks:
    """:func:`bsm_greeks` without the input checks, for callers that already hold clean inputs.

    ``strike``, ``t``, ``vol`` and ``sign`` (``1.0`` for calls, ``-1.0`` for puts) are float64
    arrays of one shape; ``spot`` (positive), ``rate`` and ``div_yield`` are plain floats. Every
    output bit is the same as :func:`bsm_greeks` gives for the same inputs: the element-wise
    arithmetic is the same whether a scalar is broadcast or not, and every exponential and
    logarithm is taken of a freshly computed array in both cases. The simulated market prices
    one to five contracts a minute, where the checks would cost as much as the pricing.
    """
    out = _core(spot, strike, t, rate, div_yield, vol, sign, greeks=True)
    assert isinstance(out, Greeks)
    return out


def _bsm_greeks_one(
    s: float, k: float, t: float, r: float, q: float, v: float, w: float
) -> tuple[float, float, float, float, float, float] | None:
    """Price one live option in plain floats: (price, delta, gamma, theta, vega, rho).

    ``w`` is ``1.0`` for a call and ``-1.0`` for a put. Returns None unless the option is live
    and valid (``t > 0``, ``v * sqrt(t) > 0``, positive spot and strike, everything finite): the
    caller prices (or refuses) those with arrays.
    Every result is bit for bit what :func:`_core` gives for the same option in an array: the
    same IEEE operations in the same order, and numpy's own ``exp``/``log`` and scipy's ``ndtr``
    (numpy's ``exp`` and ``log`` can differ from :mod:`math`'s in the last bit). Pricing one to
    five contracts this way costs a fraction of the ~45 array operations of :func:`_core`.
    Keep it in step with :func:`_core`; tests compare the two bit for bit.
    """
    if not (t > 0.0 and s > 0.0 and k > 0.0 and math.isfinite(s * k * t * r * q * v)):
        return None
    sqrt_t = math.sqrt(t)  # correctly rounded, as np.sqrt is
    sd = v * sqrt_t
    if not sd > 0.0:
        return None
    dfq = float(np.exp(-q * t))
    dfr = float(np.exp(-r * t))
    fwd_s = s * dfq
    pv_k = k * dfr
    d1 = float(np.log(fwd_s / pv_k)) / sd + 0.5 * sd
    d2 = d1 - sd
    nd1 = float(ndtr(w * d1))
    nd2 = float(ndtr(w * d2))
    price = w * (fwd_s * nd1 - pv_k * nd2) + 0.0
    pdf = _INV_SQRT_2PI * float(np.exp(-0.5 * d1 * d1))
    gamma = fwd_s * pdf / (s * s * sd)
    decay = fwd_s * pdf * v / (2.0 * sqrt_t)
    delta = w * dfq * nd1
    vega = fwd_s * pdf * sqrt_t
    theta_year = -decay - w * r * pv_k * nd2 + w * q * fwd_s * nd1
    rho = w * pv_k * t * nd2
    return (price, delta + 0.0, gamma, theta_year / DAYS_PER_YEAR + 0.0, vega * 0.01, rho * 0.01 + 0.0)


def bsm_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Return prices and Greeks (theta per day, vega per vol point, rho per 1 % rate)."""
    args = _validated(spot, strike, t, rate, div_yield, vol, is_call)
    out = _core(*args, greeks=True)
    assert isinstance(out, Greeks)
    return out
