"""Tell each proposal thread its trade once, across crashes, restarts and reconnects.

The lines a trader must not miss (fills, orders that ended unfilled, the closing summary) are
remembered in the thread's :class:`~core.db.models.chat.ChatPost` ``state`` once sent:
``filled`` maps our order id to the contracts announced, ``ended`` lists orders whose end was
announced, ``closed`` is set once the summary is out, ``shown`` is the proposal status and
version the message displays. :meth:`ThreadNarrator.catch_up` runs on every READY (start-up
and each reconnect): it compares that cursor with what the database recorded and posts only
the difference, so what happened while the bot was down reaches the thread, and nothing is
said twice. Live events go through the same cursor under the same per-proposal lock.

A line is sent before its cursor moves (at least once): a crash between the two repeats that
one line at the next start rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
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
                filled = dict(state.get("filled") or {})
                if event.filled_qty <= int(filled.get(str(event.order_id), 0)):
                    return  # the catch-up already said it
                await self._send(link, [line])
                filled[str(event.order_id)] = event.filled_qty
                await self.bot.links.update_state("proposal", proposal_id, filled=filled)
            elif isinstance(event, OrderCanceled | OrderRejected):
                ended = list(state.get("ended") or [])
                if event.order_id in ended:
                    return
                await self._send(link, [line])
                await self.bot.links.update_state("proposal", proposal_id,
                                                  ended=[*ended, event.order_id])

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
        filled = dict(state.get("filled") or {})
        ended = list(state.get("ended") or [])
        lines: list[str] = []
        for order in story.orders:
            told = int(filled.get(str(order.order_id), 0))
            lines += self._missed_fills(story.proposal.limit_price, proposal_id, order, told)
            filled[str(order.order_id)] = max(told, sum(f.qty for f in order.fills))
            if order.status in ENDED and order.order_id not in ended:
                lines.append(self._end_line(proposal_id, order))
                ended.append(order.order_id)
        if lines:
            await self._send(link, [OFFLINE_HEADER, *lines])
            await self.bot.links.update_state("proposal", proposal_id, filled=filled, ended=ended)
        closing = story.closed_position_id is not None and not state.get("closed")
        if closing:
            await self._summary_locked(proposal_id, story.closed_position_id)
        return int(bool(lines) or closing)

    @staticmethod
    def _fields(proposal_id: int, order: OrderStory) -> dict[str, Any]:
        return dict(order_id=order.order_id, proposal_id=proposal_id, position_id=None,
                    symbol=order.symbol, side=order.side, purpose=order.purpose, qty=order.qty,
                    limit_price=order.limit_price)

    def _missed_fills(self, proposal_price: Any, proposal_id: int, order: OrderStory,
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
            out.append(fill_line(event, proposal_price if order.purpose == "entry" else None))
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

    async def _send(self, link: ChatPost, lines: list[str]) -> None:
        target = _target(link)
        for line in lines:
            self.bot.outbox.line(target, line)
        await self.bot.outbox.flush(target)
