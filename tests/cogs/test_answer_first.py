"""Every slash command and click is answered (or deferred) before any database statement.

Discord drops an interaction unanswered after 3 seconds, and SQLite may wait 5 s for a lock,
so a handler that reads or writes the database must answer first. The harness counts the SQL
statements the real database runs while each interaction is still unanswered
(:meth:`tests.discord.harness.Harness.watch_database`); nothing is replaced.
"""

from __future__ import annotations

from pathlib import Path

from tests.cogs.test_proposals import confirm_id, proposal_app
from tests.cogs.test_trading_commands import app_with_position, many_tickers_post, with_every_cog
from tests.discord.records import InteractionRecord
from tests.engine.conftest import ny


def answered_first(name: str, rec: InteractionRecord) -> str | None:
    """Return why ``rec`` breaks the rule, or None."""
    if rec.response is None:
        return f"{name}: never answered"
    if not rec.answered_first:
        return f"{name}: {rec.queries_before_response} SQL statements before the first answer"
    return None


async def test_every_command_answers_before_touching_the_database(app_factory,
                                                                  tmp_path: Path) -> None:
    full_app = with_every_cog(app_factory)
    app, pid = await app_with_position(full_app, tmp_path)
    h = app.h
    general, setup = h.channel("general"), h.channel("setup")
    runs: list[tuple[str, InteractionRecord]] = []

    async def slash(command: str, member: str = "manager", **options: object) -> InteractionRecord:
        rec = await h.slash(command, member=member, **options)
        runs.append((f"/{command}", rec))
        return rec

    async def click(name: str, message: int, custom_id: str,
                    member: str = "manager") -> InteractionRecord:
        rec = await h.click(message, custom_id, member=member)
        runs.append((name, rec))
        return rec

    await slash("admin status")
    await slash("admin pause")
    await slash("admin resume")
    await slash("admin autoconfirm", state="on")
    await slash("admin autoconfirm", state="off")
    await slash("admin risk show")
    await slash("admin risk set", limit="max_open_positions", value="4")
    await slash("admin risk set", limit="max_open_positions", value="-1")  # refused
    await slash("admin channel add", target=general)
    await slash("admin channel remove", target=general)
    await slash("admin channel remove", target=general)  # refused: not a setup channel
    for command in ("positions", "pnl", "orders", "setups", "signals", "stats", "help"):
        await slash(command, member="trader")

    close = await slash("close", member="trader", position=str(pid))
    await click("Keep (close)", close.last.id, f"close:keep:{pid}", member="trader")
    close = await slash("close", member="trader", position=str(pid))
    # trader2's client still shows the buttons enabled when trader's click has gone through
    late = h.component_payload(close.last.id, f"close:confirm:{pid}", member="trader2")
    await click("Close now", close.last.id, f"close:confirm:{pid}", member="trader")
    runs.append(("Close now again", h.dispatch(*late)))
    await h.settle()
    await slash("close", member="trader", position="999")  # refused: no such position

    flatten = await slash("admin flatten")
    keep = flatten.last.custom_ids[1]
    await click("Cancel (flatten)", flatten.last.id, keep)
    flatten = await slash("admin flatten")
    await click("Flatten everything", flatten.last.id, flatten.last.custom_ids[0])

    await h.post(many_tickers_post(), channel=setup, at=ny("10:07"))
    pages = await slash("signals", member="trader")
    await click("Next page", pages.last.id, pages.last.button("Next ▶").custom_id, "trader")

    await slash("admin killswitch")
    await slash("admin resume")
    await slash("admin reload")
    await slash("admin sync")

    assert len(runs) == 34
    problems = [p for name, rec in runs if (p := answered_first(name, rec))]
    assert problems == []


async def test_every_proposal_click_answers_before_touching_the_database(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    h = app.h
    contract = next(c for c in msg.custom_ids if c.startswith("proposal:contract:"))
    quantity = next(c for c in msg.custom_ids if c.startswith("proposal:qty:"))
    reject = next(c for c in msg.custom_ids if c.startswith("proposal:reject:"))
    runs = [
        ("contract", await h.select(msg, contract, [msg.component(contract).options[1]])),
        ("quantity", await h.select(h.message(msg.id), quantity, ["1"])),
    ]
    fresh = h.message(msg.id)
    runs += [
        ("outsider's confirm", await h.click(fresh, confirm_id(fresh), member="outsider")),
        ("outsider's reject", await h.click(fresh, reject, member="outsider")),
    ]
    late_reject = h.component_payload(fresh, reject, member="trader2")  # shown before the confirm
    runs.append(("confirm", await h.click(fresh, confirm_id(fresh))))
    runs.append(("reject after confirm", h.dispatch(*late_reject)))
    await h.settle()
    problems = [p for name, rec in runs if (p := answered_first(name, rec))]
    assert problems == []
    assert "order sent" in runs[-2][1].last.content
    assert "already" in runs[-1][1].last.content
