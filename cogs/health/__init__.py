"""Broker health in the log channel: one line when entries pause, one when they resume."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.health.cog import HealthCog

if TYPE_CHECKING:
    from bot.app import AplusBot


async def setup(bot: AplusBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(HealthCog(bot))
