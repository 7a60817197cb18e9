"""Long lists as pages with Previous / Next buttons that keep working after a restart.

A page button is a :class:`discord.ui.DynamicItem` whose custom id carries the list's *source*
(a name a cog registers in its ``page_sources``), the member who ran the command, the page to
show and one short argument (``page:setups:123456:n:2:2025-06-11``). A click checks that the
clicker is the member who asked, asks the source for the pages again (so a page shows the
data as it is now, and nothing has to be kept in memory), and edits the message in place.

Usage from a cog::

    self.page_sources = {"orders": self._order_pages}   # async (interaction, arg) -> [Embed]
    await send_pages(interaction, pages, source="orders", ephemeral=True)

The cog that registers :class:`PageButton` with ``bot.add_dynamic_items`` (the trading cog)
makes every source work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord

from cogs.common.errors import report, tell

log = logging.getLogger(__name__)

PageSource = Callable[[discord.Interaction, str], Awaitable[Sequence[discord.Embed]]]
ARG_PATTERN = re.compile(r"[0-9A-Za-z_.-]{0,32}")
NOT_YOURS = ("Only the member who ran this command can turn its pages; run the command "
             "yourself to get your own copy.")
GONE = "This list is no longer available; run the command again."


def find_source(client: discord.Client, name: str) -> PageSource | None:
    """Return the page source ``name`` registered by a loaded cog, or None."""
    for cog in getattr(client, "cogs", {}).values():
        source = getattr(cog, "page_sources", {}).get(name)
        if source is not None:
            return source
    return None


class PageButton(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"page:(?P<source>[a-z_]{1,16}):(?P<owner>[0-9]{1,20}):"
                          r"(?P<dir>[pcn]):(?P<page>[0-9]{1,4})(?::(?P<arg>[0-9A-Za-z_.-]{0,32}))?"):
    """Previous (``p``), the page counter (``c``, disabled) or Next (``n``)."""

    def __init__(self, source: str, owner_id: int, direction: str, page: int, arg: str = "", *,
                 total: int = 0, disabled: bool = False) -> None:
        if not ARG_PATTERN.fullmatch(arg):
            raise ValueError(f"page argument {arg!r} cannot go in a custom id")
        label = {"p": "◀ Previous", "n": "Next ▶"}.get(direction, f"{page + 1} / {total}")
        custom_id = f"page:{source}:{owner_id}:{direction}:{page}" + (f":{arg}" if arg else "")
        super().__init__(discord.ui.Button(
            label=label, custom_id=custom_id, disabled=disabled,
            style=discord.ButtonStyle.secondary if direction == "c" else discord.ButtonStyle.primary))
        self.source = source
        self.owner_id = owner_id
        self.direction = direction
        self.page = page
        self.arg = arg

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> PageButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["source"], int(match["owner"]), match["dir"], int(match["page"]),
                   match["arg"] or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        """Show the requested page, for the member who ran the command only."""
        try:
            if interaction.user.id != self.owner_id:
                await tell(interaction, NOT_YOURS)
                return
            source = find_source(interaction.client, self.source)
            if source is None:
                await tell(interaction, GONE)
                return
            await interaction.response.defer()  # the source reads the database: answer first
            pages = list(await source(interaction, self.arg))
            if not pages:
                await interaction.edit_original_response(
                    content="Nothing to show any more.", embed=None, view=None)
                return
            page = min(max(self.page, 0), len(pages) - 1)
            await interaction.edit_original_response(
                embed=pages[page], view=page_view(len(pages), source=self.source,
                                                  owner_id=self.owner_id, page=page, arg=self.arg))
        except Exception as exc:  # one error path: the user gets a sentence, the log the rest
            await report(interaction, exc)


def page_view(total: int, *, source: str, owner_id: int, page: int = 0,
              arg: str = "") -> discord.ui.View | None:
    """Return the Previous / counter / Next row for page ``page`` of ``total`` (None if one)."""
    if total <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(source, owner_id, "p", max(page - 1, 0), arg, disabled=page <= 0))
    view.add_item(PageButton(source, owner_id, "c", page, arg, total=total, disabled=True))
    view.add_item(PageButton(source, owner_id, "n", min(page + 1, total - 1), arg,
                             disabled=page >= total - 1))
    return view


def number_pages(pages: Sequence[discord.Embed]) -> list[discord.Embed]:
    """Add "page i of n" to each page's footer (when there is more than one)."""
    if len(pages) > 1:
        for i, embed in enumerate(pages, 1):
            footer = embed.footer.text if embed.footer and embed.footer.text else ""
            embed.set_footer(text=f"{footer} · page {i} of {len(pages)}" if footer
                             else f"page {i} of {len(pages)}")
    return list(pages)


async def send_pages(interaction: discord.Interaction, pages: Sequence[discord.Embed], *,
                     source: str, arg: str = "", ephemeral: bool = True,
                     files: Sequence[discord.File] = ()) -> None:
    """Answer ``interaction`` with the first page and the page buttons."""
    view = page_view(len(pages), source=source, owner_id=interaction.user.id, arg=arg)
    kwargs: dict[str, Any] = {"embed": pages[0], "ephemeral": ephemeral,
                              "allowed_mentions": discord.AllowedMentions.none()}
    if view is not None:
        kwargs["view"] = view
    if files:
        kwargs["files"] = list(files)
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)
