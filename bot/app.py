"""The Discord client: a ``commands.Bot`` that receives the engine and loads the cogs.

``AplusBot`` is the composition root's last step. It gets a :class:`bot.services.Services`
(engine, database, broker, scheduler, settings), and in ``setup_hook`` starts them, loads
the cogs, and syncs the slash commands: to ``DISCORD_GUILD_ID`` when set (instant), globally
otherwise. Cogs subscribe to the engine's events themselves and unsubscribe when unloaded.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.services import Services
from cogs.common.errors import report
from cogs.common.outbox import Outbox
from core.chatlinks import ChatLinks
from core.tasks import TaskSupervisor

log = logging.getLogger(__name__)

COGS = ("cogs.setups", "cogs.proposals", "cogs.trading", "cogs.admin", "cogs.health")


def intents() -> discord.Intents:
    """Return the gateway intents the bot needs: guilds, messages and their content."""
    wanted = discord.Intents.default()
    wanted.message_content = True  # to read setup posts
    return wanted


class AplusBot(commands.Bot):
    """The bot: Discord on one side, the trading engine on the other."""

    def __init__(self, services: Services, *, cogs: tuple[str, ...] = COGS,
                 sync_commands: bool = True, live: bool = True, outbox_window: float = 1.0,
                 gateway_intents: discord.Intents | None = None) -> None:
        super().__init__(command_prefix=commands.when_mentioned,
                         intents=gateway_intents or intents(), help_command=None)
        self.services = services
        self.settings = services.settings
        self.engine = services.engine
        self.links = ChatLinks(services.db.sessions, services.clock)
        self.outbox = Outbox(self, log_channel_id=self.settings.log_channel_id,
                             window=outbox_window, clock=services.clock)
        self.tasks = TaskSupervisor("bot")
        self._cogs = cogs
        self._sync = sync_commands
        self._live = live
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        """Start the engine, load the cogs, and sync the command tree."""
        if not self.services.started:
            await self.services.start(live=self._live)
        for name in self._cogs:
            await self.load_extension(name)
        if self._sync:
            await self.sync_commands()
        log.info("ready to trade on the %s", self.services.broker_mode)

    async def sync_commands(self) -> int:
        """Sync the slash commands (to the dev guild when configured) and return how many."""
        guild_id = self.settings.discord_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d commands %s", len(synced),
                 f"to guild {guild_id}" if guild_id else "globally")
        return len(synced)

    async def on_ready(self) -> None:
        """Show the broker in the bot's status, so nobody mistakes the simulator for Alpaca."""
        mode = "simulated exchange" if "simulated" in self.services.broker_mode else "Alpaca paper"
        try:
            await self.change_presence(activity=discord.Activity(
                type=discord.ActivityType.watching, name=f"A+ setups · {mode}"))
        except (discord.HTTPException, AttributeError, ConnectionError):
            log.info("could not set the presence", exc_info=True)

    async def _on_tree_error(self, interaction: discord.Interaction,
                             error: app_commands.AppCommandError) -> None:
        await report(interaction, error)

    async def close(self) -> None:
        """Disconnect, then stop the engine and close the database."""
        try:
            await self.outbox.close()
            await self.tasks.close()
        finally:
            await super().close()
            await self.services.close()
