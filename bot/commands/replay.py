"""``python -m bot replay``: one trading day through the real engine on the simulated exchange.

The setup is a file (``SETUP_FILE``: text or a Discord message object as JSON) or, with only
``--date``, the post stored in the project database for that day, else the file of that date in
``--setups-dir``. Bars come from ``--bars-dir`` (``<dir>/<SYMBOL>/<date>.csv``), or with
``--synthetic`` from a seeded made-up day around the setup's levels, labelled SYNTHETIC
everywhere. The day is printed as the channel would have shown it, a report folder is written,
and with ``--json`` the last line of stdout is the summary object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

# The replay machinery (engine, database, charts) takes about a second to import: it is
# imported inside the functions that run the command, so that registering this subcommand
# (every ``python -m bot`` run does) costs nothing.
if TYPE_CHECKING:
    from core.engine.config import EngineConfig
    from core.replay.driver import ReplayResult, SetupSource
    from core.replay.policy import ConfirmPolicy

DEFAULT_BARS = Path("data/bars")
DEFAULT_SETUPS = Path("data/samples/aplus")
DEFAULT_REPORTS = Path("data/replays")


def iso_date(value: str) -> date:
    """Read a ``YYYY-MM-DD`` argument."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _confirm_policy(value: str) -> ConfirmPolicy:
    from core.replay.policy import ConfirmPolicy

    return ConfirmPolicy(value)


# argparse names the type in its error ("invalid ConfirmPolicy value: 'x'"), as before.
_confirm_policy.__name__ = "ConfirmPolicy"


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """Add ``--confirm``, ``--config FILE`` and repeatable ``--set key=value`` (shared)."""
    # A text default goes through ``type`` too, so ``args.confirm`` is always a ConfirmPolicy;
    # an unknown policy fails in ``type``, so no ``choices`` list is needed (METAVAR is shown).
    p.add_argument("--confirm", type=_confirm_policy, default="all", metavar="POLICY",
                   help="who confirms proposals: all, none, first-per-ticker (default all)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="engine parameters as a JSON or TOML file (the EngineConfig fields, nested)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override one engine parameter, e.g. --set triggers.breakout_buffer_pct=0.05 "
                        "(repeatable; applied after --config)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``replay`` subcommand."""
    p = subparsers.add_parser(
        "replay", help="replay one trading day offline through the real engine",
        description="Replay a trading day: the setup post, that day's bars, the real engine on "
                    "the simulated exchange, as fast as possible. Prints the day as the channel "
                    "would have shown it and writes a report folder.")
    p.add_argument("setup", nargs="?", type=Path, metavar="SETUP_FILE",
                   help="the setup post (text, or a Discord message object as JSON)")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                   help="the trading day (default: from the file name or the post's header); "
                        "without SETUP_FILE the post stored for that day is replayed")
    p.add_argument("--setups-dir", type=Path, default=DEFAULT_SETUPS, metavar="DIR",
                   help=f"where --date alone looks when the database has no post (default {DEFAULT_SETUPS})")
    p.add_argument("--bars-dir", type=Path, default=DEFAULT_BARS, metavar="DIR",
                   help=f"bar files <DIR>/<SYMBOL>/<date>.csv (default {DEFAULT_BARS})")
    p.add_argument("--synthetic", action="store_true",
                   help="replay a seeded made-up day around the setup's levels (labelled SYNTHETIC)")
    p.add_argument("--seed", type=int, default=1, help="seed of --synthetic (default 1)")
    add_engine_options(p)
    p.add_argument("--report-dir", type=Path, metavar="DIR",
                   help=f"where the report goes (default {DEFAULT_REPORTS}/<date>)")
    p.add_argument("--all-marks", action="store_true",
                   help="print every P&L update (default: one per trade every 30 minutes)")
    p.add_argument("--json", action="store_true",
                   help="end with one JSON summary line: date, symbols, signals, triggered, "
                        "proposals, orders, fills, trades, realized_pnl, report_dir")
    p.set_defaults(func=run)


def _no_database_file(url: str) -> bool:
    """Tell whether ``url`` is a SQLite file that does not exist (opening it would create it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return (parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
            and not Path(parsed.database).is_file())


async def _stored(url: str, day: date) -> SetupSource | None:
    """Return the post stored for ``day`` in the project database, if there is one to read."""
    from sqlalchemy.exc import SQLAlchemyError

    from core.db.session import Database
    from core.replay.sources import stored_setup

    if _no_database_file(url):
        return None  # no database yet: do not create one just to look
    db = Database(url)
    try:
        return await stored_setup(db, day)
    except SQLAlchemyError:  # an unmigrated database has nothing stored
        return None
    finally:
        await db.dispose()


async def _find_setup(args: argparse.Namespace) -> SetupSource:
    from core.config import load_settings
    from core.replay.driver import ReplayError
    from core.replay.sources import dated_setup_files, read_setup_file

    if args.setup is not None:
        return read_setup_file(args.setup, args.date)
    if args.date is None:
        raise ReplayError("give a SETUP_FILE or --date YYYY-MM-DD")
    stored = await _stored(load_settings().database_url, args.date)
    if stored is not None:
        return stored
    files = dated_setup_files(args.setups_dir) if args.setups_dir.is_dir() else {}
    if args.date in files:
        return read_setup_file(files[args.date], args.date)
    raise ReplayError(f"no setup post for {args.date}: none stored in the database and no "
                      f"{args.date}_*.txt in {args.setups_dir}")


def run(args: argparse.Namespace) -> int:
    """Replay the day, print it, write the report; return the exit status."""
    from core.engine.config import load_engine_config

    config = load_engine_config(args.config, args.overrides)
    return asyncio.run(_replay_and_report(args, config))


async def _replay_and_report(args: argparse.Namespace, config: EngineConfig) -> int:
    from core.calendar import MarketCalendar
    from core.replay.driver import parse_setup, run_replay
    from core.replay.synthetic import setup_levels, write_synthetic_day

    setup = await _find_setup(args)
    calendar = MarketCalendar()
    if not args.synthetic:
        result = await run_replay(setup, bars_dir=args.bars_dir, config=config,
                                  policy=args.confirm, day=args.date, calendar=calendar)
        return _finish(args, result)
    parsed, day = parse_setup(setup, args.date)
    with tempfile.TemporaryDirectory(prefix="aplus-synthetic-bars-") as tmp:
        write_synthetic_day(Path(tmp), setup_levels(parsed), day, seed=args.seed,
                            calendar=calendar, origin=setup.origin)
        result = await run_replay(setup, bars_dir=Path(tmp), config=config, policy=args.confirm,
                                  day=day, calendar=calendar, seed=args.seed)
        return _finish(args, result)  # the charts read the bars back while they exist


def _finish(args: argparse.Namespace, result: ReplayResult) -> int:
    from bot.replay_view import MARK_EVERY, day_summary_lines, timeline_lines
    from core.replay.report import json_summary, write_day_report

    out = sys.stdout
    timeline = timeline_lines(result, None if args.all_marks else MARK_EVERY)
    for line in timeline:
        out.write(line + "\n")
    out.write("\n")
    for line in day_summary_lines(result):
        out.write(line + "\n")
    folder = args.report_dir or DEFAULT_REPORTS / result.trading_date.isoformat()
    report = write_day_report(result, folder, timeline)
    out.write(f"report: {report.markdown}\n")
    if args.json:
        out.write(json.dumps(json_summary(result, folder)) + "\n")
    out.flush()
    return 0
