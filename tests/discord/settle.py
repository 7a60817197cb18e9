"""Run the event loop until the bot has nothing left to do, without sleeping.

A gateway event makes discord.py schedule tasks (``CommandTree-invoker``, view and dynamic
item dispatch, ``discord.py: on_message``...), which may start more tasks or wait on the
database in a worker thread. :func:`settle` keeps the loop running until every task is either
finished or *idle*: suspended at a point where only the outside world can wake it (the fake
clock, a queue, an event, a ``View.wait``, a real-time ``asyncio.sleep`` such as a view
timeout). It never sleeps for more than a few milliseconds at a time, and a task that stays
busy past the deadline raises :class:`SettleTimeout` naming where it is stuck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from types import CodeType, FrameType
from typing import Any

import discord.ui

from core.clock import FakeClock

_SLICE = 0.005  # longest single wait, in seconds


def _code(func: Any) -> CodeType:
    return func.__code__


#: Suspension points where a task waits for the outside world rather than for work in progress.
IDLE_WAITS: frozenset[CodeType] = frozenset(
    {
        _code(FakeClock.sleep_until),
        _code(asyncio.sleep),
        _code(asyncio.Queue.get),
        _code(asyncio.Queue.put),
        _code(asyncio.Event.wait),
        _code(asyncio.Condition.wait),
        _code(discord.ui.View.wait),
        _code(asyncio.wait_for),  # Client.wait_for; a wrapped task is tracked on its own
    }
)


class SettleTimeout(RuntimeError):
    """Some task kept working (or waited on something unknown) past the settle deadline."""


def _chain(task: asyncio.Task[Any]) -> Iterator[tuple[CodeType, FrameType | None]]:
    """Yield the code objects a suspended task is awaiting through, outermost first."""
    obj: Any = task.get_coro()
    while obj is not None:
        code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if code is not None:
            yield code, frame
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)


def is_idle(task: asyncio.Task[Any]) -> bool:
    """Return whether ``task`` is suspended waiting for the outside world."""
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is None or waiter.done():
        return False  # runnable: it will make progress as soon as the loop turns
    return any(code in IDLE_WAITS for code, _ in _chain(task))


def where(task: asyncio.Task[Any]) -> str:
    """Return ``name at innermost-function (file:line)`` for a suspended task."""
    last = "?"
    for code, frame in _chain(task):
        line = frame.f_lineno if frame is not None else code.co_firstlineno
        last = f"{code.co_qualname} ({code.co_filename}:{line})"
    return f"{task.get_name()} at {last}"


def busy_tasks(ignore: Iterable[str] = ()) -> list[asyncio.Task[Any]]:
    """Return the tasks that still have work to do (not the caller, not ``ignore`` prefixes)."""
    current = asyncio.current_task()
    prefixes = tuple(ignore)
    return [
        t
        for t in asyncio.all_tasks()
        if t is not current
        and not t.done()
        and not (prefixes and t.get_name().startswith(prefixes))
        and not is_idle(t)
    ]


async def settle(*, within: float = 10.0, ignore: Iterable[str] = ()) -> None:
    """Return once every other task is done or idle; raise :class:`SettleTimeout` otherwise.

    ``ignore`` lists task-name prefixes never waited for (long-lived loops that are busy by
    design). ``within`` (seconds) only bounds a stuck test; a healthy settle takes milliseconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    ignore = tuple(ignore)
    quiet = 0
    while quiet < 2:
        for _ in range(3):
            await asyncio.sleep(0)
        busy = busy_tasks(ignore)
        if not busy:
            quiet += 1
            continue
        quiet = 0
        remaining = deadline - loop.time()
        if remaining <= 0:
            stuck = "\n  ".join(where(t) for t in busy)
            raise SettleTimeout(
                f"tasks still busy after {within}s (pass their name prefix in `ignore` if "
                f"they run forever by design):\n  {stuck}"
            )
        await asyncio.wait(
            busy, timeout=min(_SLICE, remaining), return_when=asyncio.FIRST_COMPLETED
        )
