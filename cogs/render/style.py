"""Colours, number formats and small helpers shared by the renderers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import discord

BULLISH = discord.Colour.from_rgb(46, 204, 113)
BEARISH = discord.Colour.from_rgb(231, 76, 60)
NEUTRAL = discord.Colour.from_rgb(88, 101, 242)
WARNING = discord.Colour.from_rgb(241, 196, 15)
MUTED = discord.Colour.from_rgb(149, 165, 166)

ARROW = {"bullish": "▲", "bearish": "▼"}
CATEGORY_ICON = {"breakout": "🚀", "breakdown": "🔻", "rejection": "🛑", "bounce": "🟢"}
FIELD_LIMIT = 1024
DESCRIPTION_LIMIT = 4096


def colour_for(direction: str | None) -> discord.Colour:
    """Return green for bullish, red for bearish, blurple otherwise."""
    if direction == "bullish":
        return BULLISH
    if direction == "bearish":
        return BEARISH
    return NEUTRAL


def price(value: Decimal | float | None) -> str:
    """Format a price: two decimals, more only when the value has them (0.125).

    A float is read to four decimals first: a mid computed in floats (4.925000000000001) is
    shown as the price it stands for (4.925), never with its binary noise; so is a Decimal
    made from such a float (a mark).
    """
    if value is None:
        return "—"
    d = Decimal(str(round(value, 4))) if isinstance(value, float) else Decimal(value)
    if d.is_finite() and int(d.as_tuple().exponent) < -4:
        d = d.quantize(Decimal("0.0001"))
    if d == d.quantize(Decimal("0.01")):
        return f"{d:,.2f}"
    return f"{d.normalize():,f}"


def usd(value: Decimal | float | None, *, sign: bool = False) -> str:
    """Format dollars: ``$1,234.50``; with ``sign`` a leading + or − for P&L."""
    if value is None:
        return "—"
    d = Decimal(str(value))
    text = f"${abs(d):,.2f}"
    if sign:
        return ("+" if d > 0 else "−" if d < 0 else "±") + text
    return ("−" if d < 0 else "") + text


def pct(value: float | Decimal | None, *, digits: int = 1, sign: bool = False) -> str:
    """Format a percentage given in percent units (12.5 → ``12.5%``)."""
    if value is None:
        return "—"
    f = float(value)
    return f"{f:+.{digits}f}%" if sign else f"{f:.{digits}f}%"


def when(at: datetime, style: str = "t") -> str:
    """Return a Discord timestamp tag (each reader sees their own time zone)."""
    return f"<t:{int(at.timestamp())}:{style}>"


def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    """Cut ``text`` to Discord's ``limit`` with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
