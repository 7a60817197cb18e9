"""Thread lines are batched: one message per thread per window, told within that window.

The outbox's window runs on the bot's clock (a fake clock here), so the test moves time by
hand: nothing is sent before the window ends, everything queued in it goes out together, and
the thread's cursor (what the narrator remembers having told) moves only once it was sent.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cogs.common.outbox import MESSAGE_LIMIT
from core.brokers.sim.broker import SimBroker
from core.engine.config import EngineConfig
from core.marketdata.sim import SimMarketData
from tests.cogs.conftest import App
from tests.cogs.test_proposals import confirm_id, proposal_message
from tests.cogs.test_trading_commands import SELECTION
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import SETUP, SPY_PATH

WINDOW = 300  # seconds of the fake clock


async def play(app: App, since: str, until: str) -> None:
    """Play SPY's bars through the engine and the exchange without flushing the outbox."""
    market = app.services.market
    broker = app.services.broker
    assert isinstance(market, SimMarketData) and isinstance(broker, SimBroker)
    async for ev in market.replay(["SPY"], ny(since), ny(until), clock=app.clock):
        assert ev.bar is not None
        await app.engine.on_bar(ev.bar)
        for _ in range(2):
            await broker.sync()
            await app.engine.pump_order_updates()
            await app.engine.tick()
        await app.services.bus.drain()
        await app.h.settle()


async def cursor(app: App, proposal_id: int) -> dict:
    link = await app.bot.links.get("proposal", proposal_id)
    assert link is not None
    return dict(link.state or {})


async def test_a_windows_worth_of_thread_lines_is_one_message_sent_when_it_ends(
    app_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    app = await app_factory(EngineConfig(selection=SELECTION), outbox_window=WINDOW)
    await app.h.post(SETUP, at=ny("08:45"))
    await app.run_until("10:02")
    msg = proposal_message(app)
    before = len(app.h.thread_messages(msg))
    await app.h.click(msg, confirm_id(msg), member="trader")
    await play(app, "10:02", "10:06")
    assert len(app.h.thread_messages(msg)) == before  # all still queued: the window is open
    assert "filled" not in await cursor(app, 1)  # not told yet, so not remembered as told

    app.clock.advance(timedelta(seconds=WINDOW))
    await app.h.settle()
    new = app.h.thread_messages(msg)[before:]
    assert len(new) == 1, [m.content for m in new]
    text = new[0].content
    for line in ("confirmed by trader", "entry order sent: buy", "entry filled", "📈 P&L"):
        assert line in text, (line, text)
    assert (await cursor(app, 1))["filled"]  # the fill is remembered once it went out


async def test_a_long_batch_is_split_into_as_few_messages_as_fit(app_factory) -> None:
    app = await app_factory(outbox_window=WINDOW)
    trades = app.world.channel_id("trades")
    lines = [f"line {i:03d} " + "x" * 90 for i in range(40)]  # 99 characters: 20 a message
    for line in lines:
        app.bot.outbox.line(trades, line)
    await app.h.settle()
    assert app.h.channel_messages("trades") == []
    app.clock.advance(timedelta(seconds=WINDOW))
    await app.h.settle()
    sent = [m.content for m in app.h.channel_messages("trades")]
    assert len(sent) == 2 and all(len(m) <= MESSAGE_LIMIT for m in sent)
    assert "\n".join(sent).splitlines() == lines  # every line once, in order
