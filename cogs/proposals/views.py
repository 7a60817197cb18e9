"""The proposal's components: persistent buttons and selects that survive restarts.

Each is a :class:`discord.ui.DynamicItem` whose custom id carries only namespaced ids
(``proposal:confirm:<id>:<version>``), so discord.py routes a click on a message posted
before a restart to the right handler; the state lives in the database and permissions are
checked on every click, on the server side (in :class:`cogs.proposals.cog.ProposalsCog`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import discord

from cogs.render.style import price
from core.db.models.trading import ProposalRow, ProposalStatus

if TYPE_CHECKING:
    from cogs.proposals.cog import ProposalsCog

MAX_QUANTITY_OPTIONS = 25  # Discord's limit of options in a select


def _cog(interaction: discord.Interaction) -> ProposalsCog:
    cog = interaction.client.get_cog("Proposals")  # type: ignore[attr-defined]
    if cog is None:
        raise RuntimeError("the proposals cog is not loaded")
    return cog  # type: ignore[no-any-return]


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button], template=r"proposal:confirm:(?P<id>\d+):(?P<v>\d+)"):
    """Confirm the version of the proposal the trader is looking at."""

    def __init__(self, proposal_id: int, version: int, *, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(
            label="Confirm", style=discord.ButtonStyle.success, emoji="✅", disabled=disabled,
            custom_id=f"proposal:confirm:{proposal_id}:{version}"))
        self.proposal_id = proposal_id
        self.version = version

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ConfirmButton:
        return cls(int(match["id"]), int(match["v"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).on_confirm(interaction, self.proposal_id, self.version)


class RejectButton(discord.ui.DynamicItem[discord.ui.Button], template=r"proposal:reject:(?P<id>\d+)"):
    """Reject the proposal."""

    def __init__(self, proposal_id: int, *, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(
            label="Reject", style=discord.ButtonStyle.danger, emoji="✖️", disabled=disabled,
            custom_id=f"proposal:reject:{proposal_id}"))
        self.proposal_id = proposal_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> RejectButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).on_reject(interaction, self.proposal_id)


class ContractSelect(discord.ui.DynamicItem[discord.ui.Select], template=r"proposal:contract:(?P<id>\d+)"):
    """Pick the proposed contract or one of its alternates."""

    def __init__(self, proposal_id: int, options: list[discord.SelectOption] | None = None, *,
                 disabled: bool = False) -> None:
        super().__init__(discord.ui.Select(
            custom_id=f"proposal:contract:{proposal_id}", placeholder="Contract",
            options=options or [discord.SelectOption(label="…", value="-")],
            disabled=disabled, min_values=1, max_values=1))
        self.proposal_id = proposal_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ContractSelect:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        values = (interaction.data or {}).get("values", [])  # type: ignore[union-attr]
        await _cog(interaction).on_contract(interaction, self.proposal_id, str(values[0]) if values else "")


class QuantitySelect(discord.ui.DynamicItem[discord.ui.Select], template=r"proposal:qty:(?P<id>\d+)"):
    """Pick a smaller quantity than the risk budget allows."""

    def __init__(self, proposal_id: int, options: list[discord.SelectOption] | None = None, *,
                 disabled: bool = False) -> None:
        super().__init__(discord.ui.Select(
            custom_id=f"proposal:qty:{proposal_id}", placeholder="Quantity",
            options=options or [discord.SelectOption(label="1", value="1")],
            disabled=disabled, min_values=1, max_values=1))
        self.proposal_id = proposal_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> QuantitySelect:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        values = (interaction.data or {}).get("values", [])  # type: ignore[union-attr]
        await _cog(interaction).on_quantity(interaction, self.proposal_id, str(values[0]) if values else "")


DYNAMIC_ITEMS = (ConfirmButton, RejectButton, ContractSelect, QuantitySelect)


def proposal_view(p: ProposalRow) -> discord.ui.View:
    """Return the components of a proposal: live while open, disabled once decided."""
    closed = p.status != ProposalStatus.OPEN
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmButton(p.id, p.version, disabled=closed))
    view.add_item(RejectButton(p.id, disabled=closed))
    if closed:
        return view
    best = p.details.get("best") or {}
    contracts = [best, *(p.details.get("alternates") or [])]
    if len(contracts) > 1:
        options = [
            discord.SelectOption(
                label=f"{c['contract']}"[:100],
                description=(f"mid {price(Decimal(str(c['mid'])).quantize(Decimal('0.01')))} · "
                             f"Δ {c['delta']:+.2f} · OI {c.get('open_interest', 0):,}")[:100],
                value=c["contract"], default=c["contract"] == p.contract)
            for c in contracts if c]
        view.add_item(ContractSelect(p.id, options))
    most = int(p.details.get("max_quantity", p.quantity))
    if most > 1:
        view.add_item(QuantitySelect(p.id, [
            discord.SelectOption(label=f"{q} contract{'s' if q > 1 else ''}", value=str(q),
                                 default=q == p.quantity)
            for q in range(1, min(most, MAX_QUANTITY_OPTIONS) + 1)]))
    return view
