"""The printed day: the cogs' renderers, thread lines under their proposal, P&L updates thinned."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

from bot.replay_view import timeline_lines
from core.events import PositionMarked
from core.replay.driver import run_replay
from tests.replay.conftest import setup_source


async def test_the_timeline_reads_like_the_channel(bars_dir: Path, calendar) -> None:
    r = await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar)
    every = timeline_lines(r, None)
    thinned = timeline_lines(r)
    marks = [e for e in r.events if isinstance(e, PositionMarked)]
    assert sum("📈 P&L" in line for line in every) == len(marks)
    shown = [line for line in thinned if "📈 P&L" in line]
    assert 0 < len(shown) < len(marks)
    # at most one update per trade every 30 minutes
    by_trade: dict[str, list[int]] = {}
    for line in shown:
        hh, mm = map(int, line[:5].split(":"))
        by_trade.setdefault(line.split()[2], []).append(hh * 60 + mm)
    assert all(b - a >= 30 for t in by_trade.values() for a, b in pairwise(t))
    # the setup post comes first, as its embeds; proposals as theirs, with their number
    assert thinned[0].startswith("09:00 📋 Setup created: SPY, NVDA, 3 levels")
    assert any("Breakout (aggressive) above 606.75" in line for line in thinned[:12])
    assert any(re.match(r"\d\d:\d\d ▲ SPY breakout · buy \d+ ×", line) for line in thinned)
    assert any("— proposal #1 · v1" in line for line in thinned)
    # thread events sit under their proposal number, in time order
    fills = [line for line in thinned if "💰 entry filled" in line]
    assert fills and all(re.match(r"\d\d:\d\d   ↳ #\d ", line) for line in fills)
    stamps = [line[:5] for line in thinned if re.match(r"\d\d:\d\d ", line)]
    assert stamps == sorted(stamps)
    assert thinned[-1].startswith("16:00 📊 2025-06-11: 2 trades")
