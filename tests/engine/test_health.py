"""The broker health monitor on its own: what degrades it, what recovers it, what it says."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.brokers.base import Broker, EventHub
from core.brokers.errors import BrokerError, BrokerUnavailable, OrderRejected, RateLimited
from core.brokers.models import Account
from core.clock import FakeClock
from core.engine.health import BrokerHealthMonitor
from core.events import BrokerHealthChanged, EventBus

ACCOUNT = Account(equity=Decimal(1000), cash=Decimal(1000), buying_power=Decimal(1000),
                  options_buying_power=Decimal(1000))


class ScriptedBroker(Broker):
    """A broker whose account call answers from a script (an error or the account)."""

    def __init__(self) -> None:
        self.answers: list[BrokerError | None] = []
        self.calls = 0

    async def get_account(self) -> Account:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return ACCOUNT

    async def submit_order(self, request):  # pragma: no cover - not used here
        raise NotImplementedError

    get_order = get_order_by_client_id = cancel_order = replace_order = submit_order
    list_open_orders = list_positions = close_position = submit_order

    def order_updates(self):
        return EventHub().subscribe()


def monitor() -> tuple[BrokerHealthMonitor, ScriptedBroker, list, FakeClock]:
    clock = FakeClock(datetime(2025, 6, 11, 15, 0, tzinfo=UTC))
    bus = EventBus()
    events = bus.record()
    health = BrokerHealthMonitor(clock, bus)
    inner = ScriptedBroker()
    health.watch(inner)
    return health, inner, events, clock


async def call(health: BrokerHealthMonitor) -> None:
    assert health.broker is not None
    with contextlib.suppress(BrokerError):
        await health.broker.get_account()


async def test_refusals_never_degrade_and_one_answer_resets_the_count() -> None:
    health, inner, events, _ = monitor()
    inner.answers = [OrderRejected("no"), OrderRejected("no"), OrderRejected("no"),
                     RateLimited(), None, BrokerUnavailable("down")]
    for _ in range(6):
        await call(health)
    assert not health.degraded and events == []


async def test_two_failures_in_a_row_degrade_once_and_two_answers_recover_once() -> None:
    health, inner, events, _ = monitor()
    inner.answers = [RateLimited(), BrokerUnavailable("HTTP 503"), BrokerUnavailable("HTTP 503"),
                     None, BrokerUnavailable("HTTP 503"), None, None]
    for _ in range(4):
        await call(health)
    assert health.degraded and "HTTP 503" in (health.reason() or "")
    for _ in range(3):
        await call(health)
    assert not health.degraded
    changes = [e for e in events if isinstance(e, BrokerHealthChanged)]
    assert [e.healthy for e in changes] == [False, True]


async def test_an_idle_broker_is_probed_only_when_it_has_not_answered_for_a_while() -> None:
    health, inner, _, clock = monitor()
    await call(health)
    clock.advance(timedelta(seconds=20))
    await health.check()
    assert inner.calls == 1  # it answered 20 s ago: no probe
    clock.advance(timedelta(seconds=15))
    await health.check()
    assert inner.calls == 2
