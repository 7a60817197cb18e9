"""The ``/close`` confirmation: persistent buttons that only a trader may press.

``close:confirm:<position id>`` and ``close:keep:<position id>`` are one
:class:`discord.ui.DynamicItem`: the custom id is all a click needs, so a click after a restart
still works. The trader check runs on every click, on the server; the engine decides whether
there is still something to close (a second click finds the position closing).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from cogs.common.checks import actor, require_trader
from cogs.common.errors import report, tell
from cogs.trading.render import close_embed
from core.errors import AplusError

if TYPE_CHECKING:
    from bot.app import AplusBot

log = logging.getLogger(__name__)
LABELS = {"confirm": ("Close now", discord.ButtonStyle.danger),
          "keep": ("Keep", discord.ButtonStyle.secondary)}


def close_view(position_id: int, *, disabled: bool = False) -> discord.ui.View:
    """Return the Close now / Keep row of a close confirmation."""
    view = discord.ui.View(timeout=None)
    for action in LABELS:
        view.add_item(CloseButton(action, position_id, disabled=disabled))
    return view


class CloseButton(discord.ui.DynamicItem[discord.ui.Button],
                  template=r"close:(?P<action>confirm|keep):(?P<position_id>[0-9]{1,18})"):
    """Close now (``confirm``) or leave the position open (``keep``); traders only."""

    def __init__(self, action: str, position_id: int, *, disabled: bool = False) -> None:
        label, style = LABELS[action]
        super().__init__(discord.ui.Button(label=label, style=style, disabled=disabled,
                                           custom_id=f"close:{action}:{position_id}"))
        self.action = action
        self.position_id = position_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> CloseButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["action"], int(match["position_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Check the clicker is a trader, then close the position or retire the question."""
        bot: AplusBot = interaction.client  # type: ignore[assignment]
        try:
            require_trader(interaction.user, bot.settings)
            await interaction.response.defer()
            if self.action == "keep":
                outcome = f"Kept open by {interaction.user.mention}; nothing was sent."
            else:
                outcome = await self._close(interaction, bot)
            if outcome is None:
                return  # the message keeps saying who closed it
            pos = await bot.get_cog("Trading").queries.position(self.position_id)  # type: ignore[union-attr]
            await interaction.edit_original_response(
                embed=close_embed(pos, outcome=outcome),
                view=close_view(self.position_id, disabled=True),
                allowed_mentions=discord.AllowedMentions.none())
        except Exception as exc:  # one error path: the user gets a sentence, the log the rest
            await report(interaction, exc)

    async def _close(self, interaction: discord.Interaction, bot: AplusBot) -> str | None:
        """Close the position; return the outcome to show, None when there was nothing to do
        (the clicker is told why, privately)."""
        who = actor(interaction.user)
        try:
            done = await bot.engine.close_position(self.position_id, who)
        except AplusError as exc:
            await tell(interaction, f"⚠️ {exc}")
            return None
        log.info("%s closed position %s: %s", who, self.position_id, done)
        return (f"✅ Close confirmed by {interaction.user.mention}: {done}. "
                "Fills follow in the trade's thread.")
