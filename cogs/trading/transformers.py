"""Options of the trading commands: a position (autocompleted) and a date with setups.

Both are text options so the autocomplete can match what is typed (an id, a ticker, part of a
date); what comes back is checked here, on the server, whatever the client sent.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from cogs.common.checks import NotAllowed
from cogs.common.guards import Access, check_access
from cogs.common.inputs import BadInput, clean_text, shown
from cogs.trading.render import position_choice

if TYPE_CHECKING:
    from core.engine.queries import EngineQueries

log = logging.getLogger(__name__)
POSITION_ID = re.compile(r"#?([0-9]{1,12})")


def _queries(interaction: discord.Interaction) -> EngineQueries:
    cog = interaction.client.get_cog("Trading")  # type: ignore[attr-defined]
    if cog is None:
        raise BadInput("the trading commands are reloading; try again in a moment.")
    return cog.queries


def _may(interaction: discord.Interaction, access: Access) -> bool:
    """Tell whether the member typing may see what the autocomplete would offer."""
    try:
        check_access(interaction.user, interaction.client, access)  # type: ignore[arg-type]
    except NotAllowed:
        return False
    return True


class PositionRef(app_commands.Transformer):
    """A position id, typed or picked from the open positions (``12`` or ``#12``)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        """Return the option type: text, so the autocomplete can match tickers too."""
        return discord.AppCommandOptionType.string

    @property
    def max_value(self) -> int:
        """Return the longest text accepted."""
        return 40

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> int:
        """Return the position id or explain what a position looks like."""
        text = clean_text(value, max_length=40, what="the position")
        m = POSITION_ID.fullmatch(text.split(" ", 1)[0])
        if m is None or int(m.group(1)) == 0:
            raise BadInput(f"{shown(text)!s} is not a position; pick one from the list or type "
                           "its number (see /positions).")
        return int(m.group(1))

    async def autocomplete(self, interaction: discord.Interaction,  # type: ignore[override]
                           value: str, /) -> list[app_commands.Choice[str]]:
        """Offer the open positions whose id or contract matches what is typed."""
        if not _may(interaction, Access.TRADERS):
            return []  # the list itself is for traders only
        try:
            rows = await _queries(interaction).open_positions_matching(str(value)[:40])
        except Exception:  # an autocomplete cannot show an error: offer nothing, log why
            log.exception("position autocomplete failed")
            return []
        return [app_commands.Choice(name=position_choice(p), value=str(p.id)) for p in rows]


class TradingDay(app_commands.Transformer):
    """A trading date: ``2025-06-11``, ``today`` or ``yesterday``; dates with setups offered."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        """Return the option type (text)."""
        return discord.AppCommandOptionType.string

    @property
    def max_value(self) -> int:
        """Return the longest text accepted."""
        return 10

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> date:
        """Return the date or say how to write one."""
        text = clean_text(value, max_length=10, what="the date").lower()
        today = _queries(interaction).today()
        if text == "today":
            return today
        if text == "yesterday":
            return today - timedelta(days=1)
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadInput(f"{shown(text)} is not a date; write it as YYYY-MM-DD "
                           "(e.g. 2025-06-11) or pick one from the list.") from None

    async def autocomplete(self, interaction: discord.Interaction,  # type: ignore[override]
                           value: str, /) -> list[app_commands.Choice[str]]:
        """Offer the newest dates that have stored setups, matching what is typed."""
        if not _may(interaction, Access.VIEWERS):
            return []
        try:
            days = await _queries(interaction).setup_dates(containing=str(value)[:10])
        except Exception:  # an autocomplete cannot show an error: offer nothing, log why
            log.exception("date autocomplete failed")
            return []
        return [app_commands.Choice(
            name=f"{d.trading_date.isoformat()} · {d.messages} post{'s' if d.messages != 1 else ''}",
            value=d.trading_date.isoformat()) for d in days]
