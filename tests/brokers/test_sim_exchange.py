"""Behaviour of the simulated exchange a trader would notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.brokers.errors import InsufficientBuyingPower, InvalidOrder, MarketClosed
from core.brokers.models import (
    OrderEventType,
    OrderLeg,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.brokers.sim import SimBroker
from core.clock import FakeClock
from core.db.session import Database
from core.marketdata.sim import SimMarketData
from tests.brokers.conftest import BARS, OPTION

CLOSE_0611 = datetime(2025, 6, 11, 20, 0, tzinfo=UTC)


def order(symbol: str, qty: int, side: OrderSide = OrderSide.BUY, price: str | None = None, *,
          cid: str, tif: TimeInForce = TimeInForce.DAY) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, qty=Decimal(qty), side=side,
                        type=OrderType.LIMIT if price else OrderType.MARKET,
                        limit_price=Decimal(price) if price else None, time_in_force=tif)


async def test_large_limit_order_fills_in_parts_by_displayed_size(sim_broker: SimBroker, sim_market: SimMarketData, sim_clock: FakeClock) -> None:
    sub = sim_broker.order_updates()
    q = sim_market.option_quote_at(OPTION, sim_clock.now())
    limit = Decimal(str(q.ask)) + Decimal("0.50")
    o = await sim_broker.submit_order(order(OPTION, 200, price=str(limit), cid="big-1"))
    assert o.status is OrderStatus.PARTIALLY_FILLED
    assert o.filled_qty == q.ask_size
    first = [e for e in sub.drain() if e.event.is_fill]
    assert first[0].event is OrderEventType.PARTIAL_FILL and first[0].fill_qty == q.ask_size
    assert first[0].fill_price <= limit
    for _ in range(10):
        sim_clock.advance(timedelta(minutes=1))
        await sim_broker.sync()
    final = await sim_broker.get_order(o.id)
    assert final.status is OrderStatus.FILLED
    fills = first + [e for e in sub.drain() if e.event.is_fill]
    assert sum(e.fill_qty for e in fills) == 200
    assert fills[-1].event is OrderEventType.FILL


async def test_market_order_pays_far_side_plus_slippage_and_walks_the_book(sim_broker: SimBroker, sim_market: SimMarketData, sim_clock: FakeClock) -> None:
    q = sim_market.quote_at("NVDA", sim_clock.now())
    o = await sim_broker.submit_order(order("NVDA", 500, cid="mkt-1"))
    assert o.status is OrderStatus.FILLED
    ask = Decimal(str(q.ask))
    assert o.filled_avg_price >= ask + Decimal("0.01")
    if q.ask_size < 500:
        assert o.filled_avg_price > ask + Decimal("0.01")


async def test_resting_limit_fills_only_when_the_market_reaches_it(sim_broker: SimBroker, sim_market: SimMarketData, sim_clock: FakeClock) -> None:
    day = sim_market.day_bars("SPY", sim_clock.now().date())
    later_low = min(day.low[i] for i, ts in enumerate(day.epoch) if ts >= sim_clock.now().timestamp())
    now_ask = sim_market.quote_at("SPY", sim_clock.now()).ask
    limit = Decimal(str(round((later_low + now_ask) / 2 if later_low < now_ask - 0.2 else later_low + 0.05, 2)))
    o = await sim_broker.submit_order(order("SPY", 10, price=str(limit), cid="dip-1"))
    assert o.status is OrderStatus.NEW
    filled = None
    while sim_clock.now() < CLOSE_0611 and filled is None:
        sim_clock.advance(timedelta(minutes=1))
        await sim_broker.sync()
        current = await sim_broker.get_order(o.id)
        if current.status is OrderStatus.FILLED:
            filled = current
    assert filled is not None
    assert filled.filled_avg_price <= limit


async def test_buying_power_is_reserved_by_open_orders(sim_broker: SimBroker) -> None:
    await sim_broker.submit_order(order("SPY", 150, price="500.00", cid="bp-1"))  # rests, reserves $75,000
    acct = await sim_broker.get_account()
    assert acct.buying_power == Decimal("25000.00")
    with pytest.raises(InsufficientBuyingPower, match="buying power"):
        await sim_broker.submit_order(order("SPY", 60, price="500.00", cid="bp-2"))


async def test_day_order_expires_at_the_close_and_gtc_survives(sim_broker: SimBroker, sim_clock: FakeClock) -> None:
    sub = sim_broker.order_updates()
    day = await sim_broker.submit_order(order("SPY", 1, price="500.00", cid="day-1"))
    gtc = await sim_broker.submit_order(order("SPY", 1, price="500.00", cid="gtc-1", tif=TimeInForce.GTC))
    sim_clock.set(CLOSE_0611 + timedelta(minutes=5))
    await sim_broker.sync()
    assert (await sim_broker.get_order(day.id)).status is OrderStatus.EXPIRED
    assert (await sim_broker.get_order(gtc.id)).is_open
    expired = [e for e in sub.drain() if e.event is OrderEventType.EXPIRED]
    assert [e.order.id for e in expired] == [day.id]
    assert expired[0].timestamp == CLOSE_0611


async def test_market_order_while_closed_is_refused_and_limit_waits_for_the_open(db: Database) -> None:
    clock = FakeClock(datetime(2025, 6, 11, 12, 0, tzinfo=UTC))  # 08:00 New York
    broker = SimBroker(db, clock, SimMarketData(clock, bars_dir=BARS), background=False)
    await broker.start()
    with pytest.raises(MarketClosed):
        await broker.submit_order(order("SPY", 1, cid="early-mkt"))
    o = await broker.submit_order(order("SPY", 1, price="650.00", cid="early-lmt"))
    assert o.status is OrderStatus.ACCEPTED
    clock.set(datetime(2025, 6, 11, 13, 31, tzinfo=UTC))
    await broker.sync()
    assert (await broker.get_order(o.id)).status is OrderStatus.FILLED
    await broker.close()


async def test_in_the_money_option_is_cash_settled_at_expiry_and_otm_lapses(sim_broker: SimBroker, sim_market: SimMarketData, sim_clock: FakeClock) -> None:
    itm, otm = "SPY250611C00590000", "SPY250611C00620000"
    for sym, cid in ((itm, "itm-1"), (otm, "otm-1")):
        q = sim_market.option_quote_at(sym, sim_clock.now())
        placed = await sim_broker.submit_order(order(sym, 1, price=str(Decimal(str(q.ask))), cid=cid))
        assert placed.status is OrderStatus.FILLED
    cash_before = (await sim_broker.get_account()).cash
    sim_clock.set(CLOSE_0611 + timedelta(minutes=1))
    await sim_broker.sync()
    settle = Decimal(str(sim_market.settlement_price("SPY", CLOSE_0611.date())))
    assert settle == Decimal("601.35")  # the sample file's last close
    acct = await sim_broker.get_account()
    assert acct.cash - cash_before == (settle - 590) * 100  # the OTM call added nothing
    assert await sim_broker.list_positions() == []


async def test_restart_continues_with_cash_positions_and_resting_orders(db: Database, sim_clock: FakeClock) -> None:
    market = SimMarketData(sim_clock, bars_dir=BARS)
    first = SimBroker(db, sim_clock, market, background=False)
    await first.start()
    await first.submit_order(order("NVDA", 10, cid="keep-pos"))
    resting = await first.submit_order(order("SPY", 2, price="500.00", cid="keep-open", tif=TimeInForce.GTC))
    acct = await first.get_account()
    await first.close()

    second = SimBroker(db, sim_clock, SimMarketData(sim_clock, bars_dir=BARS), background=False)
    await second.start()
    assert (await second.get_account()).cash == acct.cash
    assert [(p.symbol, p.qty) for p in await second.list_positions()] == [("NVDA", Decimal(10))]
    assert [o.id for o in await second.list_open_orders()] == [resting.id]
    again = await second.submit_order(order("SPY", 2, price="500.00", cid="keep-open", tif=TimeInForce.GTC))
    assert again.id == resting.id
    await second.cancel_order(resting.id)
    await second.close()


async def test_multi_leg_orders_are_refused_with_a_reason(sim_broker: SimBroker) -> None:
    req = OrderRequest(client_order_id="spread-1", qty=Decimal(1), type=OrderType.LIMIT, limit_price=Decimal("1.00"),
                       legs=(OrderLeg(symbol=OPTION, side=OrderSide.BUY),
                             OrderLeg(symbol="SPY250613C00605000", side=OrderSide.SELL)))
    with pytest.raises(InvalidOrder, match="multi-leg"):
        await sim_broker.submit_order(req)


def test_zero_or_negative_quantity_is_refused_before_any_broker() -> None:
    for qty in ("0", "-1"):
        with pytest.raises(ValueError, match="positive"):
            OrderRequest(client_order_id="q", symbol="SPY", qty=Decimal(qty), side=OrderSide.BUY,
                         type=OrderType.MARKET)
    with pytest.raises(ValueError, match="limit price"):
        OrderRequest(client_order_id="q", symbol="SPY", qty=Decimal(1), side=OrderSide.BUY, type=OrderType.LIMIT)
    with pytest.raises(ValueError, match="whole contracts"):
        OrderRequest(client_order_id="q", symbol=OPTION, qty=Decimal("1.5"), side=OrderSide.BUY,
                     type=OrderType.MARKET)
