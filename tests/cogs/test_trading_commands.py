"""Slash commands on the book, through the real bot on the simulated exchange.

Each test runs ``AplusBot`` with every cog, as ``python -m bot run`` does, on a fake Discord
server and a fake clock; positions come from a real A+ post whose level the bars break, a
confirm click, and fills on the simulated exchange.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import COGS
from cogs.render.style import usd
from core.db.models.trading import FillRow, OrderRow, ProposalRow
from core.engine.config import EngineConfig
from core.options.select import SelectionRules
from tests.cogs.conftest import App
from tests.discord.records import InteractionRecord
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import SETUP, SPY_PATH

# ----------------------------------------------------------------------- the bot ----

SELECTION = SelectionRules(scalp_min_hours_left=31)  # the next expiries, not 0DTE


def with_every_cog(app_factory: Callable[..., Awaitable[App]]) -> Callable[..., Awaitable[App]]:
    """Return ``await build(config=None, **settings)``: ``app_factory`` with every cog loaded."""

    async def build(config: EngineConfig | None = None, **overrides: Any) -> App:
        return await app_factory(config or EngineConfig(selection=SELECTION), cogs=COGS,
                                 **overrides)

    return build


@pytest.fixture
def full_app(app_factory) -> Callable[..., Awaitable[App]]:
    """The bot with every cog, as ``python -m bot run`` loads them."""
    return with_every_cog(app_factory)


def trading(app: App) -> Any:
    """Return the loaded trading cog."""
    return app.bot.get_cog("Trading")


async def app_with_position(full_app, tmp_path: Path, **overrides: Any) -> tuple[App, int]:
    """Post the SPY setup, let it break out at 10:00, confirm, and fill: one open position."""
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    app = await full_app(**overrides)
    await app.h.post(SETUP, at=ny("08:45"))
    await app.run_until("10:02")
    [proposal] = await proposals(app)
    result = await app.engine.confirm(proposal, "trader")
    assert result.order_id is not None, result.message
    await app.run_until("10:06", since="10:02")
    [pos] = await app.engine.positions(open_only=True)
    assert pos.status == "open" and pos.qty_open > 0
    return app, pos.id


async def proposals(app: App) -> list[int]:
    async with app.services.db.sessions() as s:
        return list((await s.execute(select(ProposalRow.id))).scalars())


def refused(rec: InteractionRecord, *words: str) -> None:
    """Assert the answer is a private refusal holding ``words``."""
    assert rec.ephemeral or (rec.followups and rec.followups[-1].ephemeral), rec
    text = " ".join(rec.texts())
    for w in words:
        assert w in text, (w, text)


# ------------------------------------------------------------------------- tests ----


async def test_help_lists_every_command_and_who_may_use_it(full_app) -> None:
    app = await full_app()
    rec = await app.h.slash("help", member="outsider")
    assert rec.ephemeral
    text = rec.embed.description
    for line in ("/positions", "/pnl", "/orders", "/setups", "/signals", "/stats",
                 "/close", "/help", "/admin status", "/admin risk set", "/admin channel add",
                 "/admin flatten", "/admin killswitch", "/admin reload", "/admin sync"):
        assert line in text, line
    lines = {line.split("**")[1]: line for line in text.splitlines()}
    assert lines["/close"].endswith("*(traders)*")
    assert lines["/positions"].endswith("*(traders and admins)*")
    assert lines["/admin pause"].endswith("*(admins)*")
    assert lines["/help"].endswith("*(everyone)*")


@pytest.mark.parametrize(("command", "options"), [
    ("positions", {}), ("pnl", {}), ("orders", {}), ("setups", {}), ("signals", {}),
    ("stats", {}),
])
async def test_a_member_without_a_role_cannot_see_the_book(full_app, command: str,
                                                           options: dict) -> None:
    app = await full_app()
    rec = await app.h.slash(command, member="outsider", **options)
    refused(rec, "Only traders and admins")
    ok = await app.h.slash(command, member="admin", **options)  # an admin may look
    assert ok.response is not None and "Only traders" not in " ".join(ok.texts())


async def test_positions_show_size_prices_pnl_and_greeks(full_app, tmp_path: Path) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    rec = await app.h.slash("positions", member="trader")
    assert rec.ephemeral and rec.deferred
    page = rec.last
    text = page.text()
    pos = (await app.engine.positions(open_only=True))[0]
    assert f"#{pid}" in text and "SPY" in text and f"{pos.qty_open} open" in text
    for needle in ("entry", "mark", "P&L", "Δ", "Θ", "IV", "stop", "targets 608.30",
                   "Portfolio Δ"):
        assert needle in text, needle
    assert not page.components  # one page: no page buttons


async def test_close_asks_a_trader_to_confirm_and_then_sells_on_the_exchange(
    full_app, tmp_path: Path
) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    rec = await app.h.slash("close", member="trader", position=str(pid))
    assert rec.ephemeral and "a trader must press **Close now**" in rec.edits[0].content
    message = rec.last
    assert not message.ephemeral and f"Close position #{pid}?" in message.embed.title
    assert app.h.channel_messages("setup")[-1].id == message.id
    assert message.custom_ids == [f"close:confirm:{pid}", f"close:keep:{pid}"]

    outsider = await app.h.click(message, f"close:confirm:{pid}", member="outsider")
    refused(outsider, "trader role")
    assert (await trading(app).queries.position(pid)).status == "open"

    click = await app.h.click(message, f"close:confirm:{pid}", member="trader2")
    assert click.deferred
    now = app.h.message(message.id)
    assert "Close confirmed by" in now.text() and now.button("Close now").disabled
    await app.run_until("10:10", since="10:06")
    pos = await trading(app).queries.position(pid)
    assert pos.status == "closed" and pos.qty_open == 0
    async with app.services.db.sessions() as s:
        sells = (await s.execute(select(FillRow).join(OrderRow).where(
            OrderRow.position_id == pid, OrderRow.side == "sell"))).scalars().all()
    assert sum(f.qty for f in sells) == pos.qty_filled
    assert "closed by trader2" in (pos.exit_reason or "")


async def test_close_autocomplete_offers_open_positions_to_traders_only(
    full_app, tmp_path: Path
) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    rec = await app.h.autocomplete("close", "position", "SPY", member="trader")
    [(name, value)] = rec.choices
    assert value == str(pid) and name.startswith(f"#{pid} SPY ") and "×" in name
    assert (await app.h.autocomplete("close", "position", str(pid))).choices == rec.choices
    assert (await app.h.autocomplete("close", "position", "NVDA")).choices == []
    assert (await app.h.autocomplete("close", "position", "SPY", member="outsider")).choices == []


async def test_close_refuses_bad_positions_with_a_clear_sentence(full_app, tmp_path: Path) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    refused(await app.h.slash("close", position="999"), "there is no position #999")
    refused(await app.h.slash("close", position="abc"), "is not a position", "/positions")
    refused(await app.h.slash("close", position="0"), "is not a position")
    mention = await app.h.slash("close", position="@everyone")
    refused(mention, "is not a position")
    assert "@everyone" not in " ".join(mention.texts())  # quoted back defused
    refused(await app.h.slash("close", position="1; DROP TABLE positions"), "is not a position")
    refused(await app.h.slash("close", position="1\u202e"), "control characters")
    # A crafted payload longer than the 40 characters Discord's client allows.
    payload, record = app.h.command_payload("close", member="trader", position="1")
    payload["data"]["options"][0]["value"] = "9" * 5000
    app.h.dispatch(payload, record)
    await app.h.settle()
    refused(record, "too long (5,000 characters; at most 40)")
    refused(await app.h.slash("close", position=str(pid), member="outsider"), "trader role")
    assert [p.id for p in await app.engine.positions(open_only=True)] == [pid]  # untouched
    assert not app.h.errors


async def test_pnl_and_stats_after_a_closed_trade(full_app, tmp_path: Path) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    rec = await app.h.slash("close", position=str(pid))
    message = app.h.channel_messages("setup")[-1]
    await app.h.click(message, f"close:confirm:{pid}", member="trader")
    await app.run_until("10:10", since="10:06")
    pos = await trading(app).queries.position(pid)
    assert pos.status == "closed"
    net = pos.realized_pnl - pos.fees

    rec = await app.h.slash("pnl", member="trader", period="day")
    page = rec.last
    text = page.text()
    assert "P&L today" in text
    assert f"Realized: {usd(net, sign=True)}" in text and "1 closed" in text
    assert "Unrealized (open now): ±$0.00" in text
    png = app.h.attachment(page.id, "pnl.png")
    assert png.startswith(b"\x89PNG")

    public = await app.h.slash("pnl", member="admin", period="all", public=True)
    assert not public.ephemeral and "P&L all time" in public.last.text()

    stats = (await app.h.slash("stats", member="trader")).last.text()
    assert "Trades: 1 (" in stats and f"Net P&L: {usd(net, sign=True)}" in stats
    assert ("Win rate: 100.0%" in stats) == (net > 0)
    assert "Profit factor" in stats and "Sharpe" in stats and "Max drawdown" in stats

    closed_again = await app.h.slash("close", position=str(pid))
    refused(closed_again, f"position #{pid} is closed; nothing to close")


async def test_orders_and_signals_tell_what_happened(full_app, tmp_path: Path) -> None:
    app, _ = await app_with_position(full_app, tmp_path)
    orders = (await app.h.slash("orders")).last.text()
    assert "entry buy" in orders and "**filled**" in orders and "SPY" in orders
    working = (await app.h.slash("orders", working=True)).last.text()
    assert "No working orders." in working
    signals = (await app.h.slash("signals")).last.text()
    assert "Signals for 2025-06-11" in signals
    lines = signals.splitlines()
    spy = lines.index(next(x for x in lines if "**SPY** aggressive breakout above 606.75" in x))
    assert "🎯 triggered" in lines[spy + 1] and "1-min bar closed" in lines[spy + 1]
    nvda = lines.index(next(x for x in lines if "**NVDA** aggressive breakout above 145.55" in x))
    assert "👀 watching" in lines[nvda + 1]
    assert "3 watched · 1 triggered · 4 in all" in signals


TICKERS = ("AAPL", "AMD", "AMZN", "GOOGL", "META", "MSFT", "NVDA", "QQQ", "TSLA")


def many_tickers_post() -> str:
    """Return an A+ post with nine tickers, two levels each (18 signals)."""
    blocks = [f"{t}\n🔼 Aggressive Breakout {100 + i}.50 🔼 {101 + i}.00, {102 + i}.00\n"
              f"🔻 Aggressive Breakdown {90 + i}.50 🔻 {89 + i}.00, {88 + i}.00"
              for i, t in enumerate(TICKERS)]
    return "A+ Scalp Trade Setups — Wed Jun 11\n\n" + "\n\n".join(blocks)


async def test_long_lists_page_for_the_member_who_asked_even_after_a_restart(full_app) -> None:
    app = await full_app()
    await app.h.post(many_tickers_post(), at=ny("08:45"))
    rec = await app.h.slash("signals", member="trader")
    first = rec.last
    assert "page 1 of 2" in first.text() and "**AAPL**" in first.text()
    assert "**TSLA**" not in first.text()
    assert first.button("◀ Previous").disabled and first.button("1 / 2").disabled
    next_id = first.button("Next ▶").custom_id
    assert next_id.startswith(f"page:signals:{app.world.member_id('trader')}:n:1")

    other = await app.h.click(first.id, next_id, member="trader2")
    refused(other, "Only the member who ran this command")
    assert "page 1 of 2" in app.h.message(first.id).text()

    turned = await app.h.click(first.id, next_id, member="trader")
    assert turned.response is not None and turned.response.name == "DEFERRED_UPDATE"
    second = app.h.message(first.id)
    assert "page 2 of 2" in second.text() and "**TSLA**" in second.text()
    assert second.button("Next ▶").disabled and not second.button("◀ Previous").disabled

    await app.restart()
    back = await app.h.click(first.id, second.button("◀ Previous").custom_id, member="trader")
    assert back.response is not None
    assert "page 1 of 2" in app.h.message(first.id).text()
    assert not app.h.errors


async def test_setups_by_date_with_autocomplete_and_a_clear_refusal_of_bad_dates(full_app) -> None:
    app = await full_app()
    await app.h.post(many_tickers_post(), at=ny("08:45"))
    await app.h.post(SETUP, at=ny("08:50"))
    choices = (await app.h.autocomplete("setups", "day", "2025-06")).choices
    assert choices == [("2025-06-11 · 2 posts", "2025-06-11")]
    assert (await app.h.autocomplete("setups", "day", "2024")).choices == []
    assert (await app.h.autocomplete("setups", "day", "2025", member="outsider")).choices == []

    rec = await app.h.slash("setups", day="2025-06-11")
    text = rec.last.text()
    assert "A+ setups for 2025-06-11" in text and "page 1 of 2" in text
    assert "Bias: not stated" in text and "**Breakout** (aggressive) above 100.50" in text
    today = (await app.h.slash("setups")).last.text()  # no date: today (2025-06-11)
    assert "A+ setups for 2025-06-11" in today
    assert "No setups are stored" in (await app.h.slash("setups", day="2025-06-10")).last.text()
    refused(await app.h.slash("setups", day="06/11/2025"), "is not a date", "YYYY-MM-DD")
    refused(await app.h.slash("setups", day="2025-13-45"), "is not a date")


async def test_a_second_command_within_the_cooldown_is_refused_until_it_passes(full_app) -> None:
    app = await full_app(command_cooldown_seconds=30)
    assert (await app.h.slash("help", member="trader")).embed is not None
    again = await app.h.slash("signals", member="trader")
    refused(again, "Slow down: try again in 30.0 s")
    assert (await app.h.slash("help", member="trader2")).embed is not None  # per user
    app.clock.advance(timedelta(seconds=29))
    refused(await app.h.slash("help", member="trader"), "try again in 1.0 s")
    app.clock.advance(timedelta(seconds=2))
    assert (await app.h.slash("help", member="trader")).embed is not None


async def test_a_non_trader_cannot_press_keep_on_a_close_confirmation(
    full_app, tmp_path: Path
) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    ask = (await app.h.slash("close", member="trader", position=str(pid))).last
    refused(await app.h.click(ask.id, f"close:keep:{pid}", member="outsider"), "trader role")
    now = app.h.message(ask.id)
    assert not now.button("Keep").disabled and not now.button("Close now").disabled
    assert "Kept open" not in now.text()
    assert (await trading(app).queries.position(pid)).status == "open"


async def exit_orders(app: App, position_id: int) -> list[OrderRow]:
    async with app.services.db.sessions() as s:
        return list((await s.execute(select(OrderRow).where(
            OrderRow.position_id == position_id, OrderRow.purpose != "entry"))).scalars())


async def test_a_double_click_on_close_now_sends_one_close_order(
    full_app, tmp_path: Path
) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    ask = (await app.h.slash("close", member="trader", position=str(pid))).last
    clicks = [app.h.dispatch(*app.h.component_payload(ask.id, f"close:confirm:{pid}",
                                                      member=who))
              for who in ("trader", "trader", "trader2")]
    await app.h.settle()
    await app.settle()
    assert len(await exit_orders(app, pid)) == 1
    answers = [" ".join(r.texts()) for r in clicks]
    assert sum("Close confirmed by" in a for a in answers) == 1
    assert sum("the position is closing" in a for a in answers) == 2  # the others are told
    now = app.h.message(ask.id)
    assert "Close confirmed by" in now.text() and now.button("Close now").disabled
    assert not app.h.errors
    await app.run_until("10:10", since="10:06")
    assert len(await exit_orders(app, pid)) == 1
    assert (await trading(app).queries.position(pid)).status == "closed"
