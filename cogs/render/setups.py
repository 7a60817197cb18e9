"""Setup posts: one compact embed per ticker, warnings, and edit/delete notes."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from cogs.render.style import ARROW, CATEGORY_ICON, WARNING, clip, colour_for, price
from core.parsing.models import Bias, ParsedMessage, Signal, TickerSetup
from core.setups import IngestResult, SignalChange

MAX_TICKER_EMBEDS = 9  # Discord allows 10 embeds per message; one is kept for warnings


def signal_line(sig: Signal) -> str:
    """Return one signal as a line: icon, category, aggressiveness, trigger and targets."""
    icon = CATEGORY_ICON.get(str(sig.category), "•")
    agg = "" if str(sig.aggressiveness) == "none" else f" ({sig.aggressiveness})"
    low, high = sig.trigger_low, sig.trigger_high
    where = f"{price(low)}–{price(high)}" if low != high else f"{sig.comparison} {price(low)}"
    targets = " · ".join(price(t) for t in sig.targets) or "no targets"
    return f"{icon} **{str(sig.category).capitalize()}**{agg} {where} → {targets}"


def bias_line(bias: Bias | None) -> str:
    """Return the bias as a sentence; a narrative-only bias keeps its text."""
    if bias is None:
        return "Bias: not stated"
    if bias.direction is None:
        return f"Bias: “{clip(bias.text, 200)}”"
    text = f"Bias: {ARROW[str(bias.direction)]} **{bias.direction}**"
    if bias.condition is not None and bias.price is not None:
        text += f" {bias.condition} {price(bias.price)}"
    if bias.flip is not None:
        text += f", flips {bias.flip.direction} at {price(bias.flip.price)}"
    return text


def ticker_embed(setup: TickerSetup, trading_date: str | None) -> discord.Embed:
    """Return the embed of one ticker: bias on top, then one line per signal."""
    direction = str(setup.bias.direction) if setup.bias and setup.bias.direction else None
    embed = discord.Embed(
        title=f"{setup.symbol} · {trading_date or 'date not stated'}",
        colour=colour_for(direction),
        description=clip("\n".join([bias_line(setup.bias), *map(signal_line, setup.signals)]),
                         4096))
    n = len(setup.signals)
    embed.set_footer(text=f"{n} level{'s' if n != 1 else ''} watched")
    return embed


def warnings_embed(warnings: Sequence[str]) -> discord.Embed:
    """Return the lines the parser could not read, so the poster can fix them."""
    body = "\n".join(f"• {w}" for w in warnings)
    return discord.Embed(title="⚠️ Lines I could not read", colour=WARNING,
                         description=clip(body, 4096))


def setup_embeds(parsed: ParsedMessage) -> list[discord.Embed]:
    """Return the reply to a setup post: a compact embed per ticker plus any warnings."""
    day = parsed.trading_date.isoformat() if parsed.trading_date else None
    embeds = [ticker_embed(s, day) for s in parsed.setups[:MAX_TICKER_EMBEDS]]
    warnings = list(parsed.warnings)
    if len(parsed.setups) > MAX_TICKER_EMBEDS:
        skipped = ", ".join(s.symbol for s in parsed.setups[MAX_TICKER_EMBEDS:])
        warnings.append(f"too many tickers to show here; also watched: {skipped}")
    if warnings:
        embeds.append(warnings_embed(warnings))
    return embeds


def change_line(change: SignalChange) -> str:
    """Return one difference between two readings of a post."""
    mark = {"added": "➕", "removed": "➖", "changed": "✏️"}.get(change.kind, "•")
    return f"{mark} {change.symbol}: {change.detail}"


def edit_text(result: IngestResult) -> str:
    """Return the thread note for an edited post: what changed, or that nothing did."""
    if not result.changes:
        return "✏️ The post was edited; the levels are unchanged."
    lines = ["✏️ The post was edited. Changes:", *map(change_line, result.changes)]
    if result.invalidated_signal_ids:
        n = len(result.invalidated_signal_ids)
        lines.append(f"{n} level{'s' if n != 1 else ''} no longer watched; "
                     "open proposals from them can no longer be confirmed.")
    return clip("\n".join(lines), 2000)


def delete_text(result: IngestResult) -> str:
    """Return the thread note for a deleted post."""
    n = len(result.invalidated_signal_ids)
    if n == 0:
        return "🗑️ The post was deleted. None of its levels were still live."
    return (f"🗑️ The post was deleted: {n} level{'s' if n != 1 else ''} invalidated. "
            "Open proposals from them can no longer be confirmed; open positions are kept "
            "and managed as before.")
