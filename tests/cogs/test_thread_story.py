"""A real A+ post traded end to end: every step reaches the proposal's thread.

The post is the corpus's 2025-06-11 message. SPY touches its rejection level (606.37) and
falls, so the put entry is repriced and then canceled; it then breaks out above 606.75 and a
trader confirms the call, which fills, is marked (throttled P&L lines), scales out at T1 and
T2 and is closed by the time stop. The threads must tell each of these, with the reason for
each exit and a closing summary with the realized P&L.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from cogs.render.style import usd
from core.db.models.trading import PositionRow
from tests.cogs.conftest import App
from tests.cogs.test_proposals import config, confirm_id
from tests.conftest import CORPUS
from tests.discord.records import Posted
from tests.engine.conftest import ny, write_bars

MARK = re.compile(r"📈 P&L [+−±]\$[0-9,]+\.[0-9]{2} · mark [0-9]+\.[0-9]{2,3} · underlying [0-9.]+")
POST = (CORPUS / "2025-06-11_line_separators.txt").read_text(encoding="utf-8")
SPY_PATH = [("09:30", 605.00), ("09:44", 606.00), ("09:45", 606.40), ("09:46", 605.90),
            ("09:50", 603.60), ("09:59", 605.00), ("10:00", 606.90), ("10:29", 607.90),
            ("10:30", 608.40), ("10:59", 609.90), ("11:00", 610.30), ("11:30", 609.80),
            ("16:00", 609.60)]


def proposal(app: App, title: str) -> Posted:
    [found] = [m for m in app.h.channel_messages("setup")
               if m.author_id == app.world.bot_id and m.embed and title in (m.embed.title or "")]
    return found


def thread_lines(app: App, message: Posted) -> list[str]:
    return [line for m in app.h.thread_messages(message) for line in m.content.splitlines()]


def index(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


async def test_a_corpus_post_traded_end_to_end_tells_its_threads_every_step(
    app_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    app = await app_factory(config())
    await app.h.post(POST, at=ny("08:45"))
    await app.run_until("09:48")
    rejection = proposal(app, "SPY rejection")
    assert "order sent" in (await app.h.click(rejection, confirm_id(rejection))).last.content
    await app.run_until("10:01", since="09:48")
    breakout = proposal(app, "SPY breakout")
    assert "order sent" in (await app.h.click(breakout, confirm_id(breakout))).last.content
    await app.run_until("16:01", since="10:01")

    put = thread_lines(app, rejection)
    sent, canceled = index(put, "entry order sent"), index(put, "entry order canceled")
    assert sent < index(put, "entry order repriced") < canceled

    call = thread_lines(app, breakout)
    filled = index(call, "💰 entry filled: buy 3 SPY250613C00607000 @ ")
    assert index(call, "entry order sent") < filled
    assert "/contract vs the proposal" in call[filled]  # the slippage
    t1 = index(call, "🚪 Exit 1 SPY250613C00607000: reached T1 608.30")
    t2 = index(call, "🚪 Exit 1 SPY250613C00607000: reached T2 610.20")
    last = index(call, "🚪 Exit 1 SPY250613C00607000: time stop 15:50 New York")
    assert filled < t1 < t2 < last < index(call, "💰 exit filled: sell 1")
    marks = [i for i, line in enumerate(call) if line.startswith("📈 P&L ")]
    assert marks and filled < marks[0] < t1 and any(t1 < i < t2 for i in marks)
    # held 346 one-minute bars, marked every few seconds: the updates are thinned to a few
    assert 3 <= len(marks) <= 346 // 10
    assert all(MARK.fullmatch(call[i]) for i in marks), [call[i] for i in marks]

    summary = app.h.thread_messages(breakout)[-1]
    async with app.services.db.sessions() as s:
        pos = (await s.execute(select(PositionRow).where(
            PositionRow.contract == "SPY250613C00607000"))).scalar_one()
    assert pos.status == "closed"
    net = usd(pos.realized_pnl - pos.fees, sign=True)
    assert summary.embed is not None and summary.embed.title.startswith("🏁")
    assert f"closed: {net}" in summary.embed.title
    assert "Why it closed: time stop 15:50 New York" in summary.text()
    assert summary.attachments == (f"trade-{pos.id}.png",)
    assert not app.h.errors
