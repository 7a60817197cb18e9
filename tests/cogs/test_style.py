"""Prices and dollars as a trader reads them in embeds and thread lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cogs.render.style import price


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (4.925000000000001, "4.925"),  # a float mid: (4.90 + 4.95) / 2
        (0.5700000000000001, "0.57"),
        (0.1 + 0.2, "0.30"),
        (591.82, "591.82"),
        (1234.5, "1,234.50"),
        (Decimal("0.125"), "0.125"),
        (Decimal("4.050000000000001"), "4.05"),  # a mark made from a float mid
        (Decimal("-0.1250000000000003"), "-0.125"),
        (Decimal("600"), "600.00"),
        (None, "—"),
    ],
)
def test_prices_show_two_decimals_or_the_real_third_never_float_noise(
    value: float | Decimal | None, shown: str
) -> None:
    assert price(value) == shown
