"""Option pricing used by the simulated chains, behind one function so it can be swapped.

Uses :mod:`core.options.pricing` (vectorised Black–Scholes–Merton). The volatility smile and
term structure are made up to look like a listed equity-option surface: puts richer than
calls (skew), wings richer than the money (curvature), short expiries a little richer.
"""

from __future__ import annotations

import math
from functools import cache
from types import ModuleType

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@cache
def _pricing() -> ModuleType:
    """Return :mod:`core.options.pricing`, imported on first use (it imports scipy, which is slow
    to import); its functions are looked up at each call, so the module may be swapped."""
    from core.options import pricing

    return pricing


def smile_vol(base_vol: float, spot: float, strikes: FloatArray, t: FloatArray) -> FloatArray:
    """Return the implied volatility of each strike/expiry on a skewed smile."""
    t_eff = np.maximum(t, 1.0 / 365.0 / 6.5)
    m = np.log(strikes / spot) / np.sqrt(t_eff)
    term = 1.0 + 0.12 * np.exp(-t_eff * 24.0)
    vol = base_vol * term * (1.0 - 0.9 * m * base_vol + 1.4 * (m * base_vol) ** 2)
    return np.clip(vol, 0.4 * base_vol, 4.0 * base_vol)


def smile_vol_one(base_vol: float, spot: float, strike: float, t: float) -> float:
    """Return :func:`smile_vol` of one contract in plain floats, bit for bit the same.

    The same operations in the same order, numpy's ``log``/``exp`` (they can differ from
    :mod:`math`'s in the last bit), and ``np.clip``'s choice on ties (the bound). Keep it in
    step with :func:`smile_vol`; tests compare the two bit for bit.
    """
    t_eff = max(t, 1.0 / 365.0 / 6.5)
    m = float(np.log(strike / spot)) / math.sqrt(t_eff)
    term = 1.0 + 0.12 * float(np.exp(-t_eff * 24.0))
    mb = m * base_vol
    vol = base_vol * term * (1.0 - 0.9 * m * base_vol + 1.4 * (mb * mb))  # numpy squares as x * x
    lo, hi = 0.4 * base_vol, 4.0 * base_vol
    vol = vol if vol > lo else lo
    return vol if vol < hi else hi


def price_contract_one(
    spot: float, strike: float, t: float, rate: float, div_yield: float, vol: float, is_call: bool
) -> tuple[float, float, float, float, float, float] | None:
    """Return :func:`price_contracts` of one live contract in plain floats (bit for bit the
    same), or None if it is not live (no time or no volatility left): price those with arrays."""
    return _pricing()._bsm_greeks_one(float(spot), float(strike), float(t), float(rate),
                                      float(div_yield), float(vol), 1.0 if is_call else -1.0)


def price_contracts(
    spot: float,
    strikes: FloatArray,
    t: FloatArray,
    rate: float,
    div_yield: float,
    vol: FloatArray,
    is_call: npt.NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return (price, delta, gamma, theta/day, vega/pt, rho) arrays for the contracts.

    ``strikes``, ``t``, ``vol`` and ``is_call`` are arrays of one shape (the simulated market's
    own). With a positive spot and strikes and no negative volatility, the broadcasting and
    checks of :func:`~core.options.pricing.bsm_greeks` are skipped (the same values); anything
    else goes through it, to be refused as ever.
    """
    pricing = _pricing()
    k = np.asarray(strikes, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    if spot > 0.0 and not np.any(k <= 0.0) and not np.any(v < 0.0):
        g = pricing._bsm_greeks_unchecked(float(spot), k, np.asarray(t, dtype=np.float64), float(rate),
                                          float(div_yield), v, np.where(is_call, 1.0, -1.0))
    else:
        g = pricing.bsm_greeks(spot, strikes, t, rate, div_yield, vol, is_call)
    return (np.asarray(g.price), np.asarray(g.delta), np.asarray(g.gamma),
            np.asarray(g.theta), np.asarray(g.vega), np.asarray(g.rho))
