"""Injectable clocks.

Everything that depends on the time of day (triggers, exits, proposal expiry, market hours,
the simulated exchange) asks a :class:`Clock` instead of calling ``datetime.now``. Live code
uses :class:`SystemClock`; tests and the offline replay use :class:`FakeClock`, which only
moves when told to, so no test ever sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive values are taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


class Clock(Protocol):
    """A source of the current time and a way to wait for a later one."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once the clock has reached ``when``."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep on the event loop until ``when``."""
        delay = (utc(when) - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """A clock that moves only when :meth:`advance` or :meth:`set` is called.

    Sleepers are woken in time order as the clock passes their deadline, so code that waits
    on the clock runs deterministically and as fast as the test drives it.
    """

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """Return the fake current time."""
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Wait until the clock is moved to or past ``when``."""
        when = utc(when)
        if when <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._seq), fut))
        await fut

    def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (never backwards) and wake every sleeper now due."""
        when = utc(when)
        if when < self._now:
            raise ValueError(f"a clock cannot go backwards ({when} < {self._now})")
        self._now = when
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.set(self._now + delta)
