"""Where a replayed day's setup comes from: a file, a folder of dated files, or the database.

A setup file is the message's text, or a Discord message object as JSON (its ``content`` and
``timestamp`` are read). Its date is, in order: the one asked for, a ``YYYY-MM-DD`` prefix of the
file name (``2025-06-11_line_separators.txt``), the post's own header. A file without a posted
time counts as posted at 09:00 New York on that date.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select

from core.clock import NEW_YORK
from core.db.models import SetupMessage
from core.db.models.setups import ParseStatus
from core.db.session import Database
from core.parsing import parse_message
from core.replay.driver import PRE_MARKET, ReplayError, SetupSource

_DATED = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def file_date(path: Path) -> date | None:
    """Return the ``YYYY-MM-DD`` date a file name starts with, if any."""
    m = _DATED.match(path.name)
    if m is None:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def _pre_market(day: date) -> datetime:
    return datetime.combine(day, PRE_MARKET, NEW_YORK)


def read_setup_file(path: Path, day: date | None = None) -> SetupSource:
    """Read a setup file; raise :class:`ReplayError` saying why when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{path}: not UTF-8 text (offset {exc.start})") from None
    posted_at: datetime | None = None
    if text.lstrip().startswith("{"):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("content"), str):
            text = payload["content"]
            stamp = payload.get("timestamp")
            if isinstance(stamp, str):
                try:
                    posted_at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                except ValueError:
                    posted_at = None
    when = day or file_date(path)
    if posted_at is None or (when is not None and posted_at.astimezone(NEW_YORK).date() != when):
        if when is None:
            when = parse_message(text).trading_date
        if when is None:
            raise ReplayError(f"{path}: cannot tell the post's date; give --date YYYY-MM-DD")
        posted_at = _pre_market(when)
    return SetupSource(text=text, posted_at=posted_at, origin=str(path))


def dated_setup_files(folder: Path) -> dict[date, Path]:
    """Return the setup files of ``folder`` by the date their names start with.

    Files without a date prefix are ignored; of several files for one date the first by name
    is taken.
    """
    if not folder.is_dir():
        raise ReplayError(f"{folder}: not a folder of setup files")
    out: dict[date, Path] = {}
    for path in sorted(folder.iterdir()):
        day = file_date(path)
        if day is not None and path.is_file() and path.suffix in (".txt", ".json", ".md"):
            out.setdefault(day, path)
    return out


async def stored_setup(db: Database, day: date) -> SetupSource | None:
    """Return the latest A+ post stored for ``day`` (not deleted), or None."""
    async with db.sessions() as session:
        row = (await session.execute(
            select(SetupMessage)
            .where(SetupMessage.trading_date == day, SetupMessage.deleted_at.is_(None),
                   SetupMessage.parse_status.in_((ParseStatus.PARSED, ParseStatus.PARTIAL)))
            .order_by(SetupMessage.posted_at.desc(), SetupMessage.id.desc())
            .limit(1))).scalar_one_or_none()
    if row is None:
        return None
    return SetupSource(text=row.raw_text, posted_at=row.posted_at,
                       origin=f"stored message {row.discord_message_id} (channel {row.channel_id})",
                       message_id=int(row.discord_message_id))
