"""The option and stock tick grid."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.brokers.errors import InvalidOrder
from core.brokers.models import OrderSide
from core.brokers.ticks import checked_limit_price, tick_for


def test_spy_options_trade_in_pennies_at_every_price() -> None:
    assert tick_for("SPY250613C00602000", D("12.37")) == D("0.01")


def test_penny_program_names_use_nickels_from_three_dollars() -> None:
    assert tick_for("TSLA250613C00330000", D("2.99")) == D("0.01")
    assert tick_for("TSLA250613C00330000", D("3.00")) == D("0.05")


def test_names_outside_the_penny_program_use_nickels_and_dimes() -> None:
    assert tick_for("SAIL250620C00020000", D("1.20")) == D("0.05")
    assert tick_for("SAIL250620C00020000", D("4.00")) == D("0.10")


def test_off_grid_buy_rounds_down_and_sell_rounds_up_when_allowed() -> None:
    sym = "TSLA250613C00330000"
    assert checked_limit_price(sym, D("4.12"), OrderSide.BUY, allow_rounding=True) == D("4.10")
    assert checked_limit_price(sym, D("4.12"), OrderSide.SELL, allow_rounding=True) == D("4.15")


def test_off_grid_price_is_refused_with_the_tick_and_a_safe_price() -> None:
    with pytest.raises(InvalidOrder) as info:
        checked_limit_price("TSLA250613C00330000", D("4.12"), OrderSide.BUY, allow_rounding=False)
    assert "0.05" in str(info.value) and "4.10" in str(info.value)


def test_on_grid_price_passes_unchanged() -> None:
    assert checked_limit_price("NVDA", D("143.01"), OrderSide.BUY, allow_rounding=False) == D("143.01")


def test_sub_penny_stock_price_above_a_dollar_is_refused() -> None:
    with pytest.raises(InvalidOrder):
        checked_limit_price("NVDA", D("143.015"), OrderSide.BUY, allow_rounding=False)
