"""bars fetch: Alpaca historical minute bars (the fake server's real response shape) to CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from core.brokers.alpaca.market import AlpacaMarketData
from core.calendar import MarketCalendar
from core.marketdata.bars_csv import read_bars_csv
from core.replay.bars_fetch import FetchStatus, fetch_day_bars
from core.replay.driver import ReplayError
from tests.brokers.conftest import alpaca_settings
from tests.fakes.alpaca_server import FakeAlpaca

DAY = date(2025, 6, 11)
OPEN = datetime(2025, 6, 11, 13, 30, tzinfo=UTC)


async def publish_day(server: FakeAlpaca, symbol: str, minutes: int, base: float) -> None:
    # one bar before the open and one after the close: neither belongs to the session
    for t in [OPEN - timedelta(minutes=1)] + [OPEN + timedelta(minutes=i) for i in range(minutes)] \
            + [OPEN + timedelta(hours=6, minutes=30)]:
        p = base + (t - OPEN).total_seconds() / 6000
        await server.market.publish_bar(symbol, round(p, 2), round(p + 0.1, 2), round(p - 0.1, 2),
                                        round(p + 0.05, 2), 1200, t)


async def test_minute_bars_are_fetched_and_written_in_the_replay_format(
        fake_alpaca: FakeAlpaca, tmp_path: Path) -> None:
    await publish_day(fake_alpaca, "SPY", 30, 600.0)
    await publish_day(fake_alpaca, "NVDA", 10, 145.0)
    market = AlpacaMarketData(alpaca_settings(fake_alpaca))
    try:
        got = await fetch_day_bars(market, ["spy", "NVDA", "TSLA"], DAY, tmp_path,
                                   calendar=MarketCalendar(), feed="iex")
    finally:
        await market.close()
    by = {f.symbol: f for f in got}
    assert by["SPY"].status is FetchStatus.WRITTEN and by["SPY"].bars == 30
    assert by["NVDA"].bars == 10 and by["TSLA"].status is FetchStatus.EMPTY
    spy = read_bars_csv(tmp_path / "SPY" / "2025-06-11.csv")
    assert len(spy) == 30 and spy.epoch[0] == int(OPEN.timestamp())
    assert spy.open[0] == 600.0 and spy.close[0] == 600.05 and spy.volume[0] == 1200
    first = (tmp_path / "SPY" / "2025-06-11.csv").read_text().splitlines()[0]
    assert first.startswith("# Alpaca historical 1-minute bars for SPY on 2025-06-11 (feed iex")
    assert not (tmp_path / "TSLA" / "2025-06-11.csv").exists()


async def test_cached_files_are_kept_unless_forced(fake_alpaca: FakeAlpaca, tmp_path: Path) -> None:
    await publish_day(fake_alpaca, "SPY", 5, 600.0)
    cached = tmp_path / "SPY" / "2025-06-11.csv"
    cached.parent.mkdir(parents=True)
    cached.write_text("timestamp,open,high,low,close,volume\n")
    market = AlpacaMarketData(alpaca_settings(fake_alpaca))
    try:
        kept = await fetch_day_bars(market, ["SPY"], DAY, tmp_path, calendar=MarketCalendar(),
                                    feed="iex")
        assert kept[0].status is FetchStatus.CACHED and len(read_bars_csv(cached)) == 0
        again = await fetch_day_bars(market, ["SPY"], DAY, tmp_path, calendar=MarketCalendar(),
                                     feed="iex", force=True)
    finally:
        await market.close()
    assert again[0].status is FetchStatus.WRITTEN and len(read_bars_csv(cached)) == 5


async def test_a_weekend_is_refused_before_any_request(fake_alpaca: FakeAlpaca, tmp_path: Path) -> None:
    market = AlpacaMarketData(alpaca_settings(fake_alpaca))
    try:
        with pytest.raises(ReplayError, match="2025-06-14 is not a trading day"):
            await fetch_day_bars(market, ["SPY"], date(2025, 6, 14), tmp_path,
                                 calendar=MarketCalendar(), feed="iex")
    finally:
        await market.close()


def test_without_keys_the_command_says_so_in_one_line(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    status = main(["bars", "fetch", "SPY", "--date", "2025-06-11", "--bars-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "needs ALPACA_API_KEY and ALPACA_SECRET_KEY" in err[0]
    assert not any(tmp_path.rglob("*.csv"))
