"""Slash commands on the book: positions, P&L, orders, setups, signals, close, stats, help."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.trading.cog import TradingCog

if TYPE_CHECKING:
    from bot.app import AplusBot


async def setup(bot: AplusBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(TradingCog(bot))
