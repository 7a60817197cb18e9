"""Proposals: the message with Confirm / Reject, and the trade thread under it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.proposals.cog import ProposalsCog

if TYPE_CHECKING:
    from bot.app import AplusBot


async def setup(bot: AplusBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(ProposalsCog(bot))
