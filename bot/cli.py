"""The command line: one ``argparse`` parser, one module per subcommand in ``bot.commands``.

Each subcommand module exposes ``add_parser(subparsers)`` which registers itself and sets
``func`` to a callable taking the parsed arguments and returning the exit status. Errors the
user can fix (:class:`core.errors.AplusError`, a bad setting) are printed as one line on stderr
with exit status 2; nothing else is caught here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bot.logs import configure_logging
from core.config import load_settings
from core.errors import AplusError, ConfigError

SUBCOMMANDS = ("parse", "db", "config", "run", "replay", "backtest", "bars")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="A+ setups bot: parse setup posts, manage the database, run the bot.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"bot.commands.{name}").add_parser(subparsers)
    return parser


def _configured_secrets() -> list[str]:
    """Return the secrets to redact (none when the settings are invalid: every subcommand
    that reads them then stops with that one-line error)."""
    try:
        return load_settings().secret_values()
    except ConfigError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    redactor = configure_logging(
        logging.DEBUG if args.verbose else logging.WARNING, _configured_secrets()
    )
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error: {redactor.redact(str(exc))}", file=sys.stderr)
        return 2
    except AplusError as exc:
        print(f"error: {redactor.redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly like any Unix tool.
        sys.stderr.close()
        return 0
