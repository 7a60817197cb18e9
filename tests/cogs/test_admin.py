"""``/admin`` through the real bot: refused to non-admins, audited, announced, kept on restart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import COGS
from core.db.models.trading import AuditEntry, OrderRow
from core.engine.risk import TradingState
from tests.cogs.conftest import App
from tests.cogs.test_trading_commands import (
    app_with_position,
    refused,
    trading,
    with_every_cog,
)
from tests.engine.conftest import ny
from tests.engine.test_full_day import SETUP


@pytest.fixture
def full_app(app_factory) -> Callable[..., Awaitable[App]]:
    """The bot with every cog, as ``python -m bot run`` loads them."""
    return with_every_cog(app_factory)


NOT_ADMIN = "Only members with Manage Server or the bot's admin role"


async def audit_rows(app: App, action: str | None = None) -> list[AuditEntry]:
    async with app.services.db.sessions() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        return list((await s.execute(stmt)).scalars())


def log_lines(app: App) -> str:
    return "\n".join(m.text() for m in app.h.channel_messages("log"))


def who(app: App, member: str) -> str:
    return f"{member} ({app.world.member_id(member)})"


ADMIN_COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("admin status", {}), ("admin pause", {}), ("admin resume", {}), ("admin killswitch", {}),
    ("admin flatten", {}), ("admin autoconfirm", {"state": "on"}), ("admin risk show", {}),
    ("admin risk set", {"limit": "max_open_positions", "value": "1"}),
    ("admin channel add", {"target": "general"}), ("admin channel remove", {"target": "setup"}),
    ("admin reload", {}), ("admin sync", {}),
]


@pytest.mark.parametrize(("command", "options"), ADMIN_COMMANDS,
                         ids=[c for c, _ in ADMIN_COMMANDS])
async def test_every_admin_command_is_refused_to_members_without_rights(
    full_app, command: str, options: dict[str, Any]
) -> None:
    app = await full_app()
    values = {k: app.h.channel(v) if k == "target" else v for k, v in options.items()}
    for member in ("trader", "outsider"):
        refused(await app.h.slash(command, member=member, **values), NOT_ADMIN)
    engine = app.engine
    assert engine.trading_state is TradingState.ACTIVE and not engine.auto_confirm
    assert engine.limits == engine.config.risk
    assert app.settings.setup_channel_ids == [app.world.channel_id("setup")]
    assert await audit_rows(app) == []
    assert not [m for m in app.h.channel_messages("setup") if m.custom_ids]  # no flatten asked
    assert log_lines(app) == ""


async def test_admin_group_is_hidden_from_members_without_manage_server_in_the_ui(full_app) -> None:
    app = await full_app()
    group = app.bot.tree.get_command("admin")
    assert group is not None and group.default_permissions.manage_guild
    assert group.guild_only


async def test_status_tells_broker_market_book_and_state(full_app) -> None:
    app = await full_app()
    rec = await app.h.slash("admin status", member="admin")
    assert rec.ephemeral and rec.deferred
    text = "\n".join(f"{f.name}: {f.value}" for f in rec.last.embed.fields)
    assert "Broker: simulated exchange" in text
    assert "Market: 💤 closed, opens <t:" in text  # 09:00 New York, before the open
    assert "0 open positions · 0 working orders · 0 levels watched" in text
    assert "Trading: 🟢 active" in text and "Auto-confirm: off" in text
    assert f"Setup channels: <#{app.world.channel_id('setup')}>" in text
    assert "Event failures: none" in text
    app.clock.set(ny("10:00"))
    text = "\n".join(f"{f.name}: {f.value}" for f in
                     (await app.h.slash("admin status", member="manager")).last.embed.fields)
    assert "Market: 🔔 open, closes <t:" in text


NO_KEYS = {"alpaca_api_key": None, "alpaca_secret_key": None}
KEYS = {"alpaca_api_key": "key-id", "alpaca_secret_key": "key-secret"}


@pytest.mark.parametrize(("broker", "keys", "shown"), [
    ("auto", NO_KEYS, "simulated exchange (no Alpaca keys configured)"),
    ("sim", KEYS, "simulated exchange"),  # python -m bot run --broker sim
], ids=["no keys", "broker sim with keys"])
async def test_status_says_the_simulated_exchange_trades_and_why(
    app_factory, broker: str, keys: dict[str, Any], shown: str
) -> None:
    app = await app_factory(cogs=COGS, broker=broker, **keys)
    rec = await app.h.slash("admin status", member="admin")
    [field] = [f for f in rec.last.embed.fields if f.name == "Broker"]
    assert field.value == shown


@pytest.mark.parametrize("guild", [True, False], ids=["DISCORD_GUILD_ID set", "unset"])
async def test_start_up_syncs_the_commands_to_the_configured_guild_else_globally(
    app_factory, world, guild: bool
) -> None:
    overrides = {"discord_guild_id": world.guild_id} if guild else {}
    app = await app_factory(cogs=COGS, sync_commands=True, **overrides)
    synced = app.h.server.synced
    assert list(synced) == [world.guild_id if guild else None]
    names = {c["name"] for c in next(iter(synced.values()))}
    assert {"admin", "close", "positions", "help"} <= names


async def test_pause_killswitch_and_resume_are_audited_announced_and_kept(full_app) -> None:
    app = await full_app()
    rec = await app.h.slash("admin pause", member="manager")
    assert rec.ephemeral and "paused" in rec.last.content
    assert app.engine.trading_state is TradingState.REDUCING
    rec = await app.h.slash("admin killswitch", member="admin")
    assert "Kill switch on" in rec.last.content
    assert app.engine.trading_state is TradingState.HALTED

    await app.restart()
    assert app.engine.trading_state is TradingState.HALTED  # a restart never un-halts
    await app.h.slash("admin resume", member="admin")
    assert app.engine.trading_state is TradingState.ACTIVE

    rows = [(r.actor, r.action) for r in await audit_rows(app)]
    assert rows == [(who(app, "manager"), "state_reducing"), (who(app, "admin"), "state_halted"),
                    (who(app, "admin"), "state_active")]
    assert all(r.at is not None for r in await audit_rows(app))
    log = log_lines(app)
    assert f"**{who(app, 'manager')}** paused new entries" in log
    assert f"**{who(app, 'admin')}** turned the kill switch on" in log
    assert f"**{who(app, 'admin')}** resumed trading (was halted)" in log


async def test_risk_limits_are_shown_changed_validated_and_kept(full_app) -> None:
    app = await full_app()
    shown = (await app.h.slash("admin risk show", member="admin")).embed
    names = [f.name for f in shown.fields]
    assert names == list(type(app.engine.limits).model_fields)
    assert "**5**" in shown.fields[0].value

    rec = await app.h.slash("admin risk set", member="admin", limit="max_open_positions",
                            value="3")
    assert rec.ephemeral and "max_open_positions: 5 → **3**" in rec.last.content
    assert app.engine.limits.max_open_positions == 3
    dollars = await app.h.slash("admin risk set", member="admin", limit="daily_loss_limit",
                                value="750")
    assert "daily_loss_limit: $1,500.00 → **$750.00**" in dollars.last.content

    refused(await app.h.slash("admin risk set", member="admin", limit="max_open_positions",
                              value="-1"),
            "max_open_positions: Input should be greater than or equal to 0 (got '-1')")
    refused(await app.h.slash("admin risk set", member="admin", limit="max_per_symbol",
                              value="lots"), "max_per_symbol: Input should be a valid integer")
    refused(await app.h.slash("admin risk set", member="admin", limit="allow_0dte",
                              value="@everyone"), "allow_0dte")
    payload, record = app.h.command_payload("admin risk set", member="admin",
                                            limit="max_open_positions", value="1")
    payload["data"]["options"][0]["options"][0]["options"][1]["value"] = "1" * 5000
    app.h.dispatch(payload, record)
    await app.h.settle()
    refused(record, "too long (5,000 characters; at most 32)")
    assert app.engine.limits.max_open_positions == 3 and app.engine.limits.max_per_symbol == 2

    await app.restart()
    assert app.engine.limits.max_open_positions == 3
    again = (await app.h.slash("admin risk show", member="manager")).embed
    assert "**3** (default 5)" in again.fields[0].value
    assert [r.action for r in await audit_rows(app)] == ["risk_set", "risk_set"]
    assert f"**{who(app, 'admin')}** changed max_open_positions: 5 → 3" in log_lines(app)


async def test_autoconfirm_on_and_off(full_app) -> None:
    app = await full_app()
    assert "Auto-confirm is on" in (await app.h.slash("admin autoconfirm", member="admin",
                                                      state="on")).last.content
    assert app.engine.auto_confirm is True
    await app.h.slash("admin autoconfirm", member="admin", state="off")
    assert app.engine.auto_confirm is False
    assert [r.action for r in await audit_rows(app)] == ["auto_confirm", "auto_confirm"]
    assert "turned auto-confirm on" in log_lines(app)


async def test_flatten_happens_only_after_an_admin_confirms(full_app, tmp_path: Path) -> None:
    app, pid = await app_with_position(full_app, tmp_path)
    rec = await app.h.slash("admin flatten", member="manager")
    assert rec.ephemeral and "an admin must press" in rec.edits[0].content
    message = rec.last
    assert not message.ephemeral and "Flatten everything?" in message.embed.title
    assert app.h.channel_messages("setup")[-1].id == message.id
    [go, keep] = message.custom_ids
    assert go.startswith("admin:flatten:confirm:") and keep.startswith("admin:flatten:keep:")
    assert await exit_orders(app) == 0  # asking sends nothing

    refused(await app.h.click(message, go, member="trader"), NOT_ADMIN)
    assert await exit_orders(app) == 0
    assert (await trading(app).queries.position(pid)).status == "open"

    click = await app.h.click(message, go, member="admin")
    assert click.deferred
    after = app.h.message(message.id)
    assert "Flattened by" in after.text() and "closing" in after.text()
    assert after.button("Flatten everything").disabled and after.button("Cancel").disabled
    assert await exit_orders(app) == 1
    await app.run_until("10:10", since="10:06")
    assert (await trading(app).queries.position(pid)).status == "closed"
    [row] = await audit_rows(app, "flatten")
    assert row.actor == who(app, "admin") and row.details["actions"]
    assert f"**{who(app, 'admin')}** flattened the book" in log_lines(app)


async def test_an_old_or_cancelled_flatten_request_sends_nothing(full_app) -> None:
    app = await full_app()
    await app.h.slash("admin flatten", member="admin")
    first = app.h.channel_messages("setup")[-1]
    await app.h.slash("admin flatten", member="admin")
    second = app.h.channel_messages("setup")[-1]
    keep = await app.h.click(second, second.custom_ids[1], member="manager")
    assert keep.deferred and "Cancelled by" in app.h.message(second.id).text()
    app.clock.advance(timedelta(minutes=6))
    late = await app.h.click(first, first.custom_ids[0], member="admin")
    refused(late, "more than 5 minutes old")
    assert "Expired: nothing was sent" in app.h.message(first.id).text()
    assert await audit_rows(app, "flatten") == []


async def test_a_member_without_rights_cannot_cancel_a_flatten_request(full_app) -> None:
    app = await full_app()
    ask = (await app.h.slash("admin flatten", member="admin")).last
    keep = ask.button("Cancel").custom_id
    for member in ("trader", "outsider"):
        refused(await app.h.click(ask.id, keep, member=member), NOT_ADMIN)
    now = app.h.message(ask.id)
    assert not now.button("Cancel").disabled and not now.button("Flatten everything").disabled
    assert "Cancelled by" not in now.text()
    done = await app.h.click(ask.id, keep, member="manager")  # an admin still can
    assert done.deferred and "Cancelled by" in app.h.message(ask.id).text()


async def exit_orders(app: App) -> int:
    async with app.services.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(OrderRow).where(
            OrderRow.purpose != "entry"))).scalar_one()


async def test_setup_channels_added_and_removed_survive_a_restart(full_app) -> None:
    app = await full_app()
    setup_id, general_id = app.world.channel_id("setup"), app.world.channel_id("general")
    rec = await app.h.slash("admin channel add", member="manager",
                            target=app.h.channel("general"))
    assert rec.ephemeral and "is now a setup channel" in rec.last.content
    assert "lack" not in rec.last.content
    refused(await app.h.slash("admin channel add", member="manager",
                              target=app.h.channel("general")), "already a setup channel")
    await app.h.slash("admin channel remove", member="admin", target=app.h.channel("setup"))
    refused(await app.h.slash("admin channel remove", member="admin",
                              target=app.h.channel("trades")), "is not a setup channel")
    assert app.settings.setup_channel_ids == [general_id]

    await app.restart()
    assert app.bot.settings.setup_channel_ids == [general_id]
    post = await app.h.post(SETUP, channel="general", at=ny("08:45"))
    assert app.h.thread_of(post) is not None  # read in the added channel
    ignored = await app.h.post(SETUP.replace("SPY", "QQQ"), channel="setup", at=ny("08:46"))
    assert app.h.thread_of(ignored) is None  # the removed one is no longer read

    rows = await audit_rows(app)
    assert [(r.action, r.actor) for r in rows] == [
        ("channel_add", who(app, "manager")), ("channel_remove", who(app, "admin"))]
    log = log_lines(app)
    assert f"added setup channel <#{general_id}>" in log
    assert f"removed setup channel <#{setup_id}>" in log


async def test_adding_a_channel_where_the_bot_cannot_open_threads_warns(full_app) -> None:
    app = await full_app()
    await app.h.set_permissions("trades", create_public_threads=False)
    rec = await app.h.slash("admin channel add", member="manager", target=app.h.channel("trades"))
    assert "I lack these permissions there: create public threads" in rec.last.content


async def test_reload_and_sync_keep_the_commands_working_and_are_audited(full_app) -> None:
    app = await full_app()
    rec = await app.h.slash("admin reload", member="admin")
    assert "reloaded cogs.setups, cogs.proposals, cogs.trading, cogs.admin" in rec.last.content
    assert (await app.h.slash("help", member="outsider")).embed is not None
    assert (await app.h.slash("admin risk show", member="admin")).embed is not None
    synced = await app.h.slash("admin sync", member="manager")
    assert "Synced" in synced.last.content and "commands globally" in synced.last.content
    assert [(r.action, r.actor) for r in await audit_rows(app)] == [
        ("reload", who(app, "admin")), ("sync", who(app, "manager"))]
    assert "reloaded cogs.setups" in log_lines(app) and "synced" in log_lines(app)
    assert not app.h.errors


async def test_admin_commands_have_the_per_user_cooldown_too(full_app) -> None:
    app = await full_app(command_cooldown_seconds=10)
    assert (await app.h.slash("admin status", member="admin")).last.embed is not None
    refused(await app.h.slash("admin pause", member="admin"), "Slow down")
    assert app.engine.trading_state is TradingState.ACTIVE
    refused(await app.h.slash("admin pause", member="outsider"), NOT_ADMIN)  # rights first
