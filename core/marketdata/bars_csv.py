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


def _parse_ts(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("timestamp has no time zone (use ...Z)")
    return int(dt.timestamp())


def read_bars_csv(path: Path) -> DayBars:
    """Read and check one bar file."""
    cols: tuple[list, ...] = ([], [], [], [], [], [])
    header_seen = False
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
                o, h, lo, c = (float(p) for p in parts[1:5])
                v = int(parts[5])
                if ts % 60:
                    raise ValueError("timestamp is not on a whole minute")
                if cols[0] and ts <= cols[0][-1]:
                    raise ValueError("timestamps must increase")
                if not all(math.isfinite(x) and x > 0 for x in (o, h, lo, c)):
                    raise ValueError("prices must be positive numbers")
                if not (lo <= min(o, c) and h >= max(o, c)):
                    raise ValueError("low/high do not bracket open/close")
                if v < 0:
                    raise ValueError("negative volume")
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            for col, val in zip(cols, (ts, o, h, lo, c, v), strict=True):
                col.append(val)
    if not header_seen:
        raise ValueError(f"{path}: no header line")
    return DayBars(*cols)


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
