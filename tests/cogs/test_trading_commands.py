"""Slash commands on the book, through the real bot on the simulated exchange.

Each test runs ``AplusBot`` with every cog, as ``python -m bot run`` does, on a fake Discord
server and a fake clock; positions come from a real A+ post whose level the bars break, a
confirm click, and fills on the simulated exchange.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import COGS
from core.db.models.trading import FillRow, OrderRow, ProposalRow
from core.engine.config import EngineConfig
from core.options.select import SelectionRules
from tests.cogs.conftest import App
from tests.discord.records import InteractionRecord
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import SETUP, SPY_PATH

# ----------------------------------------------------------------------- the bot ----

SELECTION = SelectionRules(scalp_min_hours_left=31)  # the next expiries, not 0DTE


@pytest.fixture
def full_app(app_factory):
    """Return ``await full_app(config=None, **settings)``: the bot with every cog loaded."""

    async def build(config: EngineConfig | None = None, **overrides: Any) -> App:
        return await app_factory(config or EngineConfig(selection=SELECTION), cogs=COGS,
                                 **overrides)

    return build


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
    assert rec.ephemeral, rec
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
    assert not rec.ephemeral and f"Close position #{pid}?" in rec.embed.title
    message = app.h.channel_messages("setup")[-1]
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
