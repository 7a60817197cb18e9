"""The ``/admin flatten`` confirmation: persistent buttons only an admin may press.

``admin:flatten:confirm:<unix time>`` and ``admin:flatten:keep:<unix time>`` are one
:class:`discord.ui.DynamicItem`, so a click after a restart still answers. The time in the
custom id is when flatten was asked for: a confirmation older than :data:`FLATTEN_TTL` is
refused, so an old message scrolled into by accident cannot close today's book.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord

from cogs.admin import render
from cogs.common.checks import actor, require_admin
from cogs.common.errors import report, tell

if TYPE_CHECKING:
    from bot.app import AplusBot

log = logging.getLogger(__name__)
FLATTEN_TTL = timedelta(minutes=5)
LABELS = {"confirm": ("Flatten everything", discord.ButtonStyle.danger),
          "keep": ("Cancel", discord.ButtonStyle.secondary)}


def flatten_view(stamp: int, *, disabled: bool = False) -> discord.ui.View:
    """Return the Flatten everything / Cancel row of a flatten confirmation."""
    view = discord.ui.View(timeout=None)
    for action in LABELS:
        view.add_item(FlattenButton(action, stamp, disabled=disabled))
    return view


class FlattenButton(discord.ui.DynamicItem[discord.ui.Button],
                    template=r"admin:flatten:(?P<action>confirm|keep):(?P<stamp>[0-9]{1,12})"):
    """Flatten (``confirm``, within the TTL) or call it off (``keep``); admins only."""

    def __init__(self, action: str, stamp: int, *, disabled: bool = False) -> None:
        label, style = LABELS[action]
        super().__init__(discord.ui.Button(label=label, style=style, disabled=disabled,
                                           custom_id=f"admin:flatten:{action}:{stamp}"))
        self.action = action
        self.stamp = stamp

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> FlattenButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["action"], int(match["stamp"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Check the clicker is an admin, then flatten or retire the question."""
        bot: AplusBot = interaction.client  # type: ignore[assignment]
        try:
            require_admin(interaction.user, bot.settings)
            await interaction.response.defer()
            if self.action == "keep":
                outcome = f"Cancelled by {interaction.user.mention}; nothing was sent."
            else:
                outcome = await self._flatten(interaction, bot)
            await interaction.edit_original_response(
                embed=render.flatten_done_embed(outcome),
                view=flatten_view(self.stamp, disabled=True),
                allowed_mentions=discord.AllowedMentions.none())
        except Exception as exc:  # one error path: the user gets a sentence, the log the rest
            await report(interaction, exc)

    async def _flatten(self, interaction: discord.Interaction, bot: AplusBot) -> str:
        age = bot.services.clock.now().timestamp() - self.stamp
        if age > FLATTEN_TTL.total_seconds():
            minutes = int(FLATTEN_TTL.total_seconds() // 60)
            await tell(interaction, f"⌛ This flatten request is more than {minutes} minutes "
                                    "old; run /admin flatten again if you still want it.")
            return "⌛ Expired: nothing was sent."
        who = actor(interaction.user)
        done = await bot.engine.flatten(who)
        log.warning("flatten by %s: %s", who, done)
        summary = render.flatten_summary(done)
        await bot.outbox.announce(f"🧯 **{who}** flattened the book.\n{summary}")
        return f"✅ Flattened by {interaction.user.mention}.\n{summary}"
