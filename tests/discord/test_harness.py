"""The harness drives a real bot: a toy cog shaped like the product's, and what a user sees.

The toy cog has a persistent ``DynamicItem`` button (``toy:click:<id>``) and select
(``toy:size:<id>``), slash commands with a ranged option, a subcommand group guarded by
Manage Server, a deferred command with follow-ups, an autocomplete, and a message handler that
opens a thread, reports edits and deletes into it, and catches up on history at start-up.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
from datetime import timedelta

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from core.clock import FakeClock
from core.tasks import TaskSupervisor
from tests.discord.conftest import MakeHarness
from tests.discord.harness import ComponentUnavailable, Harness
from tests.discord.options import InvalidOptions
from tests.discord.records import ResponseKind
from tests.discord.world import World

log = logging.getLogger(__name__)

POSITIONS = ("SPY 600C", "SPY 590P", "QQQ 500C")


def _cog(interaction: discord.Interaction) -> ToyCog:
    cog = interaction.client.get_cog("ToyCog")  # type: ignore[attr-defined]
    assert isinstance(cog, ToyCog)
    return cog


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button], template=r"toy:click:(?P<id>\d+)"):
    def __init__(self, proposal_id: int, *, disabled: bool = False) -> None:
        button = discord.ui.Button(
            label="Confirm",
            style=discord.ButtonStyle.success,
            custom_id=f"toy:click:{proposal_id}",
            disabled=disabled,
        )
        super().__init__(button)
        self.proposal_id = proposal_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: object
    ) -> ConfirmButton:
        return cls(int(match["id"]))  # type: ignore[index]

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).confirm(interaction, self.proposal_id)


class SizeSelect(discord.ui.DynamicItem[discord.ui.Select], template=r"toy:size:(?P<id>\d+)"):
    def __init__(self, proposal_id: int) -> None:
        select = discord.ui.Select(
            custom_id=f"toy:size:{proposal_id}",
            options=[discord.SelectOption(label=f"{n} contracts", value=str(n)) for n in (1, 2, 5)],
        )
        super().__init__(select)
        self.proposal_id = proposal_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: object
    ) -> SizeSelect:
        return cls(int(match["id"]))  # type: ignore[index]

    async def callback(self, interaction: discord.Interaction) -> None:
        size = int(self.item.values[0])
        _cog(interaction).sizes[self.proposal_id] = size
        await interaction.response.send_message(f"size set to {size}", ephemeral=True)


class CloseConfirm(discord.ui.View):
    def __init__(self, position: str) -> None:
        super().__init__(timeout=60)
        self.position = position

    @discord.ui.button(label="Yes, close", style=discord.ButtonStyle.danger)
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"Closed {self.position}.", view=None)
        self.stop()


def proposal_view(proposal_id: int, *, decided: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmButton(proposal_id, disabled=decided))
    if not decided:
        view.add_item(SizeSelect(proposal_id))
    return view


def can_administer(interaction: discord.Interaction) -> bool:
    user = interaction.user
    roles = user.roles if isinstance(user, discord.Member) else []
    return interaction.permissions.manage_guild or any(r.name == "admin" for r in roles)


class ToyCog(commands.Cog):
    toyadmin = app_commands.Group(name="toyadmin", description="Administer the toy")
    risk = app_commands.Group(name="risk", description="Risk limits", parent=toyadmin)

    def __init__(self, bot: ToyBot) -> None:
        self.bot = bot
        self.ids = itertools.count(1)
        self.decided: dict[int, str] = {}
        self.sizes: dict[int, int] = {}
        self.limits: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.edits: list[tuple[str, str]] = []
        self.caught_up: list[str] = []
        self.tasks = TaskSupervisor("toy")

    # -- slash commands -------------------------------------------------------------------
    @app_commands.command(description="Propose a trade")
    async def propose(
        self, interaction: discord.Interaction, ticker: str, qty: app_commands.Range[int, 1, 10]
    ) -> None:
        proposal_id = next(self.ids)
        embed = discord.Embed(title=f"{ticker} x{qty}", description="awaiting decision")
        await interaction.response.send_message(embed=embed, view=proposal_view(proposal_id))
        message = await interaction.original_response()
        thread = await message.create_thread(name=f"{ticker} #{proposal_id}")
        await thread.send(f"proposal {proposal_id} opened")

    @app_commands.command(description="Slow work, deferred")
    async def slow(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await asyncio.to_thread(sum, range(1000))  # work off the loop, like a database call
        await interaction.followup.send("slow result", ephemeral=True)
        await interaction.followup.send("and one more")

    @app_commands.command(description="Answer, then edit the answer")
    async def countdown(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("3...")
        await interaction.edit_original_response(content="done")

    @app_commands.command(description="Close a position")
    async def close(self, interaction: discord.Interaction, position: str) -> None:
        view = CloseConfirm(position)
        await interaction.response.send_message(f"Close {position}?", view=view, ephemeral=True)

    @close.autocomplete("position")
    async def _positions(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=p, value=p) for p in POSITIONS if current.upper() in p]

    @app_commands.command(description="Post a chart")
    async def chart(self, interaction: discord.Interaction) -> None:
        image = discord.File(io.BytesIO(b"\x89PNG not really"), filename="chart.png")
        await interaction.response.send_message("today's chart", file=image)

    @app_commands.command(description="Fail")
    async def boom(self, interaction: discord.Interaction) -> None:
        raise RuntimeError("boom")

    @app_commands.command(description="Remind the channel in a minute")
    async def remind(self, interaction: discord.Interaction) -> None:
        channel = interaction.channel
        assert isinstance(channel, discord.TextChannel)
        self.tasks.spawn(self._remind(channel), name="remind")
        await interaction.response.send_message("in a minute", ephemeral=True)

    async def _remind(self, channel: discord.TextChannel) -> None:
        await self.bot.clock.sleep_until(self.bot.clock.now() + timedelta(minutes=1))
        await channel.send("reminder")

    async def cog_unload(self) -> None:
        await self.tasks.close()

    @toyadmin.command(description="Who am I?")
    async def whoami(self, interaction: discord.Interaction) -> None:
        assert isinstance(interaction.user, discord.Member)
        roles = sorted(r.name for r in interaction.user.roles if not r.is_default())
        text = (
            f"roles={','.join(roles) or '-'} "
            f"manage_guild={interaction.permissions.manage_guild} "
            f"guild_manage={interaction.user.guild_permissions.manage_guild}"
        )
        await interaction.response.send_message(text, ephemeral=True)

    @risk.command(name="set", description="Set a risk limit")
    @app_commands.check(can_administer)
    async def risk_set(
        self, interaction: discord.Interaction, limit: str, value: app_commands.Range[int, 0]
    ) -> None:
        self.limits[limit] = value
        await interaction.response.send_message(f"{limit} = {value}", ephemeral=True)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):
            await interaction.response.send_message(
                "You need Manage Server or the admin role.", ephemeral=True
            )
        else:
            log.error("command %s failed", interaction.command, exc_info=error)

    # -- components -----------------------------------------------------------------------
    async def confirm(self, interaction: discord.Interaction, proposal_id: int) -> None:
        user = interaction.user
        if not isinstance(user, discord.Member) or not any(r.name == "trader" for r in user.roles):
            await interaction.response.send_message("Only traders may confirm.", ephemeral=True)
            return
        async with self.lock:
            first = proposal_id not in self.decided
            if first:
                await asyncio.to_thread(lambda: None)  # the order is written off the loop
                self.decided[proposal_id] = user.name
        if not first:
            who = self.decided[proposal_id]
            await interaction.response.send_message(f"Already confirmed by {who}.", ephemeral=True)
            return
        assert interaction.message is not None
        embed = interaction.message.embeds[0]
        embed.description = f"confirmed by {user.name}"
        view = proposal_view(proposal_id, decided=True)
        await interaction.response.edit_message(embed=embed, view=view)
        thread = interaction.guild.get_thread(interaction.message.id)  # type: ignore[union-attr]
        assert thread is not None
        await thread.send(f"order submitted for {proposal_id}")

    # -- messages -------------------------------------------------------------------------
    def _setup_channel(self) -> discord.TextChannel:
        channel = self.bot.get_channel(self.bot.world.channel_id("setup"))
        assert isinstance(channel, discord.TextChannel)
        return channel

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.channel.id != self._setup_channel().id:
            return
        try:
            thread = await message.create_thread(name="Setup")
        except discord.Forbidden:
            log = self.bot.get_channel(self.bot.world.channel_id("log"))
            assert isinstance(log, discord.TextChannel)
            await log.send(f"Cannot create threads in #{message.channel}.")
            return
        summary = discord.Embed(title="Setup read", description=message.content[:100])
        await thread.send(embed=summary)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        # Discord also sends MESSAGE_UPDATE for the bot's own edits and when a thread is
        # started on a message: only a human's change of content counts.
        before = payload.cached_message
        if payload.data["author"].get("bot") or (
            before is not None and before.content == payload.data["content"]
        ):
            return
        thread = self._setup_channel().get_thread(payload.message_id)
        if thread is not None:
            await thread.send(f"edited: {payload.data['content']}")

    @commands.Cog.listener()
    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        if before.content != after.content:
            self.edits.append((before.content, after.content))

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        thread = self._setup_channel().get_thread(payload.message_id)
        if thread is not None:
            await thread.send("the setup message was deleted")

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self.bot.catch_up_after is None:
            return
        after = discord.Object(id=self.bot.catch_up_after)
        async for message in self._setup_channel().history(after=after, limit=None):
            self.caught_up.append(message.content)


class ToyBot(commands.Bot):
    def __init__(
        self, world: World, clock: FakeClock, *, catch_up_after: int | None = None
    ) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.all(), help_command=None)
        self.world = world
        self.clock = clock
        self.catch_up_after = catch_up_after

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ConfirmButton, SizeSelect)
        await self.add_cog(ToyCog(self))

    @property
    def toy(self) -> ToyCog:
        cog = self.get_cog("ToyCog")
        assert isinstance(cog, ToyCog)
        return cog


@pytest.fixture
async def h(make_harness: MakeHarness, world: World, clock: FakeClock) -> Harness:
    return await make_harness(ToyBot(world, clock), clock=clock.now)


async def _proposal(h: Harness) -> int:
    record = await h.slash("propose", ticker="SPY", qty=2)
    assert record.original_id is not None
    return record.original_id


# -- slash commands --------------------------------------------------------------------------
async def test_slash_command_posts_embed_with_button_select_and_thread(h: Harness) -> None:
    record = await h.slash("propose", ticker="SPY", qty=2, member="trader")

    assert record.response is ResponseKind.MESSAGE and not record.ephemeral
    assert record.embed is not None and record.embed.title == "SPY x2"
    [posted] = h.channel_messages("setup")
    assert posted.id == record.original_id
    assert posted.custom_ids == ["toy:click:1", "toy:size:1"]
    thread = h.thread_of(posted)
    assert isinstance(thread, discord.Thread) and thread.type is discord.ChannelType.public_thread
    assert thread.parent_id == h.world.channel_id("setup") and thread.name == "SPY #1"
    assert [m.content for m in h.thread_messages(posted)] == ["proposal 1 opened"]


async def test_options_a_discord_client_could_not_send_are_refused(h: Harness) -> None:
    with pytest.raises(InvalidOptions, match="above 10"):
        await h.slash("propose", ticker="SPY", qty=11)
    with pytest.raises(InvalidOptions, match="needs"):
        await h.slash("propose", ticker="SPY")
    with pytest.raises(InvalidOptions, match="no option 'size'"):
        await h.slash("propose", ticker="SPY", qty=1, size=3)
    with pytest.raises(InvalidOptions, match="no slash command 'nope'"):
        await h.slash("nope")
    with pytest.raises(InvalidOptions, match="is a group"):
        await h.slash("toyadmin risk")
    assert h.channel_messages("setup") == []


async def test_member_roles_and_permissions_reach_the_interaction(h: Harness) -> None:
    seen = {
        name: (await h.slash("toyadmin whoami", member=name)).content
        for name in ("trader", "outsider", "admin", "manager")
    }

    assert seen == {
        "trader": "roles=trader manage_guild=False guild_manage=False",
        "outsider": "roles=- manage_guild=False guild_manage=False",
        "admin": "roles=admin manage_guild=False guild_manage=False",
        "manager": "roles=manager manage_guild=True guild_manage=True",
    }


async def test_subcommand_group_allows_managers_and_refuses_others(h: Harness) -> None:
    allowed = await h.slash("toyadmin risk set", limit="max_loss", value=500, member="manager")
    refused = await h.slash("toyadmin risk set", limit="max_loss", value=1, member="outsider")
    by_role = await h.slash("toyadmin risk set", limit="daily", value=3, member="admin")

    assert (allowed.content, allowed.ephemeral) == ("max_loss = 500", True)
    assert refused.ephemeral and refused.content == "You need Manage Server or the admin role."
    assert by_role.content == "daily = 3"
    assert h.bot.toy.limits == {"max_loss": 500, "daily": 3}  # type: ignore[attr-defined]


async def test_deferred_command_records_thinking_then_followups(h: Harness) -> None:
    record = await h.slash("slow")

    assert record.response is ResponseKind.DEFERRED_MESSAGE and record.ephemeral
    first, second = record.followups
    assert (first.content, first.ephemeral, first.id) == ("slow result", True, record.original_id)
    assert (second.content, second.ephemeral) == ("and one more", False)
    assert [m.content for m in h.channel_messages("setup")] == ["and one more"]


async def test_edits_of_the_original_response_are_recorded(h: Harness) -> None:
    record = await h.slash("countdown")

    assert record.content == "3..." and [e.content for e in record.edits] == ["done"]
    [posted] = h.channel_messages("setup")
    assert posted.content == "done" and posted.edited
    assert [v.content for v in h.versions(posted)] == ["3...", "done"]


async def test_autocomplete_returns_the_offered_choices(h: Harness) -> None:
    record = await h.autocomplete("close", "position", "spy")

    assert record.response is ResponseKind.AUTOCOMPLETE
    assert record.choices == [("SPY 600C", "SPY 600C"), ("SPY 590P", "SPY 590P")]
    assert (await h.autocomplete("close", "position", "zzz")).choices == []


# -- components ------------------------------------------------------------------------------
async def test_a_button_on_an_ephemeral_reply_edits_that_reply(h: Harness) -> None:
    asked = await h.slash("close", position="SPY 600C")
    [yes] = asked.components

    done = await h.click(asked.original_id, yes.custom_id)  # type: ignore[arg-type]

    assert asked.ephemeral and asked.content == "Close SPY 600C?" and yes.label == "Yes, close"
    assert done.response is ResponseKind.UPDATE_MESSAGE and done.content == "Closed SPY 600C."
    final = h.message(asked.original_id)  # type: ignore[arg-type]
    assert final.ephemeral and final.content == "Closed SPY 600C." and final.components == ()
    assert h.channel_messages("setup") == []


async def test_trader_click_updates_embed_disables_button_and_posts_in_thread(h: Harness) -> None:
    message_id = await _proposal(h)

    record = await h.click(message_id, "toy:click:1", member="trader")

    assert record.response is ResponseKind.UPDATE_MESSAGE
    assert record.embed is not None and record.embed.description == "confirmed by trader"
    before, after = h.versions(message_id)[0], h.message(message_id)
    assert not before.component("toy:click:1").disabled
    assert (
        after.component("toy:click:1").disabled and after.embed.description == "confirmed by trader"
    )  # type: ignore[union-attr]
    assert h.thread_messages(message_id)[-1].content == "order submitted for 1"
    with pytest.raises(ComponentUnavailable, match="disabled"):
        await h.click(message_id, "toy:click:1", member="trader2")


async def test_non_trader_click_is_refused_and_changes_nothing(h: Harness) -> None:
    message_id = await _proposal(h)

    record = await h.click(message_id, "toy:click:1", member="outsider")

    assert (record.content, record.ephemeral) == ("Only traders may confirm.", True)
    assert not h.message(message_id).edited
    assert h.bot.toy.decided == {}  # type: ignore[attr-defined]


async def test_two_traders_clicking_at_once_give_one_decision(h: Harness) -> None:
    message_id = await _proposal(h)

    first = h.dispatch(*h.component_payload(message_id, "toy:click:1", member="trader"))
    second = h.dispatch(*h.component_payload(message_id, "toy:click:1", member="trader2"))
    await h.settle()

    assert first.response is ResponseKind.UPDATE_MESSAGE
    assert (second.content, second.ephemeral) == ("Already confirmed by trader.", True)
    orders = [m for m in h.thread_messages(message_id) if m.content.startswith("order")]
    assert len(orders) == 1


async def test_select_delivers_the_chosen_value(h: Harness) -> None:
    message_id = await _proposal(h)

    record = await h.select(message_id, "toy:size:1", ["5"], member="trader")

    assert record.content == "size set to 5" and record.ephemeral
    assert h.bot.toy.sizes == {1: 5}  # type: ignore[attr-defined]
    with pytest.raises(ComponentUnavailable, match="does not offer"):
        await h.select(message_id, "toy:size:1", ["7"])
    with pytest.raises(ComponentUnavailable, match="is a select"):
        await h.click(message_id, "toy:size:1")
    with pytest.raises(ComponentUnavailable, match="no component"):
        await h.click(message_id, "toy:click:99")


# -- messages and threads --------------------------------------------------------------------
async def test_a_setup_post_gets_a_thread_with_the_bots_embed(h: Harness) -> None:
    message = await h.post("A+ SPY 600 breakout", channel="setup", member="trader")

    thread = h.thread_of(message)
    assert thread is not None and thread.parent_id == message.channel.id
    [reply] = h.thread_messages(message)
    assert reply.author_id == h.world.bot_id
    assert reply.embed is not None and reply.embed.title == "Setup read"
    assert reply.embed.description == "A+ SPY 600 breakout"
    assert await h.post("chatter", channel="general") and h.threads == {message.id}
