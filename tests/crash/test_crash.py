"""SIGKILL the bot at each step of a trade, start a new process, and check nothing is lost.

The bot runs as its own process (:mod:`tests.crash.runner`) trading through the real Alpaca
adapter against the fake Alpaca server this test runs, so the broker's orders and fills
outlive the bot. After every restart: every order exists once at the broker, every fill is
recorded once, our positions equal the broker's, the proposal's buttons still answer, and
the trade thread shows every fill exactly once (what happened while the bot was down is
posted under "While I was offline").

``make test`` runs one trade killed three times (after submit before the response, after a
partial fill, during the exit); ``make soak`` adds a second trade killed at the other points
(while a proposal waits, after confirm before the submit, after a fill the bot had not yet
seen, before the exit's submit).
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from tests.crash.control import BotProcess, CrashAlpaca, check_books
from tests.crash.store import DiscordRecord
from tests.discord.records import Posted
from tests.discord.world import World
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH
from tests.soak.profile import soak

FILL = re.compile(r"💰 (\S+) (?:filled|partial fill): (buy|sell) (\d+) (\S+)")


@pytest.fixture
async def alpaca():
    server = CrashAlpaca()
    await server.start()
    # Entries rest (the fake's ask is far above any proposal's limit) until the test fills
    # them; exits are sold at once at the fake's bid.
    server.option_default = (Decimal("40.00"), Decimal("40.10"))
    yield server
    await server.stop()


@pytest.fixture
async def bot(tmp_path: Path, alpaca: CrashAlpaca):
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    process = BotProcess(tmp_path, alpaca, ny("09:00"))
    yield process
    if process.proc is not None:
        await process.kill()


def discord(bot: BotProcess) -> DiscordRecord:
    return DiscordRecord.read(bot.workdir / "discord.pickle")


def proposal_post(bot: BotProcess, symbol: str) -> Posted:
    world = World.build()
    posts = [m for m in discord(bot).channel(world.channel_id("setup"))
             if m.author_id == world.bot_id and m.embeds
             and (m.embeds[0].footer.text or "").startswith("proposal #")
             and symbol in (m.embeds[0].title or "")]
    assert len(posts) == 1, [m.text() for m in posts]
    return posts[0]


def confirm_id(post: Posted) -> str:
    return next(c for c in post.custom_ids if c.startswith("proposal:confirm:"))


def thread_text(bot: BotProcess, post: Posted) -> list[str]:
    return [m.text() for m in discord(bot).channel(post.id)]


def announced(lines: list[str]) -> dict[str, int]:
    """Return the contracts each kind of order was said to have filled, from the thread."""
    out: dict[str, int] = defaultdict(int)
    for text in lines:
        for purpose, _side, qty, _symbol in FILL.findall(text):
            out[purpose] += int(qty)
    return dict(out)


def broker_order(alpaca: CrashAlpaca, side: str, symbol_root: str) -> dict:
    [order] = [o for o in alpaca.orders.values()
               if o["side"] == side and o["symbol"].startswith(symbol_root)]
    return order


async def no_errors(bot: BotProcess) -> None:
    answer = await bot.call("errors")
    assert answer["errors"] == [], answer["errors"]
    assert not any(answer["bus_failures"].values()), answer["bus_failures"]


async def proposal_for(bot: BotProcess, symbol: str, until: str, since: str = "09:30") -> Posted:
    await bot.call("run", since=ny(since), until=ny(until), symbols=[symbol])
    return proposal_post(bot, symbol)


async def _killed_after_submit_after_a_partial_fill_and_during_its_exit(
    bot: BotProcess, alpaca: CrashAlpaca
) -> None:
    await bot.start()
    await bot.call("post", text=SETUP, at=ny("08:45"))
    post = await proposal_for(bot, "SPY", "10:02")

    # 1. Killed after the submit reached the broker, before its answer came back.
    alpaca.hold_next_submit("buy")
    await bot.until_held("click", message_id=post.id, custom_id=confirm_id(post))
    await bot.restart()
    entry = broker_order(alpaca, "buy", "SPY")
    books = check_books(bot.workdir / "bot.db", alpaca)
    [ours] = books.orders
    assert ours["broker_order_id"] == entry["id"] and ours["status"] != "rejected"
    qty = int(entry["qty"])
    assert qty >= 2

    # 2. Killed after a partial fill it recorded; the rest fills while it is down.
    await alpaca.fill(entry["id"], Decimal(1), Decimal("2.00"))
    await bot.call("sync")
    check_books(bot.workdir / "bot.db", alpaca)
    assert announced(thread_text(bot, post)) == {"entry": 1}
    await bot.kill()
    await alpaca.fill(entry["id"], Decimal(qty - 1), Decimal("2.10"))
    await bot.start()
    books = check_books(bot.workdir / "bot.db", alpaca)
    [position] = books.positions
    assert position["status"] == "open" and position["qty_open"] == qty
    lines = thread_text(bot, post)
    assert announced(lines) == {"entry": qty}  # the missed fill once, the first not again
    assert any("While I was offline" in t for t in lines)

    # 3. Killed during the exit: the sell reached the broker (and filled), its answer did not.
    alpaca.hold_next_submit("sell")
    await bot.until_held("close", position_id=position["id"])
    await bot.restart()
    books = check_books(bot.workdir / "bot.db", alpaca)
    assert books.positions[0]["status"] == "closed" and not alpaca.positions
    lines = thread_text(bot, post)
    assert announced(lines) == {"entry": qty, "exit": qty}
    assert sum(t.startswith("🏁") for t in lines) == 1, lines  # one closing summary

    # The buttons still answer after all that, on the server side.
    answer = await bot.call("click", message_id=post.id, custom_id=confirm_id(post), stale=True)
    assert any("already" in t for t in answer["texts"]), answer
    await bot.call("ready")  # a reconnect: the catch-up runs again and says nothing new
    assert thread_text(bot, post) == lines
    await no_errors(bot)
    await bot.quit()


async def _killed_while_waiting_before_each_submit_and_before_a_fill_was_seen(
    bot: BotProcess, alpaca: CrashAlpaca
) -> None:
    await bot.start()
    await bot.call("post", text=SETUP, at=ny("08:45"))
    post = await proposal_for(bot, "SPY", "10:02")

    # 0. Killed while the proposal waits for a decision: its buttons work in the new process.
    await bot.restart()
    # 1. Killed after the confirm wrote the order, before the submit left the process.
    await bot.call("arm", point="before_submit", side="buy")
    await bot.until_breakpoint("click", message_id=post.id, custom_id=confirm_id(post))
    await bot.restart()
    books = check_books(bot.workdir / "bot.db", alpaca)
    assert not alpaca.orders  # nothing is re-sent on a guess
    [order] = books.orders
    assert order["status"] == "rejected" and books.proposals[0]["status"] == "failed"
    assert any("not sent" in t for t in thread_text(bot, post)), thread_text(bot, post)

    # 2. Killed after a fill the bot had not seen yet.
    nvda = await proposal_for(bot, "NVDA", "10:17", since="10:02")
    answer = await bot.call("click", message_id=nvda.id, custom_id=confirm_id(nvda))
    assert any("order sent" in t for t in answer["texts"]), answer
    entry = broker_order(alpaca, "buy", "NVDA")
    qty = int(entry["qty"])
    await alpaca.fill(entry["id"], Decimal(1), Decimal("1.00"))
    await bot.restart()
    check_books(bot.workdir / "bot.db", alpaca)
    assert announced(thread_text(bot, nvda)) == {"entry": 1}
    await alpaca.fill(entry["id"], Decimal(qty - 1), Decimal("1.05"))
    await bot.call("sync")
    books = check_books(bot.workdir / "bot.db", alpaca)
    assert announced(thread_text(bot, nvda)) == {"entry": qty}

    # 3. Killed after the exit was written, before its submit left the process.
    [position] = [p for p in books.positions if p["underlying"] == "NVDA"]
    await bot.call("arm", point="before_submit", side="sell")
    await bot.until_breakpoint("close", position_id=position["id"])
    await bot.restart()
    books = check_books(bot.workdir / "bot.db", alpaca)
    [position] = [p for p in books.positions if p["underlying"] == "NVDA"]
    assert position["status"] == "open" and alpaca.positions[position["contract"]] == qty

    # 4. Closed again with nobody killed: the trade ends once, told once.
    await bot.call("close", position_id=position["id"])
    await bot.call("sync")
    books = check_books(bot.workdir / "bot.db", alpaca)
    assert not alpaca.positions
    lines = thread_text(bot, nvda)
    assert announced(lines) == {"entry": qty, "exit": qty}
    assert sum(t.startswith("🏁") for t in lines) == 1, lines
    await no_errors(bot)
    await bot.quit()


CHAINS = [_killed_after_submit_after_a_partial_fill_and_during_its_exit]
if soak():
    CHAINS.append(_killed_while_waiting_before_each_submit_and_before_a_fill_was_seen)


@pytest.mark.parametrize("chain", CHAINS, ids=lambda f: f.__name__.strip("_"))
async def test_a_trade_killed_at_each_step_loses_nothing(
    chain, bot: BotProcess, alpaca: CrashAlpaca
) -> None:
    await chain(bot, alpaca)
