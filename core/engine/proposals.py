"""Turn a triggered signal into a proposal: fetch the chain, pick the contract, size it.

:func:`plan_proposal` returns a :class:`ProposalPlan` or, when no trade should be proposed, a
sentence saying why (no chain, no contract passed the rules, even one contract is over budget).
The plan's ``details`` carry what the proposal embed shows: Greeks, liquidity, the reason the
contract ranks first, up to two alternates with theirs, the value of the option at each target
and at the stop, the sizing constraint, and a summary of why other contracts were rejected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from core.brokers.models import OPTION_MULTIPLIER, OrderSide
from core.brokers.ticks import round_to_tick, tick_for
from core.clock import NEW_YORK
from core.engine.config import EngineConfig
from core.engine.exits import initial_stop
from core.engine.risk import RiskLimits
from core.marketdata.base import MarketData
from core.marketdata.models import ChainFilter, OptionRight
from core.options.chain import ChainError
from core.options.select import Candidate, SelectionRequest, select_contract
from core.options.sizing import size_position

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ProposalPlan:
    """The contract, quantity and price to propose."""

    contract: str
    quantity: int
    limit_price: Decimal
    bid: Decimal
    ask: Decimal
    est_cost: Decimal
    max_loss: Decimal
    details: dict[str, Any] = field(default_factory=dict)


def candidate_view(c: Candidate) -> dict[str, Any]:
    """Return the parts of a candidate a proposal shows, as JSON-friendly values."""
    return {
        "contract": c.symbol, "right": str(c.right), "strike": c.strike,
        "expiry": c.expiry.isoformat(), "bid": c.bid, "ask": c.ask, "mid": round(c.mid, 4),
        "spread_pct": round(c.spread_pct, 2), "iv": round(c.iv, 4), "delta": round(c.delta, 4),
        "gamma": round(c.gamma, 5), "theta": round(c.theta, 4), "vega": round(c.vega, 4),
        "open_interest": c.open_interest, "volume": c.volume,
        "hours_to_expiry": round(c.hours_to_expiry, 2), "score": round(c.score, 4),
        "rank": c.rank, "reason": c.reason,
        "scenarios": [
            {"label": s.label, "level": s.level, "value": round(s.value, 4),
             "change": round(s.change, 4), "change_pct": round(s.change_pct, 2),
             "reached_at": s.reached_at.isoformat()}
            for s in c.scenarios
        ],
    }


async def plan_proposal(
    *,
    market: MarketData,
    config: EngineConfig,
    limits: RiskLimits,
    now: datetime,
    symbol: str,
    direction: str,
    trigger: Decimal,
    targets: tuple[Decimal, ...],
    spot: float,
    equity: Decimal,
) -> ProposalPlan | str:
    """Plan the proposal for a triggered signal, or say why there is none."""
    if not targets:
        return f"{symbol}: the signal has no targets, so no contract can be chosen for it"
    bullish = direction == "bullish"
    stop = initial_stop(direction, trigger, config.exits)
    try:
        request = SelectionRequest(
            direction=direction, trigger=float(trigger), targets=tuple(float(t) for t in targets),
            stop=float(stop))
    except ValidationError as exc:
        return f"{symbol}: levels cannot be traded as stated ({exc.errors()[0]['msg']})"
    today = now.astimezone(NEW_YORK).date()
    window = spot * config.strike_window_pct / 100
    chain_filter = ChainFilter(
        expiry_from=today, expiry_to=today + timedelta(days=config.max_dte),
        strike_min=spot - window, strike_max=spot + window,
        right=OptionRight.CALL if bullish else OptionRight.PUT)
    try:
        chain = await market.option_chain_table(symbol, chain_filter)
    except ChainError as exc:  # the snapshots could not be read as a chain; fetch errors propagate
        return f"{symbol}: the option chain could not be read ({exc})"
    if not len(chain):
        return f"{symbol}: no option chain within {config.max_dte} days and ±{config.strike_window_pct:g}%"
    try:
        selection = select_contract(request, spot, chain, now, config.selection,
                                    rate=config.risk_free_rate, div_yield=config.dividend_yield)
    except (ChainError, ValueError) as exc:
        return f"{symbol}: the option chain could not be read ({exc})"
    rejected = Counter({str(rule): n for rule, n in selection.rejected_by_rule().items()})
    if selection.best is None:
        why = ", ".join(f"{n} {rule}" for rule, n in rejected.most_common(4))
        return f"{symbol}: no contract passed the rules ({len(selection.rejected)} rejected: {why})"
    best = selection.best
    mid = Decimal(str(best.mid))
    limit = round_to_tick(mid, tick_for(best.symbol, mid), OrderSide.BUY)
    if limit <= 0:
        limit = tick_for(best.symbol, mid)
    sizing = size_position(float(limit), float(equity), float(limits.max_premium_per_trade),
                           float(limits.max_equity_fraction_per_trade))
    if not sizing.tradable:
        return f"{symbol}: {best.symbol} at {limit}: {sizing.reason}"
    cost = (limit * sizing.quantity * OPTION_MULTIPLIER).quantize(CENT)
    details: dict[str, Any] = {
        "trigger": str(trigger),
        "ref_mid": str(mid),
        "best": candidate_view(best),
        "alternates": [candidate_view(c) for c in selection.alternates[:2]],
        "rejected": dict(rejected),
        "expiry_rule": selection.expiry_rule,
        "notes": list(selection.notes),
        "sizing": {"binding": str(sizing.binding), "reason": sizing.reason,
                   "budget": round(sizing.budget, 2)},
    }
    return ProposalPlan(
        contract=best.symbol, quantity=sizing.quantity, limit_price=limit,
        bid=Decimal(str(best.bid)), ask=Decimal(str(best.ask)), est_cost=cost, max_loss=cost,
        details=details)


__all__ = ["ProposalPlan", "candidate_view", "plan_proposal"]
