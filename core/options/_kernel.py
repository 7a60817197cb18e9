"""Chunked numpy kernels for implied volatility and Greeks (private; see :mod:`core.options.iv`).

The problem is solved in Jäckel's normalised form. With forward ``F``, strike ``K``, discount
factor ``D`` and ``x = ln(F/K)``, every option is first turned into the out-of-the-money option
of the same strike (by put–call parity, subtracting the discounted intrinsic value) and then
into an out-of-the-money *call* on ``x̃ = -|x| <= 0`` (puts and calls are mirror images in the
normalised form). Its normalised price is

    b(x̃, s) = e^{x̃/2} N(x̃/s + s/2) - e^{-x̃/2} N(x̃/s - s/2),    β = OTM price / (D √(F K)),

and ``s = σ √t`` is the unknown total volatility. ``b`` runs from 0 to ``e^{x̃/2}``.

1. Initial guess: Stefanica & Radoičić's explicit formula ("An explicit implied volatility
   formula", 2017), which replaces N by Pólya's approximation and solves a quadratic; within
   17 % of the answer. Near the money with little time value (where that formula cancels
   badly) the Brenner–Subrahmanyam expansion ``s ≈ √(2π) (β - x̃/2)`` is used instead.
2. Two third-order Householder steps on ``ln b(s) - ln β``. In log space the objective is
   concave and nearly linear in the wings, so the steps are stable from deep out of the money
   (β ~ 1e-300) to near the upper bound; each step needs one evaluation of ``b`` (two calls
   to ``ndtr``) because the derivatives only need the normal density. Convergence is quartic:
   after two steps the error is at the rounding level of the input price.
3. Entries whose last step was not small (or that produced a non-finite value) are solved
   again by a bracketed, safeguarded iteration on the same objective.
4. Greeks are computed in the same pass, at exactly the returned volatility. ``N(d1)`` and
   ``N(d2)`` there come from the last Householder evaluation by a third-order Taylor step
   (exact to rounding because the last step is tiny), which saves a third pair of ``ndtr``.

Work happens in chunks of a few thousand contracts so that all temporaries stay in the CPU
cache and numpy's per-call overhead is amortised; operations are done in place where possible.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]
Num = FloatArray | float

CHUNK = 8192
"""Contracts per chunk: every temporary of a chunk fits in L2 together."""

_POLYA = 2.0 / math.pi  # Pólya's constant in N(y) ≈ ½ + ½ sign(y) √(1 - exp(-k y²))
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
_STEP_TOL = 1e-3
"""Relative size of the second Householder step below which its quartic convergence makes
the result exact to rounding (measured: second steps up to 1.3e-4 leave errors below 5e-11
relative over x̃ in [-5, 0] and s in [3e-4, 7])."""
_TAYLOR_TOL = 1e-4
"""Largest |δ|·(1 + |d|) for which the Taylor update of N(d) is exact to rounding."""
_MAX_FALLBACK_ITER = 100
_EPS = float(np.finfo(np.float64).eps)

# Reason codes (mirrored by core.options.iv.IVReason; kept here to avoid an import cycle).
OK = 0
EXPIRED = 1
NO_PRICE = 2
BELOW_INTRINSIC = 3
ABOVE_UPPER_BOUND = 4
NOT_CONVERGED = 6
INVALID_INPUT = 7


def initial_guess(x: FloatArray, beta: FloatArray, eh: FloatArray) -> FloatArray:
    """Return a first estimate of the total volatility ``s`` for ``x <= 0`` and price ``beta``.

    ``eh`` is ``exp(x / 2)``. Stefanica–Radoičić in the notation of their paper with
    ``y = x``, ``α = β e^{x/2}`` (the price in units of the strike) and Pólya constant ``k``.
    """
    k = _POLYA
    ey = eh * eh
    alpha = beta * eh
    f1 = np.exp(-k * x)  # e^{-ky}
    g1 = f1 * ey  # e^{(1-k)y}
    a = g1 - 1.0 / g1
    a *= a  # A = (e^{(1-k)y} - e^{-(1-k)y})²
    # B = 4 (e^{-ky} + e^{ky}) - 2 (e^{(1-k)y} + e^{-(1-k)y}) (1 + e^{2y} - R²) e^{-y}
    # with R = 2α - (e^y - 1).
    r_ = 2.0 * alpha
    r_ -= ey
    r_ += 1.0
    r_ *= r_
    r_ -= 1.0
    r_ /= ey
    r_ -= ey  # (R² - 1 - e^{2y}) e^{-y}
    g1 += 1.0 / g1
    g1 *= r_
    b = f1 + 1.0 / f1
    b *= 2.0
    b += g1
    b *= 2.0
    # C = 16 α (1 + α - e^y) (e^y - α) (1 + α) e^{-2y}
    c = 1.0 + alpha
    c *= c - ey
    c *= ey - alpha
    c *= alpha
    c /= ey * ey
    c *= 16.0
    # Γ = ln((B + √(B² + 4AC)) / 2C) / k
    a *= c
    a *= 4.0
    gamma = b * b
    gamma += a
    np.sqrt(gamma, out=gamma)
    gamma += b
    c *= 2.0
    gamma /= c
    np.log(gamma, out=gamma)
    gamma *= 1.0 / k
    # Root choice: compare α with the Pólya price at s where the two roots meet,
    # C0 = e^y/2 - (½ - ½ √(1 - e^{2ky})).
    c0 = np.expm1(2.0 * k * x)
    np.negative(c0, out=c0)
    np.sqrt(c0, out=c0)
    c0 += ey
    c0 -= 1.0
    lower = alpha <= 0.5 * c0
    t1 = gamma + x
    np.maximum(t1, 0.0, out=t1)
    np.sqrt(t1, out=t1)
    gamma -= x
    np.sqrt(gamma, out=gamma)
    np.negative(t1, out=t1, where=lower)
    gamma += t1  # s = √(Γ - y) ± √(Γ + y)
    s = gamma
    # Near the money with little time value the quadratic cancels badly: use the
    # Brenner–Subrahmanyam expansion b ≈ s/√(2π) + x/2 instead.
    s_atm = beta - 0.5 * x
    s_atm *= _SQRT_2PI
    near = -2.0 * x < s_atm
    near &= beta < 0.05
    near |= ~(s > 0.0)
    np.copyto(s, s_atm, where=near)
    return s


class _Eval:
    """Normalised evaluation at one point, kept for the Taylor update of the Greeks."""

    __slots__ = ("d1", "n1", "n2", "pdf1")

    def __init__(self, d1: FloatArray, n1: FloatArray, n2: FloatArray, pdf1: FloatArray) -> None:
        self.d1 = d1
        self.n1 = n1
        self.n2 = n2
        self.pdf1 = pdf1


def householder_step(
    x: FloatArray,
    s: FloatArray,
    beta_log: FloatArray,
    eh: FloatArray,
    ehi: FloatArray,
) -> tuple[FloatArray, _Eval]:
    """Return the third-order Householder step for ``ln b(x, s) = beta_log`` and the evaluation.

    ``eh`` is ``exp(x/2)`` and ``ehi`` its inverse.
    """
    inv_s = 1.0 / s
    xs = x * inv_s
    d1 = 0.5 * s
    d1 += xs
    d2 = d1 - s
    n1 = ndtr(d1)
    n2 = ndtr(d2)
    b = eh * n1
    b -= ehi * n2
    pdf1 = d1 * d1
    pdf1 *= -0.5
    np.exp(pdf1, out=pdf1)
    pdf1 *= _INV_SQRT_2PI
    r = pdf1 * eh
    r /= b  # (ln b)' = b'/b with b' = e^{x/2} φ(d1)
    nu = np.log(b)
    np.subtract(beta_log, nu, out=nu)
    nu /= r  # Newton step
    h2 = d1 * d2
    h2 *= inv_s  # b''/b' = d1 d2 / s
    h3 = xs * inv_s
    h3 *= h3
    h3 *= -3.0
    h3 += h2 * h2
    h3 -= 0.25  # b'''/b' = (b''/b')² - 3 x²/s⁴ - 1/4
    hh3 = 3.0 * h2
    h2 -= r  # (ln b)''/(ln b)'
    hh3 -= 2.0 * r
    hh3 *= r
    np.subtract(h3, hh3, out=hh3)  # (ln b)'''/(ln b)'
    hh3 *= nu * (1.0 / 6.0)
    hh3 += h2
    hh3 *= nu
    hh3 += 1.0  # 1 + ν (h2 + ν h3 / 6)
    h2 *= 0.5 * nu
    h2 += 1.0  # 1 + ν h2 / 2
    h2 *= nu
    h2 /= hh3
    return h2, _Eval(d1, n1, n2, pdf1)


def _taylor_cdf(n: FloatArray, pdf: FloatArray, d: FloatArray, delta: FloatArray) -> FloatArray:
    """Return ``N(d + δ)`` from ``N(d)`` and ``φ(d)`` by a third-order Taylor expansion."""
    # N(d+δ) = N(d) + φ(d) (δ - d δ²/2 + (d² - 1) δ³/6) + O(d³ δ⁴)
    poly = d * d
    poly -= 1.0
    poly *= delta * (1.0 / 6.0)
    poly -= 0.5 * d
    poly *= delta
    poly += 1.0
    poly *= delta
    poly *= pdf
    poly += n
    return poly


def _b(x: FloatArray, s: FloatArray) -> FloatArray:
    d1 = x / s + 0.5 * s
    return np.exp(0.5 * x) * ndtr(d1) - np.exp(-0.5 * x) * ndtr(d1 - s)


def solve_fallback(
    x: FloatArray, beta: FloatArray, beta_tol: FloatArray, s0: FloatArray
) -> FloatArray:
    """Solve ``b(x, s) = beta`` robustly (bracketed, safeguarded Householder in log space).

    Used for the few entries where the fast path did not converge. An entry is solved once
    its step is negligible or its price matches ``beta`` within ``beta_tol`` (the rounding
    error of ``beta``, which limits any solver when vega is tiny). Returns NaN where even
    this fails.
    """
    beta_log = np.log(beta)
    eh = np.exp(0.5 * x)
    ehi = 1.0 / eh
    lo = np.zeros_like(beta)
    hi = np.where(np.isfinite(s0) & (s0 > 0.0), s0, 1.0)
    # Grow the upper end of the bracket until it prices above the target.
    for _ in range(40):
        above = _b(x, hi) >= beta
        if above.all():
            break
        lo = np.where(above, lo, hi)
        hi = np.where(above, hi, hi * 2.0)
    s = np.where(np.isfinite(s0) & (s0 > lo) & (s0 < hi), s0, 0.5 * (lo + hi))
    done = np.zeros(beta.shape, dtype=bool)
    for _ in range(_MAX_FALLBACK_ITER):
        val = _b(x, s)
        done |= np.abs(val - beta) <= beta_tol
        if done.all():
            break
        low = val < beta
        lo = np.where(low, s, lo)
        hi = np.where(low, hi, s)
        step, _ = householder_step(x, s, beta_log, eh, ehi)
        new = s + step
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, 0.5 * (lo + hi), new)
        done |= np.abs(new - s) <= 1e-15 * s
        s = np.where(done, s, new)
        if done.all():
            break
    return np.where(done, s, np.nan)


def _reasons(
    price: Num, spot: Num, strike: Num, t: Num, rate: Num, div_yield: Num,
    otm: FloatArray, beta: FloatArray, eh: FloatArray, n: int,
) -> npt.NDArray[np.int8]:  # fmt: skip
    """Return reason codes for a chunk (the last rule that applies wins)."""
    reason = np.zeros(n, dtype=np.int8)
    reason[~(beta < eh)] = ABOVE_UPPER_BOUND
    reason[~(otm > 0.0)] = BELOW_INTRINSIC
    reason[~(np.broadcast_to(price, (n,)) > 0.0)] = NO_PRICE
    reason[~(np.broadcast_to(t, (n,)) > 0.0)] = EXPIRED
    good = (np.asarray(spot) > 0.0) & (np.asarray(strike) > 0.0)
    good &= np.isfinite(spot) & np.isfinite(strike) & np.isfinite(rate) & np.isfinite(div_yield)
    good &= ~np.isnan(t) & ~np.isinf(t)
    reason[~np.broadcast_to(good, (n,))] = INVALID_INPUT
    return reason


def iv_greeks_chunk(
    price: Num,
    spot: Num,
    strike: Num,
    t: Num,
    rate: Num,
    div_yield: Num,
    w: Num,
    n: int,
    greeks: bool,
) -> tuple[FloatArray, npt.NDArray[np.int8], tuple[FloatArray, ...] | None]:
    """Return (iv, reason, greeks-or-None) for one chunk of ``n`` contracts.

    Each input is a 1-D array of length ``n`` or a scalar shared by the chunk; ``w`` is +1
    for calls and -1 for puts. Greeks are (model price, delta, gamma, theta per day, vega per
    point, rho per 1 %) at the returned volatility, NaN where it is NaN.
    """
    # --- Normalisation -------------------------------------------------------------------
    dfq = np.exp(np.multiply(div_yield, t) * -1.0)
    dfr = np.exp(np.multiply(rate, t) * -1.0)
    fwd_d = np.multiply(spot, dfq)  # discounted forward D·F
    strike_d = np.multiply(strike, dfr)  # discounted strike D·K
    x = np.broadcast_to(np.log(fwd_d / strike_d), (n,))
    intrinsic = np.broadcast_to(np.multiply(np.subtract(fwd_d, strike_d), w), (n,))
    intrinsic = np.maximum(intrinsic, 0.0)
    otm = np.subtract(price, intrinsic)  # price of the out-of-the-money twin
    sq = np.sqrt(np.multiply(fwd_d, strike_d))
    beta = otm / sq
    xt = np.abs(x)
    np.negative(xt, out=xt)
    eh = 0.5 * xt
    np.exp(eh, out=eh)

    live = otm > 0.0
    live &= beta < eh
    live &= np.asarray(t) > 0.0
    all_live = bool(live.all())
    if all_live:
        reason = np.zeros(n, dtype=np.int8)
    else:
        reason = _reasons(price, spot, strike, t, rate, div_yield, otm, beta, eh, n)
        live = reason == OK
        # Neutral placeholders keep the arithmetic quiet; these entries become NaN below.
        dead = ~live
        xt[dead] = -0.1
        eh[dead] = math.exp(-0.05)
        beta[dead] = 0.05

    # --- Solve -----------------------------------------------------------------------------
    ehi = 1.0 / eh
    beta_log = np.log(beta)
    s0 = initial_guess(xt, beta, eh)
    step, _ = householder_step(xt, s0, beta_log, eh, ehi)
    s1 = s0
    s1 += step
    step, ev = householder_step(xt, s1, beta_log, eh, ehi)
    s = s1 + step
    unconverged = np.abs(step) <= _STEP_TOL * s
    unconverged &= s > 0.0
    np.logical_not(unconverged, out=unconverged)
    if not all_live:
        unconverged &= live
    fixed = np.flatnonzero(unconverged)
    if fixed.size:
        # Rounding error of beta: a few ulps of the price and of the intrinsic value removed.
        tol = 4.0 * _EPS * (np.broadcast_to(price, (n,))[fixed] + intrinsic[fixed])
        tol /= np.broadcast_to(sq, (n,))[fixed]
        s[fixed] = solve_fallback(xt[fixed], beta[fixed], tol, s[fixed])
        lost = fixed[~np.isfinite(s[fixed])]
        if lost.size:
            reason[lost] = NOT_CONVERGED
            live[lost] = False
            all_live = False

    sqrt_t = np.sqrt(t)
    iv = s / sqrt_t
    if not all_live:
        iv[~live] = np.nan
    if not greeks:
        return iv, reason, None

    # --- Greeks at s, from the last evaluation at s1 ---------------------------------------
    inv_s = 1.0 / s
    d1 = xt * inv_s
    d1 += 0.5 * s  # normalised d1 at s
    delta1 = d1 - ev.d1
    delta2 = delta1 - step
    d2_old = ev.d1 - s1
    ey = eh * eh
    n1 = _taylor_cdf(ev.n1, ev.pdf1, ev.d1, delta1)
    n2 = _taylor_cdf(ev.n2, ev.pdf1 * ey, d2_old, delta2)  # φ(d2) = e^{x} φ(d1)
    # Where the last step was not tiny (or the fallback moved s), evaluate N directly.
    reach = np.abs(ev.d1)
    reach += 1.0 + s1
    reach *= np.maximum(np.abs(delta1), np.abs(delta2))
    redo = ~(reach <= _TAYLOR_TOL)
    redo[fixed] = True
    if not all_live:
        redo &= live
    idx = np.flatnonzero(redo)
    if idx.size:
        n1[idx] = ndtr(d1[idx])
        n2[idx] = ndtr(d1[idx] - s[idx])
    pdf = d1 * d1
    pdf *= -0.5
    np.exp(pdf, out=pdf)
    pdf *= _INV_SQRT_2PI  # φ of the normalised d1

    # Back to the option's own orientation. With flip = (x > 0) the normalised option is the
    # mirror image: d1 = -d̃2, d2 = -d̃1. Then w·N(w·d) = N(d) - [put].
    flip = x > 0.0
    itm_shift = np.where(flip, np.maximum(w, 0.0), np.minimum(w, 0.0))
    wn1 = np.where(flip, -n2, n1)
    wn1 += itm_shift
    wn2 = np.where(flip, -n1, n2)
    wn2 += itm_shift
    pdf *= np.where(flip, ey, 1.0)  # φ(d1) in the option's orientation
    pdf_f = pdf * fwd_d  # D F φ(d1)

    model_price = fwd_d * wn1
    model_price -= strike_d * wn2
    delta = wn1 * dfq
    gamma = pdf_f * inv_s
    gamma /= np.multiply(spot, spot)
    vega = pdf_f * sqrt_t
    theta = pdf_f * s
    theta /= np.multiply(t, -2.0)
    theta -= np.multiply(rate, strike_d) * wn2
    theta += np.multiply(div_yield, fwd_d) * wn1
    theta *= 1.0 / 365.0
    rho = np.multiply(strike_d, t) * wn2
    rho *= 0.01
    vega *= 0.01
    out = (model_price, delta, gamma, theta, vega, rho)
    if not all_live:
        dead = ~live
        for arr in out:
            arr[dead] = np.nan
    return iv, reason, out
