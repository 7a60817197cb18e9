"""The bar CSV reader: timestamps in every accepted form, and bad files refused by line."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.marketdata.bars_csv import _parse_iso, _parse_ts, read_bars_csv

HEADER = "timestamp,open,high,low,close,volume\n"


def outcome(parse, text: str) -> int | str:
    try:
        return parse(text)
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.mark.parametrize("text", [
    "2025-06-11T13:30:00Z",  # the documented form (fast path)
    "1969-12-31T23:59:00Z",  # before the epoch
    "2024-02-29T00:00:00Z",
    "2025-06-11T13:30:00+00:00",  # an explicit offset
    "2025-06-11T09:30:00-04:00",
    "2025-06-11T13:30:00.000Z",
    "2025-06-11 13:30:00Z",  # any separator
    "2025-06-11X13:30:00Z",
    "20250611T133000Z",
])
def test_accepted_forms_give_the_epoch_seconds_of_fromisoformat(text: str) -> None:
    expected = int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    assert _parse_ts(text) == _parse_ts(text) == expected


@pytest.mark.parametrize("text", [
    "2025-06-11T13:30:00",  # naive
    "2025-13-11T13:30:00Z",  # no month 13
    "2025-02-29T13:30:00Z",  # not a leap year
    "2025-06-11T24:00:00Z",
    "2025-06-11T13:60:00Z",
    "2025-06-11T13:30:60Z",
    "2025-06-11T1a:30:00Z",
    "2025-06-1１T13:30:00Z",  # a full-width digit
    "２025-06-11T13:30:00Z",
    "",
])
def test_bad_timestamps_raise_what_fromisoformat_raised(text: str) -> None:
    with pytest.raises(ValueError) as fast:
        _parse_ts(text)
    with pytest.raises(ValueError) as slow:
        _parse_iso(text)
    assert str(fast.value) == str(slow.value)


def test_random_near_misses_of_the_documented_form_agree_with_fromisoformat() -> None:
    rng = random.Random(11)
    alphabet = "0123456789:-TZ+ x"
    for _ in range(3000):
        chars = list("2025-06-11T13:30:00Z")
        for _ in range(rng.randint(1, 2)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        text = "".join(chars)
        assert outcome(_parse_ts, text) == outcome(_parse_iso, text), text


def test_a_file_in_the_documented_form_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("# comment\n" + HEADER + "2025-06-11T13:30:00Z,10,10.5,9.9,10.2,100\n"
                    "2025-06-11T09:31:00-04:00,10.2,10.3,10.1,10.1,0\n")
    bars = read_bars_csv(path)
    start = int(datetime(2025, 6, 11, 13, 30, tzinfo=UTC).timestamp())
    assert bars.epoch == [start, start + 60]
    assert (bars.open, bars.high, bars.low, bars.close, bars.volume) == (
        [10.0, 10.2], [10.5, 10.3], [9.9, 10.1], [10.2, 10.1], [100, 0])


@pytest.mark.parametrize(("row", "message"), [
    ("2025-06-11T13:30:00,10,10.5,9.9,10.2,1", ":3: timestamp has no time zone (use ...Z)"),
    ("2025-06-31T13:30:00Z,10,10.5,9.9,10.2,1", ":3: day is out of range for month"),
    ("2025-06-11T13:30:30Z,10,10.5,9.9,10.2,1", ":3: timestamp is not on a whole minute"),
    ("2025-06-11T13:29:00Z,10,10.5,9.9,10.2,1", ":3: timestamps must increase"),
    ("2025-06-11T13:30:00Z,10,10.5,9.9,10.2,1", ":3: timestamps must increase"),
    ("2025-06-11T13:31:00Z,10,10.5,9.9,x,1", ":3: could not convert string to float: 'x'"),
    ("2025-06-11T13:31:00Z,10,10.5,9.9,10.2,1.5", ":3: invalid literal for int"),
    ("2025-06-11T13:31:00Z,10,10.5,9.9,10.2", ":3: expected 6 columns, got 5"),
    ("2025-06-11T13:31:00Z,10,inf,9.9,10.2,1", ":3: prices must be positive numbers"),
    ("2025-06-11T13:31:00Z,10,10.5,nan,10.2,1", ":3: prices must be positive numbers"),
    ("2025-06-11T13:31:00Z,10,10.5,0,10.2,1", ":3: prices must be positive numbers"),
    ("2025-06-11T13:31:00Z,10,10.1,9.9,10.2,1", ":3: low/high do not bracket open/close"),
    ("2025-06-11T13:31:00Z,10,10.5,10.1,10.2,1", ":3: low/high do not bracket open/close"),
    ("2025-06-11T13:31:00Z,10,10.5,9.9,10.2,-1", ":3: negative volume"),
])
def test_a_bad_line_is_refused_with_its_line_number(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + "2025-06-11T13:30:00Z,10,10.5,9.9,10.2,100\n" + row + "\n")
    with pytest.raises(ValueError) as exc:
        read_bars_csv(path)
    assert str(exc.value).startswith(f"{path}{message}")


def test_a_file_without_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("# only a comment\n")
    with pytest.raises(ValueError, match="no header line"):
        read_bars_csv(path)
    path.write_text("time,o,h,l,c,v\n")
    with pytest.raises(ValueError, match=":1: expected header"):
        read_bars_csv(path)
