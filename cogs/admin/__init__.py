"""``/admin``: status, pause/resume, kill switch, flatten, risk, auto-confirm, channels, reload, sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.admin.cog import AdminCog

if TYPE_CHECKING:
    from bot.app import AplusBot


async def setup(bot: AplusBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(AdminCog(bot))
