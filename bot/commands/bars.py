"""``python -m bot bars fetch SYMBOL... --date D``: cache a day of Alpaca 1-minute bars as CSV.

Needs ``ALPACA_API_KEY`` and ``ALPACA_SECRET_KEY``; without them it stops with one line. Bars are
written to ``--bars-dir`` (default ``data/bars``) in the format the replay reads.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.replay import DEFAULT_BARS, iso_date
from core.config import Settings, load_settings
from core.errors import ConfigError

# The fetching machinery is imported by the functions that run it (see bot.commands.replay).
if TYPE_CHECKING:
    from core.replay.bars_fetch import FetchedDay


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``bars`` subcommand group."""
    p = subparsers.add_parser("bars", help="historical bars for replays",
                              description="Fetch and cache historical bars for replays.")
    sub = p.add_subparsers(dest="bars_command", metavar="ACTION", required=True)
    f = sub.add_parser("fetch", help="fetch a day of 1-minute bars from Alpaca into CSV files",
                       description="Fetch the regular-session 1-minute bars of SYMBOL... on "
                                   "--date from Alpaca's historical data API (needs "
                                   "ALPACA_API_KEY and ALPACA_SECRET_KEY) and write "
                                   "<bars-dir>/<SYMBOL>/<date>.csv.")
    f.add_argument("symbols", nargs="+", metavar="SYMBOL")
    f.add_argument("--date", type=iso_date, required=True, metavar="YYYY-MM-DD")
    f.add_argument("--bars-dir", type=Path, default=DEFAULT_BARS, metavar="DIR",
                   help=f"where the CSV files go (default {DEFAULT_BARS})")
    f.add_argument("--force", action="store_true", help="fetch again even when the file exists")
    f.set_defaults(func=run_fetch)


async def fetch_with(settings: Settings, args: argparse.Namespace) -> list[FetchedDay]:
    """Fetch with the Alpaca adapter built from ``settings``."""
    from core.brokers.alpaca.market import AlpacaMarketData  # alpaca-py only when asked
    from core.calendar import MarketCalendar
    from core.replay.bars_fetch import fetch_day_bars

    market = AlpacaMarketData(settings)
    try:
        return await fetch_day_bars(market, args.symbols, args.date, args.bars_dir,
                                    calendar=MarketCalendar(), feed=settings.alpaca_data_feed,
                                    force=args.force)
    finally:
        await market.close()


def run_fetch(args: argparse.Namespace) -> int:
    """Fetch the bars and say what was written; exit 1 when a symbol had no bars."""
    from core.replay.bars_fetch import FetchStatus

    settings = load_settings()
    if not settings.has_alpaca_keys:
        raise ConfigError("bars fetch needs ALPACA_API_KEY and ALPACA_SECRET_KEY "
                          "(set them in the environment or .env)")
    results = asyncio.run(fetch_with(settings, args))
    status = 0
    for r in results:
        if r.status is FetchStatus.WRITTEN:
            print(f"{r.symbol}: {r.bars} bars written to {r.path}")
        elif r.status is FetchStatus.CACHED:
            print(f"{r.symbol}: already cached at {r.path} (--force fetches again)")
        else:
            print(f"{r.symbol}: Alpaca returned no bars for {args.date}")
            status = 1
    return status
