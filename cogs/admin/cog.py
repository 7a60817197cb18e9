"""``/admin``: run the bot from Discord, for Manage Server members and the admin role only.

Discord hides the group from members without Manage Server (``default_permissions``), but that
is only a display setting a server can change: every command checks ``require_admin`` on the
server (:meth:`AdminCog.interaction_check`), as does every button click. Every change is
written to ``audit_log`` with who did it (by the engine for trading state, auto-confirm and
risk limits and flatten; by :class:`core.engine.admin.AdminStore` for channels, reload and
sync) and announced in the log channel.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.admin import render
from cogs.admin.views import FLATTEN_TTL, FlattenButton, flatten_view
from cogs.common.checks import actor
from cogs.common.errors import tell
from cogs.common.guards import ACCESS_KEY, Access, check_access, enforce_cooldown
from cogs.common.inputs import BadInput, Text
from cogs.common.replies import ask_in_channel, defer_privately
from core.engine.admin import AdminStore
from core.engine.queries import EngineQueries
from core.engine.risk import RiskLimits, TradingState

if TYPE_CHECKING:
    from bot.app import AplusBot

log = logging.getLogger(__name__)
LIMIT_CHOICES = [app_commands.Choice(name=n, value=n) for n in RiskLimits.model_fields]
SWITCH = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
LimitValue = Text(32, "the value")
NEEDED_IN_SETUP = ("view_channel", "read_message_history", "send_messages",
                   "create_public_threads", "send_messages_in_threads", "embed_links")


class AdminCog(commands.Cog, name="Admin"):
    """The ``/admin`` command group."""

    admin = app_commands.Group(
        name="admin", description="Run the bot: status, pause, kill switch, risk, channels",
        default_permissions=discord.Permissions(manage_guild=True), guild_only=True,
        extras={ACCESS_KEY: str(Access.ADMINS)})
    risk = app_commands.Group(name="risk", description="Show or change the risk limits",
                              parent=admin)
    channel = app_commands.Group(name="channel", description="The channels setups are read from",
                                 parent=admin)

    def __init__(self, bot: AplusBot) -> None:
        self.bot = bot
        self.queries = EngineQueries(bot.engine)
        self.store = AdminStore(bot.engine.db.sessions, bot.engine.state_store)

    async def cog_load(self) -> None:
        """Apply the stored setup-channel changes and register the flatten buttons."""
        changes = await self.store.channel_changes()
        self.bot.settings.setup_channel_ids = changes.apply(self.bot.settings.setup_channel_ids)
        self.bot.add_dynamic_items(FlattenButton)

    async def cog_unload(self) -> None:
        """Forget the flatten buttons."""
        self.bot.remove_dynamic_items(FlattenButton)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        """Refuse non-admins (on the server, whatever Discord showed), then the cooldown."""
        check_access(interaction.user, self.bot, Access.ADMINS)
        enforce_cooldown(interaction)
        return True

    async def _done(self, interaction: discord.Interaction, reply: str, announcement: str) -> None:
        """Answer the admin privately (after :func:`defer_privately`) and announce the action
        in the log channel."""
        await tell(interaction, reply)
        await self.bot.outbox.announce(announcement)

    def _now(self) -> datetime:
        return self.bot.services.clock.now()

    # ----------------------------------------------------------------- status -------

    @admin.command(name="status", description="Connections, broker, market, positions, state")
    async def status(self, interaction: discord.Interaction) -> None:
        """Show the bot's status privately."""
        await defer_privately(interaction)
        s = await self.queries.status()
        embed = render.status_embed(
            s, latency=self.bot.latency, broker=self.bot.services.broker_mode,
            setup_channels=self.bot.settings.setup_channel_ids,
            log_channel=self.bot.settings.log_channel_id, problems=self.bot.outbox.problems)
        await interaction.followup.send(embed=embed, ephemeral=True)

    # ---------------------------------------------------------- trading state -------

    @admin.command(name="pause", description="Stop new entries (exits, stops and closes still run)")
    async def pause(self, interaction: discord.Interaction) -> None:
        """Put the engine in the reducing state."""
        who = actor(interaction.user)
        await defer_privately(interaction)
        await self.bot.engine.set_trading_state(TradingState.REDUCING, who)
        await self._done(interaction, "⏸️ New entries are paused; exits still run. "
                                      "/admin resume to continue.",
                         f"⏸️ **{who}** paused new entries (exits still run).")

    @admin.command(name="resume", description="Allow entries again (also lifts the kill switch)")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Put the engine back in the active state."""
        who = actor(interaction.user)
        await defer_privately(interaction)
        before = self.bot.engine.trading_state
        await self.bot.engine.set_trading_state(TradingState.ACTIVE, who)
        await self._done(interaction, f"▶️ Trading is active again (was {before}).",
                         f"▶️ **{who}** resumed trading (was {before}).")

    @admin.command(name="killswitch", description="Halt: no orders at all, working ones canceled")
    async def killswitch(self, interaction: discord.Interaction) -> None:
        """Halt the engine: nothing goes out until /admin resume."""
        who = actor(interaction.user)
        await defer_privately(interaction)
        await self.bot.engine.set_trading_state(TradingState.HALTED, who)
        await interaction.followup.send(
            "🛑 Kill switch on: no orders go out and working orders were canceled. Open "
            "positions are kept: /admin flatten closes them, /admin resume lifts the switch.",
            ephemeral=True)
        await self.bot.outbox.announce(f"🛑 **{who}** turned the kill switch on.")

    @admin.command(name="flatten", description="Close every position (asks to confirm)")
    async def flatten(self, interaction: discord.Interaction) -> None:
        """Post a confirmation that only an admin's click carries out."""
        await defer_privately(interaction)
        s = await self.queries.status()
        stamp = int(self._now().timestamp())
        await ask_in_channel(
            interaction, "🧯 Asked below: an admin must press **Flatten everything** within "
                         f"{int(FLATTEN_TTL.total_seconds() // 60)} minutes.",
            embed=render.flatten_request_embed(s.open_positions, s.working_orders),
            view=flatten_view(stamp))

    @admin.command(name="autoconfirm", description="Confirm proposals that pass risk by themselves")
    @app_commands.choices(state=SWITCH)
    async def autoconfirm(self, interaction: discord.Interaction,
                          state: app_commands.Choice[str]) -> None:
        """Turn auto-confirm on or off."""
        who = actor(interaction.user)
        on = state.value == "on"
        await defer_privately(interaction)
        await self.bot.engine.set_auto_confirm(on, who)
        await self._done(interaction, f"Auto-confirm is {state.value}.",
                         f"🤖 **{who}** turned auto-confirm {state.value}.")

    # ------------------------------------------------------------------- risk -------

    @risk.command(name="show", description="Every risk limit and its value")
    async def risk_show(self, interaction: discord.Interaction) -> None:
        """Show the limits privately."""
        engine = self.bot.engine
        await interaction.response.send_message(
            embed=render.risk_embed(engine.limits, engine.config.risk), ephemeral=True)

    @risk.command(name="set", description="Change one risk limit (checked before it applies)")
    @app_commands.describe(limit="The limit to change", value="Its new value, e.g. 5 or 1500")
    @app_commands.choices(limit=LIMIT_CHOICES)
    async def risk_set(self, interaction: discord.Interaction, limit: app_commands.Choice[str],
                       value: app_commands.Transform[str, LimitValue]) -> None:
        """Change a limit; a bad value is refused with the reason and nothing changes."""
        who = actor(interaction.user)
        await defer_privately(interaction)
        old = render.limit_value(self.bot.engine.limits, limit.value)
        new = await self.bot.engine.set_limit(limit.value, value, who)
        shown = render.limit_value(new, limit.value)
        await self._done(interaction, f"✅ {limit.value}: {old} → **{shown}**.",
                         f"⚖️ **{who}** changed {limit.value}: {old} → {shown}.")

    # ---------------------------------------------------------------- channels ------

    async def _change_channel(self, interaction: discord.Interaction,
                              target: discord.TextChannel, *, add: bool) -> str:
        """Add or remove a setup channel, store and audit it; return the admin's name."""
        settings = self.bot.settings
        if (target.id in settings.setup_channel_ids) == add:
            raise BadInput(f"{target.mention} is {'already' if add else 'not'} a setup channel.")
        changes = await self.store.channel_changes()
        # the configured list: the current one without the runtime changes
        base = [c for c in settings.setup_channel_ids if c not in changes.added]
        base += list(changes.removed)
        new = changes.with_added(target.id, base) if add else changes.with_removed(target.id, base)
        who = actor(interaction.user)
        await self.store.save_channels(
            new, at=self._now(), actor=who, action="channel_add" if add else "channel_remove",
            detail=f"setup channel {target.id} {'added' if add else 'removed'}")
        settings.setup_channel_ids = new.apply(base)
        return who

    @channel.command(name="add", description="Read setups from this channel too")
    @app_commands.describe(target="A text channel")
    @app_commands.rename(target="channel")
    async def channel_add(self, interaction: discord.Interaction,
                          target: discord.TextChannel) -> None:
        """Add a setup channel (kept across restarts); say which permissions it lacks."""
        await defer_privately(interaction)
        who = await self._change_channel(interaction, target, add=True)
        perms = target.permissions_for(target.guild.me)
        missing = [p.replace("_", " ") for p in NEEDED_IN_SETUP if not getattr(perms, p)]
        warn = (f"\n⚠️ I lack these permissions there: {', '.join(missing)}. Posts will not "
                "get their thread until an admin grants them.") if missing else ""
        await self._done(interaction, f"✅ {target.mention} is now a setup channel: new A+ "
                                      f"posts there are read.{warn}",
                         f"📥 **{who}** added setup channel {target.mention}.")

    @channel.command(name="remove", description="Stop reading setups from this channel")
    @app_commands.describe(target="A text channel")
    @app_commands.rename(target="channel")
    async def channel_remove(self, interaction: discord.Interaction,
                             target: discord.TextChannel) -> None:
        """Remove a setup channel (kept across restarts); stored setups stay."""
        await defer_privately(interaction)
        who = await self._change_channel(interaction, target, add=False)
        await self._done(interaction, f"✅ {target.mention} is no longer a setup channel; its "
                                      "stored setups and their levels are kept.",
                         f"📤 **{who}** removed setup channel {target.mention}.")

    # ------------------------------------------------------------------- bot --------

    @admin.command(name="reload", description="Reload the bot's cogs (after an update)")
    async def reload(self, interaction: discord.Interaction) -> None:
        """Reload every loaded cog; a cog that fails keeps its previous version."""
        who = actor(interaction.user)
        await defer_privately(interaction)
        done, failed = [], []
        for name in list(self.bot.extensions):
            try:
                await self.bot.reload_extension(name)
                done.append(name)
            except commands.ExtensionError as exc:
                log.exception("reloading %s failed", name)
                failed.append(f"{name} ({type(exc.__cause__ or exc).__name__})")
        detail = f"reloaded {', '.join(done) or 'nothing'}" + (
            f"; failed: {', '.join(failed)}" if failed else "")
        await self.store.record(at=self._now(), actor=who, action="reload", detail=detail)
        text = f"🔄 {detail}." + (" The failed ones keep running their previous version; see "
                                  "the log." if failed else "")
        await interaction.followup.send(text, ephemeral=True)
        await self.bot.outbox.announce(f"🔄 **{who}** {detail}.")

    @admin.command(name="sync", description="Sync the slash commands with Discord")
    async def sync(self, interaction: discord.Interaction) -> None:
        """Sync the command tree (to the dev guild when one is configured)."""
        who = actor(interaction.user)
        await defer_privately(interaction)
        count = await self.bot.sync_commands()
        where = (f"to guild {self.bot.settings.discord_guild_id}"
                 if self.bot.settings.discord_guild_id else "globally (may take up to an hour)")
        await self.store.record(at=self._now(), actor=who, action="sync",
                                detail=f"synced {count} commands {where}")
        await interaction.followup.send(f"✅ Synced {count} commands {where}.", ephemeral=True)
        await self.bot.outbox.announce(f"🔁 **{who}** synced {count} slash commands {where}.")
