"""Users never see a traceback: a short private sentence, the full error in the log.

The failures are real: a table the bot reads is gone from the real database, and Discord
(the fake server) refuses a message in a channel where the bot lacks a permission.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from discord import app_commands
from sqlalchemy import text

from tests.cogs.conftest import App
from tests.cogs.test_trading_commands import app_with_position, with_every_cog

REF = re.compile(r"\(ref ([0-9a-f]{6})\)")


async def lose_table(app: App, table: str) -> None:
    """Rename ``table`` away, as a broken migration or a manual mistake would."""
    async with app.services.db.engine.begin() as conn:
        await conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))


def said_without_traceback(words: str) -> str:
    """Assert ``words`` is one short sentence with a reference; return the reference."""
    assert len(words) < 200 and "\n" not in words, words
    for leak in ("Traceback", "File \"", "sqlalchemy", "OperationalError", "no such table",
                 "positions"):
        assert leak not in words, (leak, words)
    found = REF.search(words)
    assert found is not None, words
    return found.group(1)


@pytest.mark.parametrize("action", ["slash", "click"])
async def test_an_unexpected_failure_gives_a_private_sentence_and_the_log_the_error(
    app_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture, action: str
) -> None:
    app, pid = await app_with_position(with_every_cog(app_factory), tmp_path)
    if action == "click":
        ask = await app.h.slash("close", member="trader", position=str(pid))
    await lose_table(app, "positions")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        if action == "slash":
            rec = await app.h.slash("positions", member="trader")
        else:
            rec = await app.h.click(ask.last.id, f"close:confirm:{pid}", member="trader")
    assert rec.followups and rec.followups[-1].ephemeral
    ref = said_without_traceback(rec.followups[-1].content)
    assert "Something went wrong on my side" in rec.followups[-1].content
    [logged] = [r for r in caplog.records if f"ref {ref}" in r.getMessage()]
    assert logged.exc_info is not None and "no such table" in str(logged.exc_info[1])


async def test_a_missing_permission_is_told_to_the_user_and_once_to_the_log_channel(
    app_factory
) -> None:
    app = await with_every_cog(app_factory)()

    @app_commands.command(name="announce", description="Post a line in this channel")
    async def announce(interaction) -> None:  # a command that writes in its channel
        await interaction.response.defer(ephemeral=True)
        await interaction.channel.send("hello")

    app.bot.tree.add_command(announce)
    await app.h.set_permissions("general", send_messages=False)
    answers = [await app.h.slash("announce", channel="general") for _ in range(2)]
    for rec in answers:
        assert rec.followups[-1].ephemeral
        assert "I lack a permission in this channel; an admin has been told" in (
            rec.followups[-1].content)
    told = [m.content for m in app.h.channel_messages("log")]
    general = app.world.channel_id("general")
    assert told == [f"⚠️ I lack a permission in <#{general}> for /announce (Missing Permissions: "
                    f"send_messages). Please check my permissions."]
    assert app.h.channel_messages("general") == []
