"""Post each proposal with its buttons, decide it on a trader's click, and narrate the trade.

The cog is an event-bus subscriber: a ``ProposalCreated`` becomes a message (in the trade
channel, or the setup post's channel) with a thread; decisions and refreshes edit that message
(buttons disabled and the embed saying who did what once decided); order, mark and exit
events become lines in the thread (batched by the outbox); a closed position gets a summary
with a chart. Clicks are answered at once (deferred), checked for the trader role on the
server side, and turned into one engine call each.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from cogs.common.checks import actor, is_trader, trader_refusal
from cogs.common.errors import report, tell
from cogs.proposals.narrator import ThreadNarrator
from cogs.proposals.views import DYNAMIC_ITEMS, proposal_view
from cogs.render.events import event_line, fill_line
from cogs.render.proposals import proposal_embed
from cogs.render.style import price
from cogs.render.trades import trade_chart, trade_summary_embed
from core.clock import NEW_YORK
from core.engine.base import ConfirmOutcome
from core.engine.records import proposal_of, setup_origin, trade_record
from core.errors import AplusError
from core.events import (
    BiasFlipped,
    DailySummary,
    EngineStateChanged,
    Event,
    ExitTriggered,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    PositionClosed,
    PositionMarked,
    ProposalCreated,
    ProposalEvent,
    Reconciliation,
    RiskRefused,
    SignalSkipped,
)

if TYPE_CHECKING:
    from bot.app import AplusBot

log = logging.getLogger(__name__)
SUBSCRIBER = "discord-proposals"


class ProposalsCog(commands.Cog, name="Proposals"):
    """Proposals and their trade threads."""

    def __init__(self, bot: AplusBot) -> None:
        self.bot = bot
        self.engine = bot.engine
        self.settings = bot.settings
        self.narrator = ThreadNarrator(bot, summary=self._summary_message,
                                       refresh=self.refresh_proposal)

    async def cog_load(self) -> None:
        """Register the persistent components and subscribe to the engine's events."""
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self.engine.bus.subscribe(SUBSCRIBER, self.on_event)

    async def cog_unload(self) -> None:
        """Stop listening; the buttons keep working once the cog is loaded again."""
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        await self.engine.bus.unsubscribe(SUBSCRIBER)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Tell each trade thread what happened while the bot was away (every READY)."""
        await self.narrator.catch_up()

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A trade thread was deleted: its updates go to the proposal's channel from now on."""
        if await self.bot.links.forget_thread(payload.thread_id):
            log.info("thread %s was deleted; its updates go to its channel", payload.thread_id)

    # -------------------------------------------------------------- clicks -------

    async def _trader_or_refuse(self, interaction: discord.Interaction) -> bool:
        if is_trader(interaction.user, self.settings):
            return True
        await tell(interaction, f"⛔ {trader_refusal(self.settings)}")
        return False

    async def on_confirm(self, interaction: discord.Interaction, proposal_id: int,
                         version: int) -> None:
        """Confirm the version shown; one order however many clicks arrive."""
        if not await self._trader_or_refuse(interaction):
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await self.engine.confirm(proposal_id, actor(interaction.user),
                                               expected_version=version)
            if result.outcome is ConfirmOutcome.SUBMITTED:
                prop = await self.engine.proposal(proposal_id)
                await tell(interaction, f"✅ order sent: buy {prop.quantity} {prop.contract} "
                                        f"limit {price(prop.limit_price)}. Fills follow in the "
                                        "proposal's thread.")
            else:
                await tell(interaction, f"{result.message}.")
        except Exception as exc:  # every click is answered, whatever happened
            await report(interaction, exc)

    async def on_reject(self, interaction: discord.Interaction, proposal_id: int) -> None:
        """Reject the proposal."""
        if not await self._trader_or_refuse(interaction):
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await self.engine.reject(proposal_id, actor(interaction.user))
            await tell(interaction, f"{result.message}.")
        except Exception as exc:
            await report(interaction, exc)

    async def on_contract(self, interaction: discord.Interaction, proposal_id: int,
                          contract: str) -> None:
        """Switch the proposal to an alternate contract."""
        if not await self._trader_or_refuse(interaction):
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            prop = await self.engine.proposal(proposal_id)
            if contract == prop.contract:
                await tell(interaction, f"{contract} is already the proposed contract.")
                return
            prop = await self.engine.amend(proposal_id, actor(interaction.user), contract=contract)
            await tell(interaction, f"Now {prop.quantity} × {prop.contract} at {prop.limit_price}. "
                                    "Check the proposal, then Confirm.")
        except Exception as exc:
            await report(interaction, exc)

    async def on_quantity(self, interaction: discord.Interaction, proposal_id: int,
                          value: str) -> None:
        """Set a smaller quantity."""
        if not await self._trader_or_refuse(interaction):
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            if not value.isdigit():
                raise AplusError(f"{value[:20]!r} is not a quantity")
            prop = await self.engine.amend(proposal_id, actor(interaction.user),
                                           quantity=int(value))
            await tell(interaction, f"Quantity set to {prop.quantity} "
                                    f"(est. cost ${prop.est_cost:,.2f}). Confirm when ready.")
        except Exception as exc:
            await report(interaction, exc)

    # -------------------------------------------------------------- events -------

    async def on_event(self, event: Event) -> None:
        """Render one engine event where it belongs."""
        if isinstance(event, ProposalCreated):
            await self.post_proposal(event.proposal_id)
        elif isinstance(event, ProposalEvent):
            await self.refresh_proposal(event.proposal_id)
            await self._thread_line(event.proposal_id, event)
        elif isinstance(event, OrderEvent):
            pid = event.proposal_id or await proposal_of(self.bot.services.db,
                                                         order_id=event.order_id)
            if pid is not None:
                await self._thread_line(pid, event)
        elif isinstance(event, PositionMarked | ExitTriggered):
            pid = await proposal_of(self.bot.services.db, position_id=event.position_id)
            if pid is not None:
                await self._thread_line(pid, event)
        elif isinstance(event, PositionClosed):
            await self.post_summary(event.position_id)
        elif isinstance(event, RiskRefused | Reconciliation | EngineStateChanged | DailySummary):
            line = event_line(event)
            if line:
                await self.bot.outbox.announce(line)
        elif isinstance(event, SignalSkipped | BiasFlipped):
            await self._setup_line(event)

    async def post_proposal(self, proposal_id: int) -> None:
        """Post a new proposal with its buttons and open its thread."""
        prop = await self.engine.proposal(proposal_id)
        channel_id = self.settings.trade_channel_id
        origin = await setup_origin(self.bot.services.db, prop.signal_id) if prop.signal_id else None
        if channel_id is None and origin is not None:
            channel_id = origin.channel_id
        if channel_id is None:
            log.warning("proposal %s has no channel to go to (set TRADE_CHANNEL_ID)", proposal_id)
            return
        message = await self.bot.outbox.send(channel_id, embed=proposal_embed(prop),
                                             view=proposal_view(prop))
        if message is None:
            return
        thread_id = None
        if not isinstance(message.channel, discord.TextChannel) or not await self.bot.outbox.allowed(
                message.channel, "create threads", create_public_threads=True,
                send_messages_in_threads=True):
            await self.bot.links.save("proposal", proposal_id, channel_id=channel_id,
                                      message_id=message.id,
                                      guild_id=message.guild.id if message.guild else None)
            return
        try:
            thread = await message.create_thread(
                name=f"#{prop.id} {prop.underlying} {prop.category} {prop.contract}"[:100],
                auto_archive_duration=1440)
            thread_id = thread.id
        except discord.Forbidden:
            await self.bot.outbox.problem(channel_id, "threads",
                                          f"I cannot create threads in <#{channel_id}>")
        except discord.HTTPException:
            log.warning("could not open the thread of proposal %s", proposal_id, exc_info=True)
        await self.bot.links.save("proposal", proposal_id, channel_id=channel_id,
                                  message_id=message.id, thread_id=thread_id,
                                  guild_id=message.guild.id if message.guild else None)
        await self.narrator.shown(proposal_id, prop.status, prop.version)

    async def refresh_proposal(self, proposal_id: int) -> None:
        """Re-render the proposal message (decision, new price, new contract)."""
        link = await self.bot.links.get("proposal", proposal_id)
        if link is None or link.message_id is None:
            return
        prop = await self.engine.proposal(proposal_id)
        channel = await self.bot.outbox.channel(link.channel_id)
        if channel is None or not hasattr(channel, "get_partial_message"):
            return
        try:
            await channel.get_partial_message(link.message_id).edit(  # type: ignore[union-attr]
                embed=proposal_embed(prop), view=proposal_view(prop))
        except discord.NotFound:
            log.info("proposal %s message was deleted; updates go to its thread", proposal_id)
        except discord.Forbidden:
            await self.bot.outbox.problem(link.channel_id, "edit",
                                          f"I cannot edit my messages in <#{link.channel_id}>")
            return
        await self.narrator.shown(proposal_id, prop.status, prop.version)

    async def _thread_line(self, proposal_id: int, event: Event) -> None:
        link = await self.bot.links.get("proposal", proposal_id)
        if link is None:
            return
        if isinstance(event, OrderFilled) and event.purpose == "entry":
            prop = await self.engine.proposal(proposal_id)
            line = fill_line(event, prop.limit_price, prop.contract)
        else:
            line = event_line(event)
        if line and isinstance(event, OrderFilled | OrderCanceled | OrderRejected):
            await self.narrator.order_line(proposal_id, event, line)  # once, across restarts
        elif line:
            self.bot.outbox.line(link.thread_id or link.channel_id, line)

    async def _setup_line(self, event: SignalSkipped | BiasFlipped) -> None:
        if isinstance(event, SignalSkipped):
            origin = await setup_origin(self.bot.services.db, event.signal_id)
            link = await self.bot.links.get("setup", origin.message_id) if origin else None
        else:
            link = None
        line = event_line(event)
        if link is not None and line:
            self.bot.outbox.line(link.thread_id or link.channel_id, line)
        elif line:
            await self.bot.outbox.announce(line)

    async def post_summary(self, position_id: int) -> None:
        """Post the closed trade's summary and chart in its thread (once)."""
        pid = await proposal_of(self.bot.services.db, position_id=position_id)
        if pid is not None:
            await self.narrator.summary(pid, position_id)

    async def _summary_message(self, proposal_id: int, position_id: int) -> None:
        trade = await trade_record(self.bot.services.db, position_id)
        if trade is None or trade.proposal is None:
            return
        link = await self.bot.links.get("proposal", trade.proposal.id)
        if link is None:
            return
        target = link.thread_id or link.channel_id
        await self.bot.outbox.flush(target)  # the fills first, then the summary
        pos = trade.position
        day_start = (pos.opened_at or trade.proposal.created_at).astimezone(NEW_YORK).replace(
            hour=9, minute=30, second=0, microsecond=0)
        end = (pos.closed_at or self.bot.services.clock.now()) + timedelta(minutes=15)
        kwargs: dict = {"embed": trade_summary_embed(trade)}
        try:
            bars = await self.engine.market.bars(pos.underlying, day_start, end)
            png = trade_chart(trade, bars)
            kwargs["file"] = discord.File(io.BytesIO(png), filename=f"trade-{pos.id}.png")
            kwargs["embed"].set_image(url=f"attachment://trade-{pos.id}.png")
        except Exception:  # a chart is a nicety: the summary goes out without it
            log.warning("no chart for position %s", position_id, exc_info=True)
        await self.bot.outbox.send(target, **kwargs)
