"""The parent side of the crash tests: the fake Alpaca, the bot process, and the books.

The fake Alpaca server runs in the test process, so its orders, fills and positions outlive
every bot process; :class:`BotProcess` starts ``python -m tests.crash.runner`` on the same
working directory (SQLite file, bars, saved Discord server), sends it commands, and kills it
with SIGKILL; :func:`books` reads what the bot recorded straight from its SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.alpaca_server import FakeAlpaca

REPO = Path(__file__).resolve().parents[2]
REPLY_TIMEOUT = 180.0  # seconds: generous, the machine is shared


class CrashAlpaca(FakeAlpaca):
    """The fake Alpaca, able to take a submit and never answer it (the client dies first)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_side: str | None = None
        self.held = asyncio.Event()
        self._release = asyncio.Event()

    def hold_next_submit(self, side: str) -> None:
        """Process the next ``side`` submit, then hold its response until :meth:`release`."""
        self.hold_side = side
        self.held = asyncio.Event()
        self._release = asyncio.Event()

    def release(self) -> None:
        """Let a held response go (its client is gone by then)."""
        self._release.set()

    async def h_submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        response = await super().h_submit(request)
        if self.hold_side is not None and body.get("side") == self.hold_side:
            self.hold_side = None
            self.held.set()
            await self._release.wait()
        return response

    async def stop(self) -> None:
        self.release()
        await super().stop()

    def order_by_cid(self, client_order_id: str) -> dict[str, Any]:
        """Return the broker's order placed under ``client_order_id``."""
        return self.orders[self.by_cid[client_order_id]]


class ChildFailed(AssertionError):
    """The bot process answered a command with an error, or died unexpectedly."""


class BotProcess:
    """One bot process on ``workdir``; start it, command it, kill it."""

    def __init__(self, workdir: Path, alpaca: FakeAlpaca, now: datetime) -> None:
        self.workdir = workdir
        self.alpaca = alpaca
        self.now = now
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    @property
    def log_path(self) -> Path:
        """Return the stderr log of the current process."""
        return self.workdir / f"child-{self.starts}.log"

    async def start(self) -> None:
        """Start a new bot process and wait until it is connected and caught up."""
        assert self.proc is None, "kill or quit the running process first"
        self.starts += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.crash.runner", "--dir", str(self.workdir),
                "--alpaca", self.alpaca.url, "--now", self.now.isoformat(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err,
                cwd=REPO, env=env, limit=2**22)
        self._lines = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(self.proc))
        hello = await self._next()
        assert hello.get("ready"), hello

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            if line.startswith(b"@@"):
                await self._lines.put(json.loads(line[2:]))
        await self._lines.put({"exited": True})

    async def _next(self) -> dict[str, Any]:
        try:
            msg = await asyncio.wait_for(self._lines.get(), REPLY_TIMEOUT)
        except TimeoutError:
            raise ChildFailed(f"no answer from the bot; see {self.log_path}") from None
        if msg.get("exited"):
            raise ChildFailed(f"the bot process died; its log:\n{self._tail()}")
        return msg

    def _tail(self, n: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    async def send(self, op: str, **args: Any) -> None:
        """Send a command without waiting for its answer."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, **args}, default=str) + "\n").encode())
        await self.proc.stdin.drain()

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Run a command and return its answer (fails on an error or a breakpoint)."""
        await self.send(op, **args)
        msg = await self._next()
        if not msg.get("ok"):
            raise ChildFailed(msg.get("error") or f"unexpected message {msg}")
        self.now = datetime.fromisoformat(msg["now"])
        return msg

    async def until_breakpoint(self, op: str, **args: Any) -> dict[str, Any]:
        """Run a command that must stop at an armed crash point; return the breakpoint."""
        await self.send(op, **args)
        msg = await self._next()
        assert "breakpoint" in msg, f"expected a crash point, got {msg}"
        return msg

    async def until_held(self, op: str, **args: Any) -> None:
        """Run a command whose submit the fake Alpaca holds; return once it is held."""
        assert isinstance(self.alpaca, CrashAlpaca)
        await self.send(op, **args)
        answer = asyncio.create_task(self._next())
        held = asyncio.create_task(self.alpaca.held.wait())
        done, _ = await asyncio.wait({answer, held}, timeout=REPLY_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        answer.cancel()
        if held not in done:
            held.cancel()
            raise AssertionError(f"the submit never reached the broker: {done}")

    async def kill(self) -> None:
        """SIGKILL the process: nothing in it runs any more."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self._finish()
        if isinstance(self.alpaca, CrashAlpaca):
            self.alpaca.release()

    async def quit(self) -> None:
        """Stop the bot cleanly."""
        await self.call("quit")
        await self._finish()

    async def _finish(self) -> None:
        assert self.proc is not None
        await self.proc.wait()
        if self._reader is not None:
            await self._reader
        self.proc = None

    async def restart(self) -> None:
        """Kill the running process (if any) and start a new one on the same files."""
        if self.proc is not None:
            await self.kill()
        await self.start()


@dataclass
class Books:
    """What the bot recorded, read from its database."""

    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    proposals: list[dict[str, Any]]


def books(db_path: Path) -> Books:
    """Read orders, fills, positions and proposals from the bot's SQLite file."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        def rows(sql: str) -> list[dict[str, Any]]:
            return [dict(r) for r in con.execute(sql)]
        return Books(rows("SELECT * FROM orders ORDER BY id"), rows("SELECT * FROM fills ORDER BY id"),
                     rows("SELECT * FROM positions ORDER BY id"),
                     rows("SELECT * FROM proposals ORDER BY id"))
    finally:
        con.close()


def check_books(db_path: Path, alpaca: FakeAlpaca) -> Books:
    """Assert that the bot's books and the broker's agree; return the books.

    Every order the broker has is one of ours, placed once (one broker order per client order
    id, none under an id we did not record); every fill is recorded once (per order, our
    filled quantity and the sum of our fills equal the broker's filled quantity); every open
    position matches the broker's position in that contract.
    """
    b = books(db_path)
    ours = {o["client_order_id"]: o for o in b.orders}
    for oid, order in alpaca.orders.items():
        cid = order["client_order_id"]
        if order["status"] == "replaced":  # a repriced order: ours now carries its successor's id
            continue
        assert cid in ours, f"the broker has an order we never recorded: {cid}"
        assert ours[cid]["broker_order_id"] in (oid, None), (cid, ours[cid]["broker_order_id"], oid)
    assert len(alpaca.by_cid) == len(alpaca.orders), "an order id was placed twice"
    fills_by_order: dict[int, int] = defaultdict(int)
    for f in b.fills:
        fills_by_order[f["order_id"]] += f["qty"]
    for o in b.orders:
        at_broker = alpaca.orders.get(alpaca.by_cid.get(o["client_order_id"], ""))
        broker_filled = int(Decimal(at_broker["filled_qty"])) if at_broker else 0
        assert o["filled_qty"] == broker_filled == fills_by_order[o["id"]], (
            f"order {o['client_order_id']}: ours {o['filled_qty']}, fills "
            f"{fills_by_order[o['id']]}, broker {broker_filled}")
    held: dict[str, int] = defaultdict(int)
    for p in b.positions:
        if p["status"] != "closed":
            held[p["contract"]] += p["qty_open"]
    for symbol in set(held) | set(alpaca.positions):
        assert held.get(symbol, 0) == int(alpaca.positions.get(symbol, 0)), (
            f"{symbol}: ours {held.get(symbol, 0)}, broker {alpaca.positions.get(symbol, 0)}")
    return b
