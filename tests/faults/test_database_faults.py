"""Database faults: a lock held by another process, a full disk.

The bot refuses the entry and says why instead of trading blind, and the confirm writes the
proposal's decision, the position and the order in one transaction: a failed write leaves
none of them behind, and the same click works once the database does.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from core.db.models.trading import AuditEntry, OrderRow, PositionRow, ProposalRow
from tests.cogs.conftest import App
from tests.cogs.test_proposals import confirm_id, proposal_app
from tests.engine.conftest import write_bars
from tests.engine.test_full_day import SETUP, SPY_PATH
from tests.faults.test_discord_faults import no_errors

HOLD_LOCK = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
con.rollback()
"""


async def trade_rows(app: App) -> dict[str, Any]:
    async with app.services.db.sessions() as s:
        return {
            "orders": (await s.execute(select(func.count()).select_from(OrderRow))).scalar_one(),
            "positions": (await s.execute(select(func.count()).select_from(PositionRow))).scalar_one(),
            "statuses": [str(p.status) for p in (await s.execute(select(ProposalRow))).scalars()],
            "confirm audits": (await s.execute(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "proposal_confirmed"))).scalar_one(),
        }


@contextmanager
def disk_full(app: App, statement: str) -> Iterator[None]:
    """Make every ``statement`` (e.g. ``INSERT INTO orders``) fail as SQLite does on a full disk."""
    def fail(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if sql.lstrip().upper().startswith(statement):
            raise sqlite3.OperationalError("database or disk is full")

    engine = app.services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


async def test_a_database_locked_by_another_process_refuses_the_entry_and_writes_nothing(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    locker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, str(tmp_path / "bot.db"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert locker.stdout is not None and locker.stdin is not None
    assert (await locker.stdout.readline()).strip() == b"locked"
    try:
        refused = await app.h.click(msg, confirm_id(msg))
    finally:
        locker.stdin.close()
        await locker.wait()
    assert "not sent" in refused.last.content and "database is locked" in refused.last.content
    await app.settle()
    assert any("database is locked" in m.text() for m in app.h.channel_messages("log"))
    assert await trade_rows(app) == {"orders": 0, "positions": 0, "statuses": ["open"],
                                     "confirm audits": 0}

    sent = await app.h.click(msg, confirm_id(msg))  # the lock is gone: the same click works
    assert "order sent" in sent.last.content
    rows = await trade_rows(app)
    assert (rows["orders"], rows["positions"], rows["statuses"]) == (1, 1, ["confirmed"])
    no_errors(app)


async def test_a_full_disk_while_confirming_leaves_no_partial_trade(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    # The position row and the proposal's new status are written first; the order fails.
    with disk_full(app, "INSERT INTO ORDERS"):
        refused = await app.h.click(msg, confirm_id(msg))
    assert "not sent" in refused.last.content and "disk is full" in refused.last.content
    assert await trade_rows(app) == {"orders": 0, "positions": 0, "statuses": ["open"],
                                     "confirm audits": 0}
    sent = await app.h.click(msg, confirm_id(msg))
    assert "order sent" in sent.last.content
    rows = await trade_rows(app)
    assert (rows["orders"], rows["positions"], rows["confirm audits"]) == (1, 1, 1)
    no_errors(app)


async def test_a_full_disk_when_a_level_triggers_says_why_no_proposal_came(
    app_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    app = await app_factory()
    setup = await app.h.post(SETUP)
    with disk_full(app, "INSERT INTO PROPOSALS"):
        await app.run_until("10:02")
    thread = "\n".join(m.text() for m in app.h.thread_messages(setup))
    assert "no proposal: the database cannot be written right now (database or disk is full)" \
        in thread, thread
    assert (await trade_rows(app))["statuses"] == []
    no_errors(app)
