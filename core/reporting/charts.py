"""PNG charts for reports and Discord: an underlying with its levels and trades, an equity curve.

Built on matplotlib's object API with the Agg canvas (``Figure`` + ``FigureCanvasAgg``): no
``pyplot``, no global backend switch, no figure registry, so charts can be drawn from any thread
and nothing leaks between calls. Each function returns the PNG bytes; the same inputs give the
same bytes (the PNG carries no timestamp or version metadata).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.clock import NEW_YORK
from core.marketdata.models import Bar

log = logging.getLogger(__name__)

CATEGORY_COLOURS = {
    "breakout": "#1f9d55",
    "breakdown": "#cc1f1a",
    "rejection": "#d97706",
    "bounce": "#2563eb",
}
_OTHER_COLOUR = "#6b7280"
_PNG_METADATA = {"Software": None}


class LevelKind(StrEnum):
    """A trigger (solid line) or a target (dashed line)."""

    TRIGGER = "trigger"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class ChartLevel:
    """A horizontal line: a signal's trigger or one of its targets."""

    price: float
    category: str
    kind: LevelKind = LevelKind.TRIGGER
    label: str | None = None  # defaults to "<category> <price>" / "T <price>"


@dataclass(frozen=True, slots=True)
class ChartMarker:
    """An entry or exit, placed at the underlying's price at that moment."""

    at: datetime
    price: float
    label: str = ""


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf, metadata=_PNG_METADATA)
    return buf.getvalue()


def _new_figure(width: float = 10.0, height: float = 5.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def underlying_chart(
    bars: Sequence[Bar],
    levels: Sequence[ChartLevel],
    entries: Sequence[ChartMarker],
    exits: Sequence[ChartMarker],
    title: str,
) -> bytes:
    """Draw the underlying's closes (high–low band shaded) with levels and trades; return PNG.

    Triggers are solid lines and targets dashed, coloured by category and labelled at the right
    edge. Levels far outside the traded range (more than half the range beyond it) are not drawn
    so they cannot squash the price line; a note says how many were left out. Entries are green
    up-triangles, exits red down-triangles. Times are shown in New York time.
    """
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.grid(True, alpha=0.3)
    if not bars:
        ax.text(0.5, 0.5, "no bars", ha="center", va="center", transform=ax.transAxes)
        return _png(fig)
    xs = [b.timestamp.astimezone(NEW_YORK).replace(tzinfo=None) for b in bars]
    ax.fill_between(xs, [b.low for b in bars], [b.high for b in bars],
                    color="#94a3b8", alpha=0.35, linewidth=0, step="post")
    ax.plot(xs, [b.close for b in bars], color="#111827", linewidth=1.0, label="close")
    lo, hi = min(b.low for b in bars), max(b.high for b in bars)
    span = max(hi - lo, hi * 0.005)
    shown_lo, shown_hi = lo - span / 2, hi + span / 2
    hidden = 0
    for lv in sorted(levels, key=lambda lv: (lv.price, lv.kind, lv.category)):
        if not shown_lo <= lv.price <= shown_hi:
            hidden += 1
            continue
        colour = CATEGORY_COLOURS.get(lv.category, _OTHER_COLOUR)
        dashed = lv.kind is LevelKind.TARGET
        ax.axhline(lv.price, color=colour, linewidth=0.9 if dashed else 1.3,
                   linestyle="--" if dashed else "-", alpha=0.85)
        text = lv.label or (f"T {lv.price:g}" if dashed else f"{lv.category} {lv.price:g}")
        ax.annotate(text, xy=(1.0, lv.price), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=7,
                    color=colour)
    for markers, style, colour, name in ((entries, "^", "#15803d", "entry"),
                                         (exits, "v", "#b91c1c", "exit")):
        if not markers:
            continue
        ax.scatter([m.at.astimezone(NEW_YORK).replace(tzinfo=None) for m in markers],
                   [m.price for m in markers], marker=style, s=70, color=colour,
                   edgecolors="black", linewidths=0.5, zorder=5, label=name)
        for m in markers:
            if m.label:
                ax.annotate(m.label, xy=(m.at.astimezone(NEW_YORK).replace(tzinfo=None), m.price),
                            xytext=(4, 6 if name == "entry" else -10),
                            textcoords="offset points", fontsize=7, color=colour)
    if hidden:
        ax.text(0.01, 0.01, f"{hidden} level(s) outside the day's range not shown",
                transform=ax.transAxes, fontsize=7, color=_OTHER_COLOUR)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel("New York time")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _label(x: date | datetime) -> str:
    if isinstance(x, datetime):
        return x.astimezone(NEW_YORK).strftime("%H:%M")
    return x.isoformat()


def equity_chart(dates: Sequence[date | datetime], daily_pnl: Sequence[Decimal | float],
                 title: str = "P&L") -> bytes:
    """Draw P&L bars (green up, red down) under the cumulative P&L line; return PNG.

    ``dates`` are the bars' labels: days (``YYYY-MM-DD``) for a daily curve, or datetimes
    (shown as New York ``HH:MM``) for one P&L per trade within a day.
    """
    if len(dates) != len(daily_pnl):
        raise ValueError(f"{len(dates)} dates but {len(daily_pnl)} P&L values")
    fig = _new_figure(10.0, 4.5)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_ylabel("dollars")
    ax.grid(True, alpha=0.3)
    ax.axhline(0, color="black", linewidth=0.6)
    if not dates:
        ax.text(0.5, 0.5, "no trading days", ha="center", va="center", transform=ax.transAxes)
        return _png(fig)
    values = [float(p) for p in daily_pnl]
    cumulative: list[float] = []
    total = 0.0
    for v in values:
        total += v
        cumulative.append(total)
    xs = list(range(len(dates)))
    ax.bar(xs, values, color=["#16a34a" if v >= 0 else "#dc2626" for v in values],
           alpha=0.6, label="daily")
    ax.plot(xs, cumulative, color="#1d4ed8", linewidth=1.6, marker="o" if len(xs) <= 31 else None,
            markersize=3, label="cumulative")
    step = max(1, len(xs) // 10)
    ax.set_xticks(xs[::step], [_label(d) for d in dates[::step]], rotation=30, ha="right",
                  fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)
