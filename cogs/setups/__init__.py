"""The setup channel: read A+ posts, answer in a thread, follow edits and deletes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.setups.cog import SetupsCog

if TYPE_CHECKING:
    from bot.app import AplusBot


async def setup(bot: AplusBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(SetupsCog(bot))
