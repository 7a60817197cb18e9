"""Fetch a day of 1-minute bars from Alpaca's historical data API and cache them as bar files.

The bars come through the Alpaca market-data adapter
(:meth:`~core.brokers.alpaca.market.AlpacaMarketData.minute_bars`: one shared rate limiter, the
adapter's retries, pagination by alpaca-py) and are written in the documented CSV format
(:mod:`core.marketdata.bars_csv`) to ``<bars_dir>/<SYMBOL>/<date>.csv``, regular session only,
with a comment naming the source and feed. A file already there is kept unless ``force``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

from core.brokers.alpaca.market import AlpacaMarketData
from core.calendar import MarketCalendar
from core.marketdata.bars_csv import bars_path, write_bars_csv
from core.marketdata.models import Bar, normalise_symbol
from core.replay.driver import ReplayError

log = logging.getLogger(__name__)


class FetchStatus(StrEnum):
    """What happened to one symbol."""

    WRITTEN = "written"
    CACHED = "cached"  # the file was already there
    EMPTY = "empty"  # Alpaca returned no bars for the session


@dataclass(frozen=True, slots=True)
class FetchedDay:
    """One symbol's bar file."""

    symbol: str
    path: Path
    status: FetchStatus
    bars: int


async def fetch_day_bars(market: AlpacaMarketData, symbols: Sequence[str], day: date,
                         bars_dir: Path, *, calendar: MarketCalendar, feed: str,
                         force: bool = False) -> list[FetchedDay]:
    """Fetch ``day``'s regular-session minute bars of ``symbols`` (one request) and write them."""
    if not calendar.is_session(day):
        raise ReplayError(f"{day} is not a trading day")
    try:
        wanted = sorted({normalise_symbol(s) for s in symbols})
    except ValueError as exc:
        raise ReplayError(f"bad symbol: {exc}") from None
    out: list[FetchedDay] = []
    missing = []
    for s in wanted:
        path = bars_path(bars_dir, s, day)
        if path.is_file() and not force:
            out.append(FetchedDay(s, path, FetchStatus.CACHED, 0))
        else:
            missing.append(s)
    if not missing:
        return out
    start, end = calendar.session_open(day), calendar.session_close(day)
    bars = await market.minute_bars(missing, start, end)
    by_symbol: dict[str, list[Bar]] = {s: [] for s in missing}
    for b in bars:
        if b.symbol in by_symbol and start <= b.timestamp < end:
            by_symbol[b.symbol].append(b)
    for s in missing:
        rows = sorted(by_symbol[s], key=lambda b: b.timestamp)
        path = bars_path(bars_dir, s, day)
        if not rows:
            out.append(FetchedDay(s, path, FetchStatus.EMPTY, 0))
            continue
        write_bars_csv(path, [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in rows],
                       comments=[f"Alpaca historical 1-minute bars for {s} on {day} "
                                 f"(feed {feed}, regular session)"])
        out.append(FetchedDay(s, path, FetchStatus.WRITTEN, len(rows)))
    return sorted(out, key=lambda f: f.symbol)
