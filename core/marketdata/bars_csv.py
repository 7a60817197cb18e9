"""The OHLCV bar CSV format the simulated market replays.

Layout: ``<bars_dir>/<SYMBOL>/<YYYY-MM-DD>.csv``, one file per symbol and New York trading
day. A file is UTF-8 text:

- any number of leading lines starting with ``#`` (comments; say where the data came from,
  and whether it is synthetic);
- the header line ``timestamp,open,high,low,close,volume``;
- one line per 1-minute bar, oldest first: ``timestamp`` is the bar's **start** in ISO-8601
  UTC (``2025-06-11T13:30:00Z``), prices are decimal numbers, ``volume`` a whole number.

Rules checked on load: timestamps strictly increasing and on whole minutes, ``low <= open,
close <= high``, non-negative volume. Minutes without trades may be missing. A file that
breaks a rule is refused with its line number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

HEADER = "timestamp,open,high,low,close,volume"


@dataclass(frozen=True, slots=True)
class DayBars:
    """One day of 1-minute bars as parallel lists (epoch seconds of each bar's start)."""

    epoch: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[int]

    def __len__(self) -> int:
        return len(self.epoch)


def bars_path(bars_dir: Path, symbol: str, day: date) -> Path:
    """Return where the bars of ``symbol`` on ``day`` live."""
    return bars_dir / symbol.upper() / f"{day.isoformat()}.csv"


_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})", re.ASCII)
# The two halves of the documented timestamps seen so far, each checked and converted once:
# "YYYY-MM-DD" -> epoch seconds of its midnight UTC, "HH:MM:SS" -> seconds into the day.
_MIDNIGHTS: dict[str, int] = {}
_SECONDS: dict[str, int] = {}


def _parse_iso(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("timestamp has no time zone (use ...Z)")
    return int(dt.timestamp())


def _midnight(day: str) -> int | None:
    """Return the epoch seconds of ``YYYY-MM-DD`` at midnight UTC (None when not a date)."""
    if not _DAY_RE.fullmatch(day):
        return None
    try:
        epoch = _parse_iso(f"{day}T00:00:00Z")
    except ValueError:
        return None
    _MIDNIGHTS[day] = epoch
    return epoch


def _seconds(hms: str) -> int | None:
    """Return the seconds into the day of ``HH:MM:SS`` (None when not a valid time)."""
    m = _TIME_RE.fullmatch(hms)
    if m is None:
        return None
    hour, minute, second = (int(g) for g in m.groups())
    if hour > 23 or minute > 59 or second > 59:
        return None
    _SECONDS[hms] = seconds = hour * 3600 + minute * 60 + second
    return seconds


def _parse_ts(text: str) -> int:
    """Return the epoch seconds of an ISO-8601 timestamp that carries its time zone.

    The documented form ``YYYY-MM-DDTHH:MM:SSZ`` is read from the two tables above (a file
    repeats its date on every line, and every day the same minutes); any other form, or a
    bad date or time, goes through ``datetime.fromisoformat`` and raises its errors.
    """
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        day = _MIDNIGHTS.get(text[:10])
        if day is None:
            day = _midnight(text[:10])
        seconds = _SECONDS.get(text[11:19])
        if seconds is None:
            seconds = _seconds(text[11:19])
        if day is not None and seconds is not None:
            return day + seconds
    return _parse_iso(text)


def read_bars_csv(path: Path) -> DayBars:
    """Read and check one bar file."""
    epoch: list[int] = []
    opens: list[float] = []
    highs: list[float] = []
    lows: list[float] = []
    closes: list[float] = []
    volumes: list[int] = []
    last_ts: int | None = None
    header_seen = False
    inf = math.inf
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not header_seen:
                if line.replace(" ", "") != HEADER:
                    raise ValueError(f"{path}:{lineno}: expected header {HEADER!r}")
                header_seen = True
                continue
            parts = line.split(",")
            try:
                if len(parts) != 6:
                    raise ValueError(f"expected 6 columns, got {len(parts)}")
                ts = _parse_ts(parts[0])
                o, h, lo, c = map(float, parts[1:5])
                v = int(parts[5])
                if ts % 60:
                    raise ValueError("timestamp is not on a whole minute")
                if last_ts is not None and ts <= last_ts:
                    raise ValueError("timestamps must increase")
                # Finite and positive (NaN fails every comparison).
                if not (0.0 < o < inf and 0.0 < h < inf and 0.0 < lo < inf and 0.0 < c < inf):
                    raise ValueError("prices must be positive numbers")
                if not (lo <= o and lo <= c and h >= o and h >= c):
                    raise ValueError("low/high do not bracket open/close")
                if v < 0:
                    raise ValueError("negative volume")
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            last_ts = ts
            epoch.append(ts)
            opens.append(o)
            highs.append(h)
            lows.append(lo)
            closes.append(c)
            volumes.append(v)
    if not header_seen:
        raise ValueError(f"{path}: no header line")
    return DayBars(epoch, opens, highs, lows, closes, volumes)


def write_bars_csv(
    path: Path,
    rows: Iterable[tuple[datetime, float, float, float, float, int]],
    comments: Iterable[str] = (),
) -> None:
    """Write bars in the documented format (``comments`` become ``#`` lines at the top)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {c}" for c in comments]
    lines.append(HEADER)
    for ts, o, h, lo, c, v in rows:
        stamp = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{stamp},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{int(v)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
