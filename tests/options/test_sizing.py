"""Position sizing from the risk budget."""

from __future__ import annotations

import pytest

from core.options.sizing import BindingConstraint, size_position


def test_quantity_is_rounded_down_within_the_per_trade_cap() -> None:
    s = size_position(2.35, equity=50_000, max_premium_per_trade=1_000, max_fraction_of_equity=0.05)
    assert s.quantity == 4  # 4 × $235 = $940; a fifth would be $1,175
    assert s.cost == pytest.approx(940.0)
    assert s.max_loss == pytest.approx(940.0)
    assert s.binding is BindingConstraint.MAX_PREMIUM_PER_TRADE
    assert "max loss $940.00" in s.reason


def test_fraction_of_equity_binds_for_a_small_account() -> None:
    s = size_position(1.10, equity=5_000, max_premium_per_trade=1_000, max_fraction_of_equity=0.05)
    assert s.budget == pytest.approx(250.0)
    assert s.quantity == 2
    assert s.binding is BindingConstraint.FRACTION_OF_EQUITY


def test_exact_fit_is_not_lost_to_rounding() -> None:
    assert size_position(2.50, 100_000, 1_000, 0.5).quantity == 4
    assert size_position(0.07, 100_000, 0.21 * 100, 0.5).quantity == 3


def test_zero_contracts_with_a_reason_when_one_contract_is_over_budget() -> None:
    s = size_position(
        12.50, equity=25_000, max_premium_per_trade=1_000, max_fraction_of_equity=0.02
    )
    assert s.quantity == 0
    assert not s.tradable
    assert s.cost == 0.0
    assert "one contract costs $1,250.00" in s.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"premium_per_contract": 0.0}, "premium_per_contract must be positive"),
        ({"equity": -1.0}, "equity"),
        ({"max_fraction_of_equity": 1.5}, "max_fraction_of_equity"),
        ({"max_fraction_of_equity": 0.0}, "max_fraction_of_equity"),
        ({"multiplier": 0}, "multiplier"),
        ({"premium_per_contract": float("nan")}, "finite"),
    ],
)
def test_bad_inputs_raise(kwargs: dict[str, float], message: str) -> None:
    args = {
        "premium_per_contract": 1.0,
        "equity": 10_000.0,
        "max_premium_per_trade": 500.0,
        "max_fraction_of_equity": 0.1,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        size_position(**args)  # type: ignore[arg-type]
