"""Say in the log channel, once per change, when the broker degrades and when it recovers.

The judgement is the engine's (:mod:`core.engine.health`); this cog only subscribes to
:class:`~core.events.BrokerHealthChanged` and posts the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.health.render import health_line
from core.events import BrokerHealthChanged, Event

if TYPE_CHECKING:
    from bot.app import AplusBot

SUBSCRIBER = "discord-health"


class HealthCog(commands.Cog, name="Health"):
    """Broker health announcements."""

    def __init__(self, bot: AplusBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Subscribe to the engine's health changes."""
        self.bot.engine.bus.subscribe(SUBSCRIBER, self.on_event, (BrokerHealthChanged,))

    async def cog_unload(self) -> None:
        """Stop listening."""
        await self.bot.engine.bus.unsubscribe(SUBSCRIBER)

    async def on_event(self, event: Event) -> None:
        """Post the change in the log channel."""
        if isinstance(event, BrokerHealthChanged):
            await self.bot.outbox.announce(health_line(event))
