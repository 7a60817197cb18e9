"""OCC option symbols: parsing, building, validation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.options.occ import InvalidOccSymbol, OccSymbol, OptionRight


def test_parse_spy_call() -> None:
    sym = OccSymbol.parse("SPY250606C00590000")
    assert sym.root == "SPY"
    assert sym.expiry == date(2025, 6, 6)
    assert sym.right is OptionRight.CALL
    assert sym.strike == Decimal("590")
    assert str(sym) == "SPY250606C00590000"


@pytest.mark.parametrize(
    "text",
    [
        "SPY250606C00590000",
        "AAPL240802P00222500",
        "SPXW250620C05900000",
        "F250117C00012500",
        "X250117P00000500",
    ],
)
def test_parse_then_build_round_trips(text: str) -> None:
    assert str(OccSymbol.parse(text)) == text


def test_fractional_strike_and_padded_osi_form() -> None:
    sym = OccSymbol.parse("SPXW  250606P05900500")
    assert sym.root == "SPXW"
    assert sym.strike == Decimal("5900.5")
    assert sym.right is OptionRight.PUT
    assert sym.osi() == "SPXW  250606P05900500"
    assert str(sym) == "SPXW250606P05900500"


def test_build_from_parts_rounds_float_strikes() -> None:
    sym = OccSymbol.build("aapl", date(2024, 8, 2), "P", 222.5)
    assert str(sym) == "AAPL240802P00222500"
    assert OccSymbol.build("SPY", date(2025, 6, 6), OptionRight.CALL, "590") == OccSymbol.parse(
        "SPY250606C00590000"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SPY250631C00590000", "invalid expiry date"),
        ("SPY25060C00590000", "not an OCC symbol"),
        ("SPY250606X00590000", "not an OCC symbol"),
        ("SPY250606C0059000", "not an OCC symbol"),
        ("SPY250606C00000000", "zero strike"),
        ("TOOLONG250606C00590000", "not an OCC symbol"),
        ("", "not an OCC symbol"),
    ],
)
def test_invalid_symbols_raise_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(InvalidOccSymbol, match=message):
        OccSymbol.parse(text)


def test_invalid_parts_are_rejected_when_building() -> None:
    with pytest.raises(InvalidOccSymbol, match=r"multiple of 0\.001"):
        OccSymbol.build("SPY", date(2025, 6, 6), "C", "590.0005")
    with pytest.raises(InvalidOccSymbol, match="root"):
        OccSymbol.build("S&P", date(2025, 6, 6), "C", 590)
    with pytest.raises(ValueError, match="C/P"):
        OccSymbol.build("SPY", date(2025, 6, 6), "X", 590)


def test_invalid_symbol_is_a_value_error() -> None:
    assert issubclass(InvalidOccSymbol, ValueError)


def test_right_parses_letters_and_words() -> None:
    assert OptionRight.parse("c") is OptionRight.CALL
    assert OptionRight.parse("Put") is OptionRight.PUT
    assert OptionRight.PUT.letter == "P"
