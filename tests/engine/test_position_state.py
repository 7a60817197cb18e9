"""What the exit rules see of a stored position (``_position_state``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.db.models.trading import PositionRow
from core.engine.base import _position_state


def row(contract: str = "SPY250620C00600000", greeks: dict | None = None,
        entry_trigger: Decimal | None = Decimal("599.80"), targets: list | None = None) -> PositionRow:
    return PositionRow(contract=contract, underlying="SPY", direction="bullish", qty_open=3,
                       qty_filled=5, avg_entry=Decimal("1.85"), stop_price=None,
                       entry_trigger=entry_trigger, targets=targets or [], targets_hit=1,
                       greeks=greeks or {})


def test_state_reads_the_row_and_the_expiry_of_its_contract() -> None:
    state = _position_state(row(greeks={"entry_underlying": 600.12}, targets=["601.5", 603]))
    assert state.expiry == date(2025, 6, 20)
    assert state.entry_underlying == Decimal("600.12") and state.entry_trigger == Decimal("599.80")
    assert state.targets == (Decimal("601.5"), Decimal(603))
    assert (state.qty_initial, state.qty_open, state.targets_hit) == (5, 3, 1)
    assert state.stop_price == Decimal(0)
    # The same contract again (its expiry is remembered), another one parsed afresh.
    assert _position_state(row()).expiry == date(2025, 6, 20)
    assert _position_state(row("QQQ250711P00520000")).expiry == date(2025, 7, 11)


def test_entry_underlying_falls_back_to_the_trigger_then_zero() -> None:
    assert _position_state(row(greeks={"entry_underlying": ""})).entry_underlying == Decimal("599.80")
    assert _position_state(row(entry_trigger=None)).entry_underlying == Decimal(0)


def test_a_bad_contract_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="not an OCC option symbol"):
            _position_state(row("SPY-BAD"))
