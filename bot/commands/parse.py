"""``python -m bot parse``: read A+ setup posts from files (or stdin) and print what they say.

Each FILE is a message's text, ``-`` for stdin, or a Discord message object as JSON (its
``content`` is read and its ``timestamp`` is the posted time). With ``--json`` every
readable file gives one JSON object on its own line, in order (the contract of
:meth:`core.parsing.ParsedMessage.to_contract_dict`); without it, a readable summary.

The exit status is 0 when every file could be read, even if none holds a setup; 1 when a
file could not be read (missing, a directory, not UTF-8): the reason goes to stderr and the
other files are still processed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from core.parsing import Bias, ParsedMessage, Signal, parse_message

__all__ = ["add_parser", "render_summary", "run"]


_BATCH = 64  # files whose output is written together


class _Unreadable(Exception):
    """A file that cannot be read as a message; the message is the reason."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``parse`` subcommand."""
    p = subparsers.add_parser(
        "parse",
        help="parse A+ setup posts from files and print the setups",
        description=(
            "Parse A+ setup posts. Each FILE is a message's text, a Discord message object "
            "as JSON, or - for stdin. Exit status 1 only when a file cannot be read."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="message file, or - for stdin")
    p.add_argument(
        "--posted-at",
        type=_iso_datetime,
        metavar="ISO8601",
        help="when the messages were posted (gives the year when the header has none); "
        "default: the JSON message's timestamp, else the current UTC date",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object per file, one per line"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse every file named in ``args`` and print the results; return the exit status."""
    status = 0
    out = sys.stdout
    # Written in batches (one write per _BATCH files) unless a person is watching a terminal.
    batch = 1 if out.isatty() else _BATCH
    pending: list[str] = []

    def write_pending() -> None:
        out.write("".join(pending))
        pending.clear()

    for name in args.files:
        try:
            text, posted_at = _read_message(name, sys.stdin)
        except _Unreadable as exc:
            write_pending()
            out.flush()  # the files before it are printed before its reason
            print(f"parse: {name}: {exc}", file=sys.stderr)
            status = 1
            continue
        parsed = parse_message(text, args.posted_at or posted_at)
        if args.json:
            pending.append(parsed.to_contract_json() + "\n")
        else:
            pending.append(_printable(render_summary(name, parsed), out))
        if len(pending) >= batch:
            write_pending()
    write_pending()
    out.flush()
    return status


def _iso_datetime(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date-time: {value!r} (e.g. 2025-06-11T13:53:25+00:00)"
        ) from None


def _read_message(name: str, stdin: TextIO) -> tuple[str, datetime | None]:
    """Return a file's message text and, for a Discord message object, its posted time."""
    try:
        if name == "-":
            data = stdin.buffer.read()
        else:
            with open(name, "rb", buffering=0) as fh:  # unbuffered: one read of the whole file
                data = fh.read()
    except IsADirectoryError:
        raise _Unreadable("is a directory") from None
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unreadable(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    if text[:1] == "{" or (text[:1].isspace() and text.lstrip()[:1] == "{"):
        return _discord_message(text)
    return text, None


def _discord_message(text: str) -> tuple[str, datetime | None]:
    """Read a Discord message object's ``content`` and ``timestamp``; other JSON is text."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text, None
    if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
        return text, None
    posted_at = None
    timestamp = payload.get("timestamp")
    if isinstance(timestamp, str):
        try:
            posted_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            posted_at = None
    return payload["content"], posted_at


def _printable(text: str, stream: TextIO) -> str:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    if encoding.lower().replace("-", "") in ("utf8", "utf16", "utf32"):
        return text
    return text.encode(encoding, "replace").decode(encoding)


# --- the readable summary -------------------------------------------------------------------


def render_summary(name: str, parsed: ParsedMessage) -> str:
    """Return the human-readable summary of one parsed message."""
    lines: list[str] = []
    if not parsed.is_aplus:
        lines.append(f"{name}: not an A+ setup post")
        return "\n".join(lines) + "\n"
    day = parsed.trading_date.isoformat() if parsed.trading_date else "no date"
    count = len(parsed.setups)
    lines.append(f"{name}: A+ setups for {day}, {count} ticker{'s' if count != 1 else ''}")
    for setup in parsed.setups:
        lines.append(f"  {setup.symbol}")
        if not setup.signals:
            lines.append("    (no signals)")
        for signal in setup.signals:
            lines.append("    " + _signal_line(signal))
        if setup.bias is not None:
            lines.append("    " + _bias_line(setup.bias))
    if parsed.warnings:
        lines.append("  warnings:")
        lines.extend(f"    - {w}" for w in parsed.warnings)
    return "\n".join(lines) + "\n"


def _price(value: Decimal) -> str:
    return format(value, "f")


def _signal_line(signal: Signal) -> str:
    if isinstance(signal.trigger, tuple):
        trigger = f"{_price(signal.trigger[0])}–{_price(signal.trigger[1])}"
    else:
        trigger = _price(signal.trigger)
    targets = (
        "targets " + ", ".join(_price(t) for t in signal.targets)
        if signal.targets
        else "no targets"
    )
    return (
        f"{signal.category:<10} {signal.aggressiveness:<12} {signal.comparison:<6} "
        f"{trigger:<16} {targets}"
    )


def _bias_line(bias: Bias) -> str:
    stated = str(bias.direction) if bias.direction is not None else "no direction"
    if bias.condition is not None and bias.price is not None:
        stated += f" {bias.condition} {_price(bias.price)}"
    if bias.flip is not None:
        stated += f" (flips {bias.flip.direction} at {_price(bias.flip.price)})"
    return f'bias: {stated}: "{bias.text}"'
