"""Charts: PNG bytes a Discord embed or a report can show, drawn without pyplot."""

from __future__ import annotations

import struct
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.marketdata.models import Bar
from core.reporting.charts import (
    ChartLevel,
    ChartMarker,
    LevelKind,
    equity_chart,
    underlying_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2025, 6, 11, 13, 30, tzinfo=UTC)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def bars(n: int = 60, base: float = 600.0) -> list[Bar]:
    out = []
    for i in range(n):
        o = base + i * 0.05
        c = o + 0.04
        out.append(Bar("SPY", START + timedelta(minutes=i), o, c + 0.03, o - 0.03, c, 1000))
    return out


def test_underlying_chart_is_a_png_with_levels_and_trades() -> None:
    levels = [ChartLevel(601.0, "breakout"), ChartLevel(602.0, "breakout", LevelKind.TARGET),
              ChartLevel(599.5, "bounce")]
    entry = [ChartMarker(START + timedelta(minutes=20), 601.05, "buy 2 @ 1.20")]
    exit_ = [ChartMarker(START + timedelta(minutes=40), 602.0, "T1")]
    data = underlying_chart(bars(), levels, entry, exit_, "SPY 2025-06-11")
    assert png_size(data) == (1000, 500)
    # the levels and markers change the picture
    bare = underlying_chart(bars(), [], [], [], "SPY 2025-06-11")
    assert bare != data
    # same inputs, same bytes (no timestamps in the PNG)
    assert underlying_chart(bars(), levels, entry, exit_, "SPY 2025-06-11") == data


def test_underlying_chart_leaves_out_far_levels_and_survives_no_bars() -> None:
    near = underlying_chart(bars(), [ChartLevel(601.0, "breakout")], [], [], "t")
    with_far = underlying_chart(bars(), [ChartLevel(601.0, "breakout"),
                                         ChartLevel(900.0, "breakout")], [], [], "t")
    assert with_far != near  # the "not shown" note is drawn
    empty = underlying_chart([], [ChartLevel(601.0, "breakout")], [], [], "no data")
    assert png_size(empty) == (1000, 500)


def test_equity_chart_draws_daily_bars_and_cumulative_line() -> None:
    days = [date(2025, 6, 9) + timedelta(days=i) for i in range(5)]
    data = equity_chart(days, [Decimal(100), Decimal(-40), Decimal(0), Decimal(60), Decimal(-10)])
    assert png_size(data) == (1000, 450)
    other = equity_chart(days, [Decimal(100), Decimal(40), Decimal(0), Decimal(60), Decimal(-10)])
    assert other != data
    assert png_size(equity_chart([], [])) == (1000, 450)


def test_equity_chart_refuses_mismatched_series() -> None:
    with pytest.raises(ValueError, match="2 dates but 1"):
        equity_chart([date(2025, 6, 9), date(2025, 6, 10)], [Decimal(1)])


def test_charts_never_load_pyplot() -> None:
    code = ("import sys, datetime as d; from core.reporting.charts import equity_chart; "
            "equity_chart([d.date(2025,1,2)], [1.0]); "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_equity_chart_takes_trade_times_within_a_day() -> None:
    closes = [START + timedelta(hours=1), START + timedelta(hours=3)]
    data = equity_chart(closes, [Decimal(250), Decimal(-80)], title="Realized P&L by trade")
    assert png_size(data) == (1000, 450)
    assert data != equity_chart(closes, [Decimal(250), Decimal(-80)])  # the title is drawn
