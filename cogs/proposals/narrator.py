"""Tell each proposal thread its trade once, across crashes, restarts and reconnects.

The lines a trader must not miss (fills, orders that ended unfilled, the closing summary) are
remembered in the thread's :class:`~core.db.models.chat.ChatPost` ``state`` once sent:
``filled`` maps our order id to the contracts announced, ``ended`` lists orders whose end was
announced, ``closed`` is set once the summary is out, ``shown`` is the proposal status and
version the message displays. :meth:`ThreadNarrator.catch_up` runs on every READY (start-up
and each reconnect): it compares that cursor with what the database recorded and posts only
the difference, so what happened while the bot was down reaches the thread, and nothing is
said twice. Live events go through the same cursor under the same per-proposal lock.

Lines go through the outbox's batching: a busy window is one message per thread, and a fill
is told within that window. A line is sent before its cursor moves (at least once): the
cursor moves when the outbox has sent the line's batch, so a crash in between repeats those
lines at the next start rather than losing them. Until then the narrator remembers what it
queued, so a repeated event is not queued twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from cogs.render.events import event_line, fill_line
from core.engine.records import OrderStory, thread_story
from core.events import OrderCanceled, OrderEvent, OrderFilled, OrderRejected

if TYPE_CHECKING:
    from bot.app import AplusBot
    from core.db.models.chat import ChatPost

log = logging.getLogger(__name__)
CATCH_UP_DAYS = 7  # proposals older than this are not looked at again
OFFLINE_HEADER = "🔌 While I was offline:"
ENDED = ("rejected", "canceled", "expired")


def _target(link: ChatPost) -> int:
    return link.thread_id or link.channel_id


class ThreadNarrator:
    """Post thread lines through a per-thread cursor; catch up on what was missed."""

    def __init__(self, bot: AplusBot,
                 summary: Callable[[int, int], Awaitable[None]],
                 refresh: Callable[[int], Awaitable[None]]) -> None:
        self.bot = bot
        self._summary = summary
        self._refresh = refresh
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queued_fills: dict[int, int] = {}  # order id -> contracts queued to be told
        self._queued_ends: set[int] = set()  # orders whose end was queued to be told
        self.catch_ups = 0

    # ------------------------------------------------------------ live events ----

    async def order_line(self, proposal_id: int, event: OrderEvent, line: str) -> None:
        """Post a fill or an order's end unless the thread was already told."""
        async with self._locks[proposal_id]:
            link = await self.bot.links.get("proposal", proposal_id)
            if link is None:
                return
            state = dict(link.state or {})
            if isinstance(event, OrderFilled):
                if event.filled_qty <= self._told_fill(state, event.order_id):
                    return  # the catch-up already said it
                self._queued_fills[event.order_id] = event.filled_qty
                self._send(link, [line], filled={str(event.order_id): event.filled_qty})
            elif isinstance(event, OrderCanceled | OrderRejected):
                if self._told_end(state, event.order_id):
                    return
                self._queued_ends.add(event.order_id)
                self._send(link, [line], ended=[event.order_id])

    async def summary(self, proposal_id: int, position_id: int) -> None:
        """Post the closing summary once."""
        async with self._locks[proposal_id]:
            await self._summary_locked(proposal_id, position_id)

    async def _summary_locked(self, proposal_id: int, position_id: int) -> None:
        link = await self.bot.links.get("proposal", proposal_id)
        if link is None or (link.state or {}).get("closed"):
            return
        await self._summary(proposal_id, position_id)
        await self.bot.links.update_state("proposal", proposal_id, closed=True)

    async def shown(self, proposal_id: int, status: str, version: int) -> None:
        """Remember which status and version the proposal message displays."""
        await self.bot.links.update_state("proposal", proposal_id, shown=f"{status}:{version}")

    # -------------------------------------------------------------- catch-up -----

    async def catch_up(self) -> int:
        """Post every recorded fill, order end and closure the threads were not told; return
        how many threads got something."""
        since = self.bot.services.clock.now() - timedelta(days=CATCH_UP_DAYS)
        told = 0
        for link in await self.bot.links.recent("proposal", since):
            try:
                async with self._locks[link.ref_id]:
                    told += await self._catch_up_one(link.ref_id)
            except Exception:  # one thread's trouble must not keep the others waiting
                log.exception("catch-up of proposal %s failed", link.ref_id)
        self.catch_ups += 1
        if told:
            log.info("caught up %d proposal threads", told)
        return told

    async def _catch_up_one(self, proposal_id: int) -> int:
        link = await self.bot.links.get("proposal", proposal_id)
        story = await thread_story(self.bot.services.db, proposal_id)
        if link is None or story is None:
            return 0
        state: dict[str, Any] = dict(link.state or {})
        if state.get("shown") != f"{story.proposal.status}:{story.proposal.version}":
            await self._refresh(proposal_id)
        filled: dict[str, int] = {}
        ended: list[int] = []
        lines: list[str] = []
        for order in story.orders:
            told = self._told_fill(state, order.order_id)
            lines += self._missed_fills(story.proposal, proposal_id, order, told)
            filled[str(order.order_id)] = max(told, sum(f.qty for f in order.fills))
            self._queued_fills[order.order_id] = filled[str(order.order_id)]
            if order.status in ENDED and not self._told_end(state, order.order_id):
                lines.append(self._end_line(proposal_id, order))
                ended.append(order.order_id)
                self._queued_ends.add(order.order_id)
        if lines:
            self._send(link, [OFFLINE_HEADER, *lines], filled=filled, ended=ended)
        closing = story.closed_position_id is not None and not state.get("closed")
        if closing:
            await self._summary_locked(proposal_id, story.closed_position_id)
        return int(bool(lines) or closing)

    @staticmethod
    def _fields(proposal_id: int, order: OrderStory) -> dict[str, Any]:
        return dict(order_id=order.order_id, proposal_id=proposal_id, position_id=None,
                    symbol=order.symbol, side=order.side, purpose=order.purpose, qty=order.qty,
                    limit_price=order.limit_price)

    def _missed_fills(self, proposal: Any, proposal_id: int, order: OrderStory,
                      told: int) -> list[str]:
        out: list[str] = []
        total = 0
        for f in order.fills:
            total += f.qty
            if total <= told:
                continue
            event = OrderFilled(at=f.at, fill_qty=f.qty, fill_price=f.price, filled_qty=total,
                                complete=total == order.qty, slippage=None,
                                **self._fields(proposal_id, order))
            entry = order.purpose == "entry"
            out.append(fill_line(event, proposal.limit_price if entry else None,
                                 proposal.contract if entry else None))
        return out

    def _end_line(self, proposal_id: int, order: OrderStory) -> str:
        fields = self._fields(proposal_id, order)
        now = self.bot.services.clock.now()
        event: OrderEvent
        if order.status == "rejected":
            event = OrderRejected(at=now, reason=order.last_error or "rejected", **fields)
        else:
            event = OrderCanceled(at=now, reason=order.status, **fields)
        return event_line(event) or ""

    def _told_fill(self, state: dict[str, Any], order_id: int) -> int:
        """Return how many contracts of ``order_id`` the thread was told of (or will be)."""
        stored = int((state.get("filled") or {}).get(str(order_id), 0))
        return max(stored, self._queued_fills.get(order_id, 0))

    def _told_end(self, state: dict[str, Any], order_id: int) -> bool:
        """Tell whether the end of ``order_id`` was told (or is queued to be)."""
        return order_id in (state.get("ended") or []) or order_id in self._queued_ends

    def _send(self, link: ChatPost, lines: list[str], *, filled: dict[str, int] | None = None,
              ended: list[int] | None = None) -> None:
        """Queue ``lines`` for the thread; move its cursor once the outbox has sent them."""
        target = _target(link)
        for line in lines[:-1]:
            self.bot.outbox.line(target, line)
        self.bot.outbox.line(target, lines[-1], then=partial(
            self._sent, link.ref_id, filled or {}, ended or []))

    async def _sent(self, proposal_id: int, filled: dict[str, int], ended: list[int]) -> None:
        """Record in the thread's cursor that these fills and order ends were told."""
        link = await self.bot.links.get("proposal", proposal_id)
        if link is None:
            return
        state = dict(link.state or {})
        told = dict(state.get("filled") or {})
        for key, qty in filled.items():
            told[key] = max(int(told.get(key, 0)), qty)
        done = list(state.get("ended") or [])
        done += [o for o in ended if o not in done]
        await self.bot.links.update_state("proposal", proposal_id, filled=told, ended=done)
