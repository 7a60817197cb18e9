"""Answer first, then work: Discord drops an interaction not answered within 3 seconds.

A handler that may touch the database or the broker (SQLite waits up to 5 s for a lock)
calls :func:`defer_privately` right after its cheap permission checks, then sends its answer
as a follow-up (:func:`cogs.common.errors.tell` picks the right call). A question that other
members must answer (a close or flatten confirmation) is posted with :func:`ask_in_channel`:
the asker gets a private note, the channel gets the question with its buttons.
"""

from __future__ import annotations

from typing import Any

import discord


async def defer_privately(interaction: discord.Interaction) -> None:
    """Acknowledge ``interaction`` with a private "thinking…" (once; later calls do nothing)."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


async def ask_in_channel(interaction: discord.Interaction, note: str,
                         **message: Any) -> discord.WebhookMessage:
    """After :func:`defer_privately`: tell the asker ``note`` privately, then post ``message``
    (an embed and its view) in the channel for everyone; return the posted message."""
    await interaction.edit_original_response(content=note)
    return await interaction.followup.send(
        **message, wait=True, allowed_mentions=discord.AllowedMentions.none())
