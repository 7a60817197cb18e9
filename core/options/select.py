"""Choose the option contract a careful trader would for a signal, and say why.

Rules (every one configurable in :class:`SelectionRules`), checked in this order; a contract
is rejected by the first it fails (the others it fails are listed too):

1. right: calls for bullish signals, puts for bearish ones;
2. expiry: swings take expiries in a DTE window (default 5–45 calendar days); scalps take the
   nearest expiry with at least ``scalp_min_hours_left`` hours to its 16:00 close (default 2 h);
3. quote: two-sided (bid > 0, ask > 0) and not crossed (bid <= ask);
4. implied volatility: computable from the mid (see :class:`~core.options.iv.IVReason`);
5. delta: |delta| in the band (default 0.30–0.60);
6. open interest and 7. volume at least the minimum (missing counts as 0);
8. spread at most ``max_spread_pct`` % of the mid and 9. at most ``max_spread_cents``;
10. premium: ask at least ``min_premium`` and 11. ask × multiplier within
    ``max_premium_per_contract``.

Survivors are ranked by a score in [0, 1], the weighted mean of four components:

- delta closeness ``1 − ||Δ| − target| / h`` (h = the wider half of the band);
- spread ``1 − spread% / max_spread_pct``;
- liquidity ``½ min(1, ln(1+OI)/ln(1+L)) + ½ min(1, ln(1+volume)/ln(1+L))``, L = 10,000;
- move ``min(1, max(0, R / R_full))``, R = (model value at T1 − ask) / ask, the return on
  premium if the underlying reaches T1 at its expected time (see :mod:`core.options.scenarios`),
  R_full = 100 %;

with weights 0.35, 0.25, 0.20, 0.20. Ties go to the tighter spread, then the higher open
interest. The best contract and two alternates are returned with a sentence saying why each
ranks where it does; every other contract is in ``rejected`` with the rule that rejected it.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.options.chain import ChainError, OptionChain
from core.options.iv import IVReason
from core.options.occ import OptionRight
from core.options.scenarios import (
    ScenarioValue,
    advance_trading_hours,
    expected_hours_to_level,
    scenario_levels,
    value_at_levels,
    values_at_level,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RATE",
    "Candidate",
    "Direction",
    "RejectReason",
    "RejectRule",
    "ScoreComponents",
    "Selection",
    "SelectionRequest",
    "SelectionRules",
    "TradeStyle",
    "select_contract",
]

DEFAULT_RATE = 0.045
"""Risk-free rate used when the caller gives none (continuously compounded)."""

_HOURS_PER_YEAR = 365.0 * 24.0


class Direction(StrEnum):
    """Which way the signal expects the underlying to move."""

    BULLISH = "bullish"
    BEARISH = "bearish"


class TradeStyle(StrEnum):
    """Holding horizon of the trade, which sets the expiry rule."""

    SCALP = "scalp"
    SWING = "swing"


class SelectionRequest(BaseModel):
    """A signal to trade: direction, trigger level, targets (nearest first) and stop."""

    model_config = ConfigDict(frozen=True)

    direction: Direction
    trigger: float = Field(gt=0, allow_inf_nan=False)
    targets: tuple[float, ...] = Field(min_length=1)
    stop: float = Field(gt=0, allow_inf_nan=False)
    style: TradeStyle = TradeStyle.SCALP

    @model_validator(mode="after")
    def _levels_in_order(self) -> SelectionRequest:
        levels = (self.stop, self.trigger, *self.targets)
        if any(not (math.isfinite(x) and x > 0) for x in self.targets):
            raise ValueError("targets must be positive prices")
        ordered = all(a < b for a, b in itertools.pairwise(levels))
        if self.direction is Direction.BEARISH:
            ordered = all(a > b for a, b in itertools.pairwise(levels))
        if not ordered:
            word = "below" if self.direction is Direction.BULLISH else "above"
            raise ValueError(
                f"a {self.direction} signal needs stop {word} trigger {word} T1 {word} T2 ..., "
                f"got stop {self.stop:g}, trigger {self.trigger:g}, targets {list(self.targets)}"
            )
        return self


class SelectionRules(BaseModel):
    """Contract selection rules and score weights; the defaults are a careful trader's."""

    model_config = ConfigDict(frozen=True)

    swing_min_dte: float = Field(5.0, ge=0, description="Swing: fewest calendar days to expiry.")
    swing_max_dte: float = Field(45.0, ge=0, description="Swing: most calendar days to expiry.")
    scalp_min_hours_left: float = Field(
        2.0,
        ge=0,
        description="Scalp: the nearest expiry with at least this many hours to its close.",
    )
    scalp_max_dte: float = Field(7.0, ge=0, description="Scalp: never go further out than this.")
    min_abs_delta: float = Field(0.30, ge=0, le=1)
    max_abs_delta: float = Field(0.60, ge=0, le=1)
    target_abs_delta: float = Field(0.50, ge=0, le=1)
    min_open_interest: float = Field(100, ge=0)
    min_volume: float = Field(10, ge=0, description="Contracts traded today.")
    max_spread_pct: float = Field(10.0, gt=0, description="Bid–ask spread as % of the mid.")
    max_spread_cents: float = Field(20.0, gt=0, description="Bid–ask spread in cents per share.")
    min_premium: float = Field(0.10, ge=0, description="Smallest ask per share worth trading.")
    max_premium_per_contract: float = Field(
        1_000.0, gt=0, description="Largest ask × multiplier in dollars."
    )
    multiplier: int = Field(100, gt=0)
    weight_delta: float = Field(0.35, ge=0)
    weight_spread: float = Field(0.25, ge=0)
    weight_liquidity: float = Field(0.20, ge=0)
    weight_move: float = Field(0.20, ge=0)
    liquidity_full: float = Field(10_000, gt=0, description="OI or volume that scores full marks.")
    move_full: float = Field(
        1.0, gt=0, description="Return on premium at T1 that scores full marks."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SelectionRules:
        if not self.min_abs_delta <= self.target_abs_delta <= self.max_abs_delta:
            raise ValueError(
                f"need min_abs_delta <= target_abs_delta <= max_abs_delta, got "
                f"{self.min_abs_delta}, {self.target_abs_delta}, {self.max_abs_delta}"
            )
        if self.swing_min_dte > self.swing_max_dte:
            raise ValueError("swing_min_dte must not exceed swing_max_dte")
        if self.weight_delta + self.weight_spread + self.weight_liquidity + self.weight_move <= 0:
            raise ValueError("at least one score weight must be positive")
        return self

    @property
    def weights(self) -> dict[str, float]:
        """Return the score weights by component name."""
        return {
            "delta": self.weight_delta,
            "spread": self.weight_spread,
            "liquidity": self.weight_liquidity,
            "move": self.weight_move,
        }


class RejectRule(StrEnum):
    """The rule that kept a contract out."""

    WRONG_RIGHT = "wrong_right"
    EXPIRY = "expiry"
    NO_QUOTE = "no_quote"
    CROSSED_QUOTE = "crossed_quote"
    NO_IV = "no_iv"
    DELTA_BAND = "delta_band"
    OPEN_INTEREST = "open_interest"
    VOLUME = "volume"
    SPREAD_PCT = "spread_pct"
    SPREAD_CENTS = "spread_cents"
    PREMIUM_TOO_LOW = "premium_too_low"
    PREMIUM_OVER_BUDGET = "premium_over_budget"
    OUTRANKED = "outranked"
    """Passed every rule but ranked below the best and the two alternates."""


@dataclass(frozen=True, slots=True)
class RejectReason:
    """Why a contract was not chosen: the first rule it failed, its value and the limit."""

    rule: RejectRule
    detail: str
    value: float | None = None
    limit: float | None = None
    also: tuple[RejectRule, ...] = ()
    """Later rules the contract fails as well."""


class Rejections(Mapping[str, RejectReason]):
    """Why each contract that failed a rule was kept out, by OCC symbol, in chain order.

    A chain holds a thousand rejected contracts and a proposal only counts them by rule
    (:meth:`rule_counts`), so a :class:`RejectReason` is made when a contract is looked up
    ("why not the 590 call?"), then kept. Its text is the one the chain had when the
    selection was made: the rules read copies of the chain's columns. Equal to, printed and
    pickled as the ``dict`` of every reason.
    """

    __slots__ = ("_bits", "_first", "_index", "_made", "_rows", "_rules", "_values")

    def __init__(self, rules: list[_Rule], fails: npt.NDArray[np.bool_],
                 symbols: npt.NDArray[np.object_]) -> None:
        """``fails[k, i]``: whether contract ``i`` (of ``symbols``) fails rule ``k`` of ``rules``."""
        rows = np.flatnonzero(fails.any(axis=0))
        failing = fails[:, rows]
        self._rules = rules
        self._rows: list[int] = rows.tolist()  # the contract (chain row) of each rejection
        # each rejection's failed rules as bits (bit k: rule k), and the first of them
        self._bits: list[int] = ((1 << np.arange(len(rules), dtype=np.int64)) @ failing).tolist()
        self._first: list[int] = np.argmax(failing, axis=0).tolist()
        no_value = np.full(fails.shape[1], np.nan)
        values = np.stack([no_value if r.value is None else r.value for r in rules])
        self._values: list[float] = values[self._first, rows].tolist() if self._rows else []
        # symbol -> rejection (-1: a reason given by add()); a symbol listed twice keeps its
        # first place and its last reason, as a dict filled in chain order would
        self._index: dict[str, int] = dict(zip(
            [str(x) for x in symbols[rows].tolist()], range(len(self._rows)), strict=True))
        self._made: dict[str, RejectReason] = {}

    def add(self, symbol: str, reason: RejectReason) -> None:
        """Add (or replace, keeping its place) the reason of ``symbol``, made by the caller."""
        self._index[symbol] = -1
        self._made[symbol] = reason

    def __getitem__(self, symbol: str) -> RejectReason:
        reason = self._made.get(symbol)
        if reason is None:
            j = self._index[symbol]
            bits = self._bits[j]
            failed = [k for k in range(len(self._rules)) if bits >> k & 1]
            first = self._rules[failed[0]]
            reason = self._made[symbol] = RejectReason(
                rule=first.rule,
                detail=first.detail(self._rows[j]),
                value=None if first.value is None else self._values[j],
                limit=first.limit,
                also=tuple(self._rules[k].rule for k in failed[1:]),
            )
        return reason

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def rule_counts(self) -> Counter[RejectRule]:
        """Return how many contracts each rule kept out (its first failed rule), in the order
        the rules first come up along the chain; no reason is made."""
        first, rules, made = self._first, self._rules, self._made
        return Counter(rules[first[j]].rule if j >= 0 else made[symbol].rule
                       for symbol, j in self._index.items())

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def __reduce__(self) -> tuple[type[dict[str, RejectReason]], tuple[dict[str, RejectReason]]]:
        # pickled as the dict of every reason (the rules' text makers are closures)
        return dict, (dict(self.items()),)


@dataclass(frozen=True, slots=True)
class ScoreComponents:
    """The four score components (each in [0, 1]) and their weighted mean."""

    delta: float
    spread: float
    liquidity: float
    move: float
    total: float
    move_return: float
    """Estimated return on premium at T1, (value − ask) / ask."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A contract that passed every rule, with its numbers, score and ranking reason."""

    symbol: str
    right: OptionRight
    strike: float
    expiry: date
    bid: float
    ask: float
    mid: float
    spread: float
    spread_pct: float
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float
    open_interest: float
    volume: float
    hours_to_expiry: float
    score: float
    components: ScoreComponents
    rank: int
    reason: str
    scenarios: tuple[ScenarioValue, ...] = ()
    """Estimated value (per share, entry at the ask) at each target and at the stop."""


@dataclass(frozen=True)
class Selection:
    """The chosen contract, up to two alternates, and a reason for every other contract."""

    request: SelectionRequest
    spot: float
    now: datetime
    best: Candidate | None
    alternates: list[Candidate]
    rejected: Mapping[str, RejectReason]
    passed: int
    """How many contracts passed every rule (and were ranked)."""
    expiry_rule: str
    notes: list[str] = field(default_factory=list)

    def rejected_by_rule(self) -> Counter[RejectRule]:
        """Return how many contracts each rule kept out (their first failed rule), in the
        order the rules first come up along the chain."""
        if isinstance(self.rejected, Rejections):
            return self.rejected.rule_counts()  # without making a reason per contract
        return Counter(reason.rule for reason in self.rejected.values())

    @property
    def candidates(self) -> list[Candidate]:
        """Return the best contract followed by the alternates."""
        return ([self.best] if self.best else []) + list(self.alternates)

    def explain(self, symbol: str) -> str:
        """Answer "why (not) this contract?" for an OCC symbol."""
        key = symbol.replace(" ", "").upper()
        for cand in self.candidates:
            if cand.symbol == key:
                role = "the pick" if cand.rank == 1 else f"alternate #{cand.rank - 1}"
                return f"{key} is {role}: {cand.reason}"
        reason = self.rejected.get(key)
        if reason is None:
            return f"{key} is not in the chain that was searched"
        also = f" (also fails: {', '.join(r.value for r in reason.also)})" if reason.also else ""
        return f"{key} was rejected by the {reason.rule.value} rule: {reason.detail}{also}"


@dataclass
class _Rule:
    rule: RejectRule
    fails: npt.NDArray[np.bool_]
    detail: Callable[[int], str]
    value: npt.NDArray[np.float64] | None = None
    limit: float | None = None


def _fmt_count(x: float) -> str:
    return "missing" if not math.isfinite(x) else f"{x:,.0f}"


def select_contract(
    request: SelectionRequest,
    spot: float,
    chain: OptionChain,
    now: datetime,
    rules: SelectionRules | None = None,
    rate: float = DEFAULT_RATE,
    div_yield: float = 0.0,
) -> Selection:
    """Return the best contract for ``request`` in ``chain`` (one underlying), two alternates,
    and the rule that rejected every other contract.

    IV and Greeks are recomputed from the mids at ``spot``/``now`` with ``rate`` and
    ``div_yield``. Raises :class:`~core.options.chain.ChainError` for a chain holding several
    underlyings and :class:`ValueError` for a non-positive spot.
    """
    rules = rules or SelectionRules()
    if not (math.isfinite(spot) and spot > 0):
        raise ValueError(f"spot must be a positive price, got {spot}")
    if len(chain.underlyings) > 1:
        raise ChainError(f"select_contract needs one underlying, chain has {chain.underlyings}")
    bullish = request.direction is Direction.BULLISH
    n = len(chain)
    if n == 0:
        return Selection(
            request, spot, now, None, [], {}, 0, "no contracts", ["the chain is empty"]
        )

    ch = chain.with_greeks(spot, now, rate, div_yield)
    g = ch.computed
    assert g is not None
    hours_left = g.t * _HOURS_PER_YEAR
    dte = g.t * 365.0
    # Reject details are written when a contract is looked up (Rejections), maybe after this
    # function has returned and the caller has changed its chain: they read copies of its
    # columns, and none of the names the detail functions below use may be bound again
    # further down.
    bid, ask, mid = ch.bid.copy(), ch.ask.copy(), g.price
    open_interest, traded = ch.open_interest.copy(), ch.volume.copy()
    spread = ask - bid
    with np.errstate(invalid="ignore", divide="ignore"):
        spread_pct = spread / mid * 100.0
    abs_delta = np.abs(g.delta)
    oi = np.nan_to_num(ch.open_interest, nan=0.0)
    volume = np.nan_to_num(ch.volume, nan=0.0)
    right_ok = ch.is_call == bullish
    want = "calls" if bullish else "puts"
    expiry_dates: list[date] = ch.expiry.tolist()

    # Expiry window.
    if request.style is TradeStyle.SWING:
        in_window = (dte >= rules.swing_min_dte) & (dte <= rules.swing_max_dte)
        expiry_rule = f"swing: {rules.swing_min_dte:g}–{rules.swing_max_dte:g} days to expiry"

        def expiry_detail(i: int) -> str:
            return f"expires {expiry_dates[i]} ({dte[i]:.1f} days), outside the swing window {rules.swing_min_dte:g}–{rules.swing_max_dte:g} days"

    else:
        eligible = (
            right_ok & (hours_left >= rules.scalp_min_hours_left) & (dte <= rules.scalp_max_dte)
        )
        scalp_expiry = ch.expiry[eligible].min() if eligible.any() else None
        in_window = (
            ch.expiry == scalp_expiry if scalp_expiry is not None else np.zeros(n, dtype=bool)
        )
        nearest = str(scalp_expiry.astype(object)) if scalp_expiry is not None else "none available"
        expiry_rule = (
            f"scalp: nearest expiry with at least {rules.scalp_min_hours_left:g} h left ({nearest})"
        )

        def expiry_detail(i: int) -> str:
            if hours_left[i] < rules.scalp_min_hours_left:
                return f"only {hours_left[i]:.1f} h to the expiry close; scalps need at least {rules.scalp_min_hours_left:g} h"
            return f"expires {expiry_dates[i]}; scalps use the nearest expiry with at least {rules.scalp_min_hours_left:g} h left ({nearest})"

    quote_ok = (bid > 0) & (ask > 0)
    crossed = quote_ok & (bid > ask)
    iv_ok = g.reason == IVReason.OK
    with np.errstate(invalid="ignore"):
        rule_list = [
            _Rule(
                RejectRule.WRONG_RIGHT,
                ~right_ok,
                lambda i: f"a {request.direction} signal trades {want}",
            ),
            _Rule(RejectRule.EXPIRY, ~in_window, expiry_detail, dte),
            _Rule(
                RejectRule.NO_QUOTE,
                ~quote_ok,
                lambda i: f"no two-sided quote (bid {bid[i]:.2f}, ask {ask[i]:.2f})",
            ),
            _Rule(
                RejectRule.CROSSED_QUOTE,
                crossed,
                lambda i: f"crossed quote: bid {bid[i]:.2f} above ask {ask[i]:.2f}",
            ),
            _Rule(
                RejectRule.NO_IV,
                quote_ok & ~crossed & ~iv_ok,
                lambda i: (
                    f"no implied volatility from mid {mid[i]:.2f}: {IVReason(int(g.reason[i])).name.lower().replace('_', ' ')}"
                ),
            ),
            _Rule(
                RejectRule.DELTA_BAND,
                iv_ok & ~((abs_delta >= rules.min_abs_delta) & (abs_delta <= rules.max_abs_delta)),
                lambda i: (
                    f"|delta| {abs_delta[i]:.2f} outside {rules.min_abs_delta:.2f}–{rules.max_abs_delta:.2f}"
                ),
                abs_delta,
            ),
            _Rule(
                RejectRule.OPEN_INTEREST,
                ~(oi >= rules.min_open_interest),
                lambda i: (
                    f"open interest {_fmt_count(open_interest[i])} below {rules.min_open_interest:,.0f}"
                ),
                oi,
                rules.min_open_interest,
            ),
            _Rule(
                RejectRule.VOLUME,
                ~(volume >= rules.min_volume),
                lambda i: f"volume {_fmt_count(traded[i])} below {rules.min_volume:,.0f}",
                volume,
                rules.min_volume,
            ),
            _Rule(
                RejectRule.SPREAD_PCT,
                quote_ok & ~crossed & ~(spread_pct <= rules.max_spread_pct),
                lambda i: (
                    f"spread ${spread[i]:.2f} is {spread_pct[i]:.1f}% of the mid ${mid[i]:.2f}, above {rules.max_spread_pct:g}%"
                ),
                spread_pct,
                rules.max_spread_pct,
            ),
            _Rule(
                RejectRule.SPREAD_CENTS,
                quote_ok & ~crossed & ~(spread * 100.0 <= rules.max_spread_cents + 1e-9),
                lambda i: f"spread {spread[i] * 100:.0f}¢ above {rules.max_spread_cents:g}¢",
                spread * 100.0,
                rules.max_spread_cents,
            ),
            _Rule(
                RejectRule.PREMIUM_TOO_LOW,
                quote_ok & ~(ask >= rules.min_premium),
                lambda i: f"ask ${ask[i]:.2f} below the minimum premium ${rules.min_premium:.2f}",
                ask,
                rules.min_premium,
            ),
            _Rule(
                RejectRule.PREMIUM_OVER_BUDGET,
                quote_ok & ~(ask * rules.multiplier <= rules.max_premium_per_contract + 1e-9),
                lambda i: (
                    f"costs ${ask[i] * rules.multiplier:,.2f} a contract (ask {ask[i]:.2f} × {rules.multiplier}), over the ${rules.max_premium_per_contract:,.2f} limit"
                ),
                ask * rules.multiplier,
                rules.max_premium_per_contract,
            ),
        ]

    fail_matrix = np.stack([r.fails for r in rule_list])
    passed_mask = ~fail_matrix.any(axis=0)
    rejected = Rejections(rule_list, fail_matrix, ch.symbol)

    survivors = np.flatnonzero(passed_mask)
    notes: list[str] = []
    if survivors.size == 0:
        notes.append("no contract passed every rule")
        return Selection(request, spot, now, None, [], rejected, 0, expiry_rule, notes)

    # --- Score -------------------------------------------------------------------------------
    t1 = request.targets[0]
    atm_vol = _atm_vols(ch.expiry, abs_delta, g.iv, iv_ok)
    move_return = np.empty(survivors.size)
    for exp in np.unique(ch.expiry[survivors]):
        sel = ch.expiry[survivors] == exp
        idx = survivors[sel]
        vol = atm_vol.get(exp, float(np.nanmedian(g.iv[idx])))
        reached = advance_trading_hours(now, expected_hours_to_level(spot, t1, vol))
        value_t1 = values_at_level(
            t1, reached, ch.strike[idx], ch.expiry[idx], ch.is_call[idx], g.iv[idx], rate, div_yield
        )
        move_return[sel] = (value_t1 - ask[idx]) / ask[idx]
    half_band = max(
        rules.target_abs_delta - rules.min_abs_delta,
        rules.max_abs_delta - rules.target_abs_delta,
        1e-9,
    )
    c_delta = np.clip(1.0 - np.abs(abs_delta[survivors] - rules.target_abs_delta) / half_band, 0, 1)
    c_spread = np.clip(1.0 - spread_pct[survivors] / rules.max_spread_pct, 0, 1)
    full = math.log1p(rules.liquidity_full)
    c_liq = 0.5 * np.minimum(1.0, np.log1p(oi[survivors]) / full) + 0.5 * np.minimum(
        1.0, np.log1p(volume[survivors]) / full
    )
    c_move = np.clip(move_return / rules.move_full, 0, 1)
    weights = rules.weights
    w_sum = sum(weights.values())
    comps = {"delta": c_delta, "spread": c_spread, "liquidity": c_liq, "move": c_move}
    total = sum(weights[k] * comps[k] for k in comps) / w_sum
    order = np.lexsort((-oi[survivors], spread_pct[survivors], -total))
    ranked = survivors[order]

    def components(j: int) -> ScoreComponents:
        return ScoreComponents(
            delta=float(c_delta[j]),
            spread=float(c_spread[j]),
            liquidity=float(c_liq[j]),
            move=float(c_move[j]),
            total=float(total[j]),
            move_return=float(move_return[j]),
        )

    def lead(a: int, b: int) -> tuple[str, float, float]:
        """Return the component where survivor a beats survivor b by the most weighted points."""
        gains = {k: weights[k] * (comps[k][a] - comps[k][b]) for k in comps}
        name = max(gains, key=lambda k: gains[k])
        return name, float(comps[name][a]), float(comps[name][b])

    candidates: list[Candidate] = []
    n_ranked = ranked.size
    levels = scenario_levels(request.targets, request.stop)
    for rank, i in enumerate(ranked[:3], start=1):
        j = int(order[rank - 1])
        sc = components(j)
        text = (
            f"ranked {rank} of {n_ranked}: |delta| {abs_delta[i]:.2f} (target {rules.target_abs_delta:.2f}), "
            f"spread ${spread[i]:.2f} = {spread_pct[i]:.1f}% of mid, OI {_fmt_count(ch.open_interest[i])}, "
            f"volume {_fmt_count(ch.volume[i])}, {sc.move_return:+.0%} on the ${ask[i]:.2f} ask if T1 {t1:g} is reached; "
            f"score {sc.total:.3f} (delta {sc.delta:.2f}, spread {sc.spread:.2f}, "
            f"liquidity {sc.liquidity:.2f}, move {sc.move:.2f})"
        )
        if rank == 1 and n_ranked > 1:
            name, mine, theirs = lead(j, int(order[1]))
            text += f"; ahead of #2 mainly on {name} ({mine:.2f} vs {theirs:.2f})"
        elif rank > 1:
            name, theirs, mine = lead(int(order[0]), j)
            text += f"; behind #1 mainly on {name} ({mine:.2f} vs {theirs:.2f})"
        scenarios = value_at_levels(
            levels,
            spot=spot,
            strike=float(ch.strike[i]),
            expiry=expiry_dates[i],
            is_call=bool(ch.is_call[i]),
            iv=float(g.iv[i]),
            entry_price=float(ask[i]),
            now=now,
            rate=rate,
            div_yield=div_yield,
            underlying_vol=atm_vol.get(ch.expiry[i], float(g.iv[i])),
        )
        candidates.append(
            Candidate(
                symbol=str(ch.symbol[i]),
                right=ch.right(int(i)),
                strike=float(ch.strike[i]),
                expiry=expiry_dates[i],
                bid=float(bid[i]),
                ask=float(ask[i]),
                mid=float(mid[i]),
                spread=float(spread[i]),
                spread_pct=float(spread_pct[i]),
                iv=float(g.iv[i]),
                delta=float(g.delta[i]),
                gamma=float(g.gamma[i]),
                theta=float(g.theta[i]),
                vega=float(g.vega[i]),
                open_interest=float(ch.open_interest[i]),
                volume=float(ch.volume[i]),
                hours_to_expiry=float(hours_left[i]),
                score=sc.total,
                components=sc,
                rank=rank,
                reason=text,
                scenarios=scenarios,
            )
        )
    if n_ranked > 3:
        third = float(total[order[2]])
        for rank, i in enumerate(ranked[3:], start=4):
            j = int(order[rank - 1])
            rejected.add(str(ch.symbol[i]), RejectReason(
                rule=RejectRule.OUTRANKED,
                detail=(
                    f"passed every rule but ranked {rank} of {n_ranked} with score {total[j]:.3f} "
                    f"(#3 scores {third:.3f})"
                ),
                value=float(total[j]),
                limit=third,
            ))
    return Selection(
        request=request,
        spot=spot,
        now=now,
        best=candidates[0],
        alternates=candidates[1:],
        rejected=rejected,
        passed=n_ranked,
        expiry_rule=expiry_rule,
        notes=notes,
    )


def _atm_vols(
    expiry: npt.NDArray[np.datetime64],
    abs_delta: npt.NDArray[np.float64],
    iv: npt.NDArray[np.float64],
    ok: npt.NDArray[np.bool_],
) -> dict[np.datetime64, float]:
    """Return, per expiry, the IV of the contract whose |delta| is closest to 0.5."""
    out: dict[np.datetime64, float] = {}
    for exp in np.unique(expiry):
        idx = np.flatnonzero((expiry == exp) & ok)
        if idx.size:
            out[exp] = float(iv[idx[np.argmin(np.abs(abs_delta[idx] - 0.5))]])
    return out
