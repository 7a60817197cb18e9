"""Slash commands to look at the book and close a position.

Every command checks who is asking on the server (``@allowed``) and allows one command per
user per ``COMMAND_COOLDOWN_SECONDS`` (``@per_user_cooldown``); each calls one query of
:class:`core.engine.queries.EngineQueries` (or the engine) and renders the typed result. Answers
are ephemeral unless ``public`` is set; long lists page with buttons that only the member who
asked can press (:mod:`cogs.common.paginate`). ``/close`` answers in the channel with a
persistent confirmation (:mod:`cogs.trading.views`) that only a trader can press.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.common.guards import Access, access_of, allowed, per_user_cooldown
from cogs.common.paginate import PageButton, send_pages
from cogs.common.replies import ask_in_channel, defer_privately
from cogs.trading import render
from cogs.trading.transformers import PositionRef, TradingDay
from cogs.trading.views import CloseButton, close_view
from core.db.models.trading import PositionStatus
from core.engine.base import EngineError
from core.engine.queries import EngineQueries, Period
from core.reporting.charts import equity_chart

if TYPE_CHECKING:
    from bot.app import AplusBot

log = logging.getLogger(__name__)
PUBLIC = "Post the answer in the channel for everyone (default: only you see it)"
ORDERS_LIMIT = 200
PERIOD_CHOICES = [app_commands.Choice(name=render.PERIOD_TITLE[p], value=str(p)) for p in Period]


class TradingCog(commands.Cog, name="Trading"):
    """/positions, /pnl, /orders, /setups, /signals, /close, /stats and /help."""

    def __init__(self, bot: AplusBot) -> None:
        self.bot = bot
        self.queries = EngineQueries(bot.engine)
        self.page_sources = {
            "positions": self._position_pages,
            "orders": self._order_pages,
            "setups": self._setup_pages,
            "signals": self._signal_pages,
        }

    async def cog_load(self) -> None:
        """Register the persistent buttons (close confirmations and page buttons)."""
        self.bot.add_dynamic_items(CloseButton, PageButton)

    async def cog_unload(self) -> None:
        """Forget the persistent buttons."""
        self.bot.remove_dynamic_items(CloseButton, PageButton)

    # ----------------------------------------------------------- page sources -------

    async def _position_pages(self, _: discord.Interaction, __: str) -> list[discord.Embed]:
        positions = await self.bot.engine.positions(open_only=True)
        return render.positions_pages(positions, self.bot.engine.exposure)

    async def _order_pages(self, _: discord.Interaction, arg: str) -> list[discord.Embed]:
        open_only = arg == "open"
        orders = await self.bot.engine.orders(open_only=open_only, limit=ORDERS_LIMIT)
        return render.orders_pages(orders, open_only=open_only)

    async def _setup_pages(self, _: discord.Interaction, arg: str) -> list[discord.Embed]:
        day = date.fromisoformat(arg)
        return render.setups_pages(day, await self.queries.setups_for(day))

    async def _signal_pages(self, _: discord.Interaction, arg: str) -> list[discord.Embed]:
        day = date.fromisoformat(arg) if arg else self.queries.today()
        return render.signals_pages(day, await self.queries.signal_board(day))

    async def _pages(self, interaction: discord.Interaction, source: str, arg: str,
                     public: bool) -> None:
        await interaction.response.defer(ephemeral=not public, thinking=True)
        pages = await self.page_sources[source](interaction, arg)
        await send_pages(interaction, pages, source=source, arg=arg, ephemeral=not public)

    # --------------------------------------------------------------- commands -------

    @app_commands.command(name="positions", description="Open positions with P&L and Greeks")
    @app_commands.describe(public=PUBLIC)
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.VIEWERS)
    async def positions(self, interaction: discord.Interaction, public: bool = False) -> None:
        """Show the open positions, five per page, with portfolio Greeks."""
        await self._pages(interaction, "positions", "", public)

    @app_commands.command(name="pnl", description="Realized and unrealized P&L with an equity chart")
    @app_commands.describe(period="day (default), week, month or all", public=PUBLIC)
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.VIEWERS)
    @app_commands.choices(period=PERIOD_CHOICES)
    async def pnl(self, interaction: discord.Interaction,
                  period: app_commands.Choice[str] | None = None, public: bool = False) -> None:
        """Show the P&L of a period and attach its equity curve."""
        await interaction.response.defer(ephemeral=not public, thinking=True)
        report = await self.queries.pnl(Period(period.value) if period else Period.DAY)
        png = await asyncio.to_thread(equity_chart, report.days, report.daily_realized)
        await interaction.followup.send(
            embed=render.pnl_embed(report), ephemeral=not public,
            file=discord.File(io.BytesIO(png), filename=render.CHART_NAME))

    @app_commands.command(name="orders", description="Our orders, newest first")
    @app_commands.describe(working="Only the orders still working", public=PUBLIC)
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.VIEWERS)
    async def orders(self, interaction: discord.Interaction, working: bool = False,
                     public: bool = False) -> None:
        """List orders, ten per page."""
        await self._pages(interaction, "orders", "open" if working else "", public)

    @app_commands.command(name="setups", description="The A+ setups stored for a date")
    @app_commands.describe(day="YYYY-MM-DD, today or yesterday (default: today)", public=PUBLIC)
    @app_commands.rename(day="date")
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.VIEWERS)
    async def setups(self, interaction: discord.Interaction,
                     day: app_commands.Transform[date, TradingDay] | None = None,
                     public: bool = False) -> None:
        """Show a day's setups per ticker: bias, levels, targets and status."""
        await self._pages(interaction, "setups", (day or self.queries.today()).isoformat(), public)

    @app_commands.command(name="signals", description="Today's levels: what is watched and its state")
    @app_commands.describe(public=PUBLIC)
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.VIEWERS)
    async def signals(self, interaction: discord.Interaction, public: bool = False) -> None:
        """Show today's signals: watched, touched, triggered, expired or invalidated."""
        await self._pages(interaction, "signals", self.queries.today().isoformat(), public)

    @app_commands.command(name="stats", description="Win rate, profit factor, drawdown, Sharpe")
    @app_commands.describe(period="all (default), month, week or day", public=PUBLIC)
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.VIEWERS)
    @app_commands.choices(period=PERIOD_CHOICES)
    async def stats(self, interaction: discord.Interaction,
                    period: app_commands.Choice[str] | None = None, public: bool = False) -> None:
        """Show the statistics of the trades closed in a period."""
        await interaction.response.defer(ephemeral=not public, thinking=True)
        chosen = Period(period.value) if period else Period.ALL
        report = await self.queries.performance(chosen)
        await interaction.followup.send(embed=render.stats_embed(report, chosen),
                                        ephemeral=not public)

    @app_commands.command(name="close", description="Close an open position (asks to confirm)")
    @app_commands.describe(position="The position: pick one, or type its number")
    @app_commands.guild_only()
    @per_user_cooldown()
    @allowed(Access.TRADERS)
    async def close(self, interaction: discord.Interaction,
                    position: app_commands.Transform[int, PositionRef]) -> None:
        """Post a confirmation with Close now / Keep buttons for a trader to press."""
        await defer_privately(interaction)
        pos = await self.queries.position(position)
        if pos.status != PositionStatus.OPEN:
            raise EngineError(f"position #{pos.id} is {pos.status}; nothing to close")
        await ask_in_channel(interaction, f"Asked below: a trader must press **Close now** to "
                                          f"close position #{pos.id}.",
                             embed=render.close_embed(pos), view=close_view(pos.id))

    @app_commands.command(name="help", description="Every command and who may use it")
    @per_user_cooldown()
    @allowed(Access.EVERYONE)
    async def help_command(self, interaction: discord.Interaction) -> None:
        """List every slash command with its description and who may use it."""
        await interaction.response.send_message(embed=render.help_embed(self.command_list()),
                                                ephemeral=True)

    def command_list(self) -> Sequence[tuple[str, str, str]]:
        """Return (name, description, who) of every slash command the bot has."""
        out = []
        for cmd in self.bot.tree.walk_commands():
            if isinstance(cmd, app_commands.Command):
                out.append((cmd.qualified_name, cmd.description, str(access_of(cmd))))
        return out
