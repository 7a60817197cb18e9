"""The bot as its own process, for the crash tests: ``python -m tests.crash.runner --dir D``.

It builds the bot exactly like ``tests/cogs/conftest.py`` (settings → ``build_services`` →
``AplusBot``, connected to the fake Discord harness), but trades through the real Alpaca
adapter against the fake Alpaca server the parent test runs, on a SQLite file in ``D``. The
fake Discord server is saved to ``D/discord.pickle`` after every write
(:mod:`tests.crash.store`), so what the bot posted survives a SIGKILL like it would on
Discord, and a new process finds the same messages, threads and buttons.

The parent drives it with one JSON command per line on stdin; every answer is one line on
stdout starting with ``@@`` (anything else on stdout is ignored). Commands (``op``): ``post``,
``run``, ``sync``, ``click``, ``close``, ``arm``, ``ready``, ``errors``, ``quit``; see
:class:`Child`. ``arm`` sets a crash point inside the process: when the engine reaches it the
child prints ``@@{"breakpoint": ...}`` and stops there, waiting for the parent's SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.app import AplusBot
from core.brokers.alpaca import AlpacaBroker
from core.brokers.models import Order, OrderRequest
from core.clock import FakeClock
from core.marketdata.sim import SimMarketData
from tests.crash.alpaca_bot import TrackedRest, build_alpaca_bot, name_stream_tasks, settings_for
from tests.crash.store import load_server
from tests.discord.harness import Harness
from tests.discord.interactions import find_component, new_interaction
from tests.discord.world import World

log = logging.getLogger(__name__)


def emit(message: dict[str, Any]) -> None:
    """Send one protocol line to the parent."""
    sys.stdout.write("@@" + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


class CrashPoints:
    """Where the process should stop dead (the parent kills it there)."""

    def __init__(self) -> None:
        self.armed: set[tuple[str, str]] = set()

    async def reach(self, point: str, side: str) -> None:
        """Stop forever at ``point`` if it is armed for ``side``."""
        if (point, side) in self.armed:
            self.armed.discard((point, side))
            emit({"breakpoint": point, "side": side})
            await asyncio.Event().wait()


class CrashableAlpaca(AlpacaBroker):
    """The real Alpaca adapter with one crash point: before a submit leaves the process."""

    def __init__(self, *args: Any, points: CrashPoints, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.points = points

    async def submit_order(self, request: OrderRequest) -> Order:
        await self.points.reach("before_submit", str(request.side))
        return await super().submit_order(request)


class Child:
    """The bot process: build, connect, then obey the parent's commands."""

    def __init__(self, workdir: Path, alpaca_url: str, now: datetime) -> None:
        self.workdir = workdir
        self.world = World.build()
        self.clock = FakeClock(now)
        self.settings = settings_for(workdir, alpaca_url, self.world)
        self.points = CrashPoints()
        self.rest = TrackedRest(self.settings.alpaca_timeout_seconds)
        self.bot: AplusBot | None = None
        self.h: Harness | None = None

    async def start(self) -> None:
        """Build the services and the bot and connect it to the saved Discord server."""
        self.bot = await build_alpaca_bot(self.settings, self.clock, self.rest,
                                          broker_class=CrashableAlpaca, points=self.points)
        h = Harness(self.world, clock=self.clock.now, ignore_tasks=("alpaca-",), settle_timeout=30)
        h.server = load_server(self.workdir / "discord.pickle", self.clock.now)
        Harness._active = h
        h._install()
        await h.attach(self.bot)
        self.h = h
        await self.settle()

    async def settle(self) -> None:
        """Wait until the engine's events are rendered and posted."""
        assert self.bot is not None and self.h is not None
        busy = True
        while busy:
            await self.bot.services.bus.drain()
            await self.bot.outbox.drain()
            await self.h.settle()
            busy = await self.rest.quiet()

    async def step(self, *, tick: bool = True) -> None:
        """Feed the broker's order events to the engine, run its timer, render."""
        assert self.bot is not None
        await self.bot.engine.pump_order_updates()
        if tick:
            await self.bot.engine.tick()
            await self.bot.engine.pump_order_updates()
        await self.settle()

    # ------------------------------------------------------------------ commands -------
    async def op_post(self, text: str, at: str, channel: str = "setup") -> dict[str, Any]:
        assert self.h is not None
        msg = await self.h.post(text, channel=channel, at=datetime.fromisoformat(at))
        await self.settle()
        return {"message_id": msg.id}

    async def op_run(self, since: str, until: str, symbols: list[str]) -> dict[str, Any]:
        assert self.bot is not None
        market = self.bot.services.market
        assert isinstance(market, SimMarketData)
        async for ev in market.replay(sorted(symbols), datetime.fromisoformat(since),
                                           datetime.fromisoformat(until), clock=self.clock):
            assert ev.bar is not None
            await self.bot.engine.on_bar(ev.bar)
            await self.step()
        return {}

    async def op_sync(self) -> dict[str, Any]:
        """Poll the broker for what the stream may not have delivered yet, then apply it."""
        assert self.bot is not None
        broker = self.bot.services.broker
        assert isinstance(broker, AlpacaBroker)
        await broker.resync()
        await self.step(tick=False)
        return {}

    async def op_click(self, message_id: int, custom_id: str, member: str = "trader",
                       stale: bool = False) -> dict[str, Any]:
        """Click a button; ``stale`` clicks it on the message as first sent (an old client)."""
        assert self.h is not None
        if stale:
            data = self.h.server.versions[message_id][0]
            inner = {"custom_id": custom_id,
                     "component_type": find_component(data, custom_id)["type"]}
            payload, record = new_interaction(
                self.h.server, 3, inner, self.h.channel(int(data["channel_id"])),
                self.h.member(member), message=data)
        else:
            payload, record = self.h.component_payload(message_id, custom_id, member=member)
        self.h.dispatch(payload, record)
        await self.settle()
        return {"texts": record.texts(), "ephemeral": record.ephemeral,
                "errors": [r.getMessage() for r in record.errors]}

    async def op_close(self, position_id: int) -> dict[str, Any]:
        assert self.bot is not None
        text = await self.bot.engine.close_position(position_id, "trader")
        await self.step(tick=False)
        return {"text": text}

    async def op_arm(self, point: str, side: str) -> dict[str, Any]:
        self.points.armed.add((point, side))
        return {}

    async def op_ready(self) -> dict[str, Any]:
        """Deliver READY again, as after a gateway reconnect."""
        assert self.bot is not None
        self.bot._connection.dispatch("ready")
        await self.settle()
        return {}

    async def op_errors(self) -> dict[str, Any]:
        assert self.h is not None and self.bot is not None
        return {"errors": [f"{r.name}: {r.getMessage()}" for r in self.h.errors],
                "bus_failures": self.bot.services.bus.failures()}

    async def op_quit(self) -> dict[str, Any]:
        assert self.h is not None
        await self.h.close()
        return {}

    async def serve(self) -> None:
        """Answer commands from stdin until ``quit`` or end of input."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        emit({"ready": True, "now": self.clock.now().isoformat()})
        while line := await reader.readline():
            cmd = json.loads(line)
            op = cmd.pop("op")
            try:
                result = await getattr(self, f"op_{op}")(**cmd)
                emit({"reply": op, "ok": True, "now": self.clock.now().isoformat(), **result})
            except Exception:
                emit({"reply": op, "ok": False, "error": traceback.format_exc()})
            if op == "quit":
                return


async def main(argv: list[str] | None = None) -> None:
    """Start the bot and serve the parent's commands."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--alpaca", required=True, help="the fake Alpaca server's base URL")
    parser.add_argument("--now", required=True, help="the fake clock's start (ISO 8601)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name_stream_tasks(asyncio.get_running_loop())
    child = Child(args.dir, args.alpaca, datetime.fromisoformat(args.now))
    await child.start()
    await child.serve()


if __name__ == "__main__":
    asyncio.run(main())
