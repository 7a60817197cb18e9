"""Broker faults: the bot pauses new entries, says so once, and resumes on its own.

The fake Alpaca answers 429s, 5xx or nothing at all for minutes, or its trade stream goes
silent, or sends duplicate and out-of-order events; the real bot (Alpaca adapter, engine,
health monitor, cogs) runs on a fake clock and is read from its Discord channels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.models.trading import FillRow
from core.engine.risk import TradingState
from tests.fakes.alpaca_server import FakeAlpaca
from tests.faults.conftest import AlpacaApp, confirm_id


def outage(status: int, *, delay: float = 0.0) -> Callable[[FakeAlpaca], None]:
    """Every trading and data REST call answers ``status`` (after ``delay`` seconds)."""
    def inject(server: FakeAlpaca) -> None:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            server.fail_next(method, "/v2/", status, times=10**6, delay=delay, retry_after=0)
    return inject


FAULTS = {
    "sustained 429s": outage(429),
    "a 5xx storm": outage(503),
    "timeouts": outage(500, delay=2.0),  # the adapter gives up after 0.3 s
}


def said(app: AlpacaApp, needle: str) -> int:
    return sum(needle in line for line in app.log_lines())


def buys(app: AlpacaApp) -> list[dict]:
    return [o for o in app.alpaca.orders.values() if o["side"] == "buy"]


async def recorded_fill_qty(app: AlpacaApp) -> int:
    async with app.services.db.sessions() as s:
        return int((await s.execute(select(func.coalesce(func.sum(FillRow.qty), 0)))).scalar_one())


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_broker_that_stops_answering_pauses_entries_once_and_they_resume_on_their_own(
    fault: str, alpaca_app
) -> None:
    app: AlpacaApp = await alpaca_app(alpaca_timeout_seconds=0.3)
    post = await app.proposal()
    FAULTS[fault](app.alpaca)

    await app.advance(120)  # the idle bot probes the broker every 30 s
    assert app.health.degraded
    assert said(app, "Broker degraded") == 1, app.log_lines()
    refused = await app.h.click(post.id, confirm_id(post))
    assert "not answering reliably" in refused.last.content, refused
    assert buys(app) == []
    await app.advance(300)  # five more minutes of outage: nothing more is said
    assert said(app, "Broker degraded") == 1 and said(app, "Broker recovered") == 0

    app.alpaca.faults.clear()
    await app.advance(90)
    assert not app.health.degraded
    assert said(app, "Broker recovered") == 1, app.log_lines()
    sent = await app.h.click(post.id, confirm_id(post))
    assert "order sent" in sent.last.content, sent
    assert len(buys(app)) == 1
    assert app.h.errors == []


async def test_recovering_never_lifts_an_admin_pause(alpaca_app) -> None:
    app: AlpacaApp = await alpaca_app()
    post = await app.proposal()
    FAULTS["a 5xx storm"](app.alpaca)
    await app.advance(90)
    assert app.health.degraded
    await app.engine.set_trading_state(TradingState.REDUCING, "admin")  # /admin pause

    app.alpaca.faults.clear()
    await app.advance(90)
    assert not app.health.degraded and said(app, "Broker recovered") == 1
    answer = await app.h.click(post.id, confirm_id(post))
    assert "paused" in answer.last.content and "/admin resume" in answer.last.content
    assert buys(app) == []
    assert app.engine.trading_state is TradingState.REDUCING


async def test_a_silent_stream_pauses_entries_recovers_the_missed_fill_and_resumes(
    alpaca_app,
) -> None:
    app: AlpacaApp = await alpaca_app()
    post = await app.proposal()
    sent = await app.h.click(post.id, confirm_id(post))
    assert "order sent" in sent.last.content
    [entry] = buys(app)
    qty = int(entry["qty"])

    app.alpaca.stream_paused = True  # connected, but every event is lost
    await app.alpaca.fill(entry["id"], Decimal(1), Decimal("2.00"))
    await app.advance(60)
    assert not app.health.degraded  # a minute of quiet is not yet a problem
    await app.advance(90)
    assert app.health.degraded and "missed an update" in (app.health.reason() or "")
    assert said(app, "Broker degraded") == 1
    assert await recorded_fill_qty(app) == 1  # fetched by the monitor's refresh, once

    app.alpaca.stream_paused = False
    await app.alpaca.fill(entry["id"], Decimal(qty - 1), Decimal("2.05"))

    async def filled() -> bool:
        return await recorded_fill_qty(app) == qty
    await app.until(filled, "the rest of the fill")
    assert not app.health.degraded and said(app, "Broker recovered") == 1
    thread = "\n".join(m.text() for m in app.h.thread_messages(post.id))
    assert thread.count("entry partial fill") == 1 and thread.count("entry filled") == 1, thread
    assert app.h.errors == []


async def test_an_order_resting_quietly_on_a_healthy_stream_is_polled_but_pauses_nothing(
    alpaca_app,
) -> None:
    app: AlpacaApp = await alpaca_app()
    post = await app.proposal()
    await app.h.click(post.id, confirm_id(post))
    [entry] = buys(app)
    polls_before = app.alpaca.requests.count(("GET", "/v2/orders"))

    await app.advance(300)  # five minutes without a fill, a cancel or any other update

    assert app.alpaca.orders[entry["id"]]["status"] == "new"  # still resting
    assert app.alpaca.requests.count(("GET", "/v2/orders")) > polls_before  # looked, found nothing
    assert not app.health.degraded
    assert said(app, "Broker degraded") == 0
    assert app.h.errors == []


async def test_duplicate_and_out_of_order_updates_are_recorded_once(alpaca_app) -> None:
    app: AlpacaApp = await alpaca_app()
    post = await app.proposal()
    await app.h.click(post.id, confirm_id(post))
    [entry] = buys(app)
    qty = int(entry["qty"])
    before = copy.deepcopy(entry)  # the order as it was when new

    order = await app.alpaca.fill(entry["id"], Decimal(1), Decimal("2.00"))
    duplicate = app.alpaca.trade_update("partial_fill", order, qty=Decimal(1),
                                        price=Decimal("2.00"), position_qty=Decimal(1))
    await app.alpaca.push_update(duplicate)
    await app.alpaca.push_update(duplicate)  # the same event again, same execution id
    await app.alpaca.push_update(app.alpaca.trade_update("new", before))  # late and stale
    await app.alpaca.fill(entry["id"], Decimal(qty - 1), Decimal("2.05"))
    final = copy.deepcopy(app.alpaca.orders[entry["id"]])
    await app.alpaca.push_update(app.alpaca.trade_update(
        "fill", final, qty=Decimal(qty - 1), price=Decimal("2.05"), position_qty=Decimal(qty)))

    async def filled() -> bool:
        return await recorded_fill_qty(app) == qty
    await app.until(filled, "the fills")
    await app.advance(30)  # any straggler would be applied here
    assert await recorded_fill_qty(app) == qty
    async with app.services.db.sessions() as s:
        fills = (await s.execute(select(FillRow))).scalars().all()
    assert [f.qty for f in fills] == [1, qty - 1]
    thread = "\n".join(m.text() for m in app.h.thread_messages(post.id))
    assert thread.count("entry partial fill") == 1 and thread.count("entry filled") == 1, thread
    assert not app.health.degraded
    assert app.h.errors == []
