"""Position sizing for long option trades from a risk budget.

The budget per trade is the smaller of a fixed dollar cap and a fraction of equity. The
quantity is the number of whole contracts whose premium fits in it (rounded down). For a
long option the most that can be lost is the premium paid, so ``max_loss == cost``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)

__all__ = ["BindingConstraint", "Sizing", "size_position"]


class BindingConstraint(StrEnum):
    """Which limit set the quantity."""

    MAX_PREMIUM_PER_TRADE = "max_premium_per_trade"
    FRACTION_OF_EQUITY = "fraction_of_equity"


@dataclass(frozen=True, slots=True)
class Sizing:
    """How many contracts to buy and what it risks (dollars)."""

    quantity: int
    premium: float
    """Option price per share used for sizing."""
    cost_per_contract: float
    cost: float
    max_loss: float
    """For a long option, the premium paid: the most the position can lose."""
    budget: float
    binding: BindingConstraint
    reason: str

    @property
    def tradable(self) -> bool:
        """Return whether at least one contract fits in the budget."""
        return self.quantity > 0


def size_position(
    premium_per_contract: float,
    equity: float,
    max_premium_per_trade: float,
    max_fraction_of_equity: float,
    multiplier: int = 100,
) -> Sizing:
    """Return the number of contracts (rounded down) that fits the risk budget.

    ``premium_per_contract`` is the option's quoted price per share (e.g. 2.35, normally the
    ask); one contract costs ``premium × multiplier`` dollars. The budget is
    ``min(max_premium_per_trade, max_fraction_of_equity × equity)``. When even one contract
    exceeds it the quantity is 0 and ``reason`` says why. Raises :class:`ValueError` for a
    non-positive premium or multiplier, negative equity or caps, or a fraction outside (0, 1].
    """
    for name, value in (
        ("premium_per_contract", premium_per_contract),
        ("equity", equity),
        ("max_premium_per_trade", max_premium_per_trade),
        ("max_fraction_of_equity", max_fraction_of_equity),
    ):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
    if premium_per_contract <= 0:
        raise ValueError(f"premium_per_contract must be positive, got {premium_per_contract}")
    if multiplier <= 0:
        raise ValueError(f"multiplier must be positive, got {multiplier}")
    if equity < 0:
        raise ValueError(f"equity must not be negative, got {equity}")
    if max_premium_per_trade < 0:
        raise ValueError(f"max_premium_per_trade must not be negative, got {max_premium_per_trade}")
    if not 0 < max_fraction_of_equity <= 1:
        raise ValueError(f"max_fraction_of_equity must be in (0, 1], got {max_fraction_of_equity}")

    per_contract = premium_per_contract * multiplier
    equity_cap = max_fraction_of_equity * equity
    if max_premium_per_trade <= equity_cap:
        budget, binding = max_premium_per_trade, BindingConstraint.MAX_PREMIUM_PER_TRADE
        limit_text = f"max premium per trade ${max_premium_per_trade:,.2f}"
    else:
        budget, binding = equity_cap, BindingConstraint.FRACTION_OF_EQUITY
        limit_text = f"{max_fraction_of_equity:.1%} of equity ${equity:,.2f} = ${equity_cap:,.2f}"
    # A tiny tolerance keeps 1,000.00 / 250.00 from rounding down to 3 on binary noise.
    quantity = math.floor(budget / per_contract + 1e-9)
    cost = quantity * per_contract
    if quantity == 0:
        reason = f"one contract costs ${per_contract:,.2f}, more than the budget ({limit_text})"
    else:
        reason = (
            f"{quantity} × ${per_contract:,.2f} = ${cost:,.2f} within {limit_text}; "
            f"max loss ${cost:,.2f} (premium paid)"
        )
    return Sizing(
        quantity=quantity,
        premium=premium_per_contract,
        cost_per_contract=per_contract,
        cost=cost,
        max_loss=cost,
        budget=budget,
        binding=binding,
        reason=reason,
    )
