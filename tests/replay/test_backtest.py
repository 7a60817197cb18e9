"""Backtest over several days: figures, report, memory per day, determinism and --compare."""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from core.parsing import parse_message
from core.replay.backtest import run_backtest
from core.replay.backtest_report import write_backtest_report
from core.replay.synthetic import (
    drifting_prices,
    setup_levels,
    synthetic_setup_text,
    write_synthetic_day,
)

DAYS = [date(2025, 6, 9), date(2025, 6, 10), date(2025, 6, 11)]


@pytest.fixture
def folders(tmp_path: Path, calendar) -> tuple[Path, Path]:
    """Three dated synthetic setups; bars for the first two only, plus a weekend file."""
    setups, bars = tmp_path / "setups", tmp_path / "bars"
    setups.mkdir()
    prices = drifting_prices({"SPY": 600.0, "NVDA": 145.0}, DAYS, seed=3)
    for i, day in enumerate(DAYS):
        text = synthetic_setup_text(day, prices[day], seed=3)
        (setups / f"{day}_synthetic.txt").write_text(text, encoding="utf-8")
        if i < 2:
            write_synthetic_day(bars, setup_levels(parse_message(text)), day, seed=3,
                                calendar=calendar)
    (setups / "2025-06-14_saturday.txt").write_text(text, encoding="utf-8")
    (setups / "notes.txt").write_text("not dated, ignored", encoding="utf-8")
    return setups, bars


async def test_days_with_setup_and_bars_run_the_rest_are_skipped_with_a_reason(
        folders: tuple[Path, Path], calendar, tmp_path: Path) -> None:
    setups, bars = folders
    seen: list[tuple[int, int]] = []
    result = await run_backtest(setups, bars, calendar=calendar,
                                on_day=lambda n, total, _d: seen.append((n, total)))
    assert [d.trading_date for d in result.days] == DAYS[:2]
    assert seen == [(1, 2), (2, 2)]
    assert {(s.trading_date, s.reason) for s in result.skipped} == {
        (date(2025, 6, 11), "no bars for NVDA, SPY"), (date(2025, 6, 14), "not a trading day")}
    assert all(d.synthetic and d.rss_kb for d in result.days)
    perf = result.performance
    assert perf.trades.trades == sum(d.counts.trades for d in result.days) == len(result.trades)
    assert perf.daily.days == 2 and perf.trades.trades > 0
    assert perf.trades.net_pnl == sum(d.counts.realized_pnl for d in result.days)
    report = write_backtest_report(result, tmp_path / "report")
    md = report.markdown.read_text()
    assert "SYNTHETIC bars on 2 of 2 days" in md and "## By ticker" in md
    rows = [line for line in md.splitlines() if line.startswith("| 2025-06-")]
    assert len(rows) == 2 + 2  # two day rows, two skipped rows
    summary = json.loads(report.summary_json.read_text())
    assert summary["days"] == 2 and summary["counts"]["trades"] == perf.trades.trades


def test_backtest_command_is_deterministic_and_compares_two_runs(
        folders: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    setups, bars = folders
    runs = {"a": [], "b": ["--set", "exits.option_stop_pct=25"], "a2": []}
    for name, extra in runs.items():
        assert main(["backtest", "--setups", str(setups), "--bars-dir", str(bars),
                     "--report-dir", str(tmp_path / name), *extra]) == 0
        captured = capsys.readouterr()
        assert "win rate" in captured.out and "Sharpe" in captured.out
        assert "2/2" in captured.err  # the progress bar, on stderr
    assert (tmp_path / "a" / "trades.csv").read_bytes() == \
        (tmp_path / "a2" / "trades.csv").read_bytes()
    a, b = tmp_path / "a" / "summary.json", tmp_path / "b" / "summary.json"
    assert main(["backtest", "--compare", str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert str(a) in lines[0] and str(b) in lines[0]
    row = next(line for line in lines if line.startswith("exits.option_stop_pct"))
    assert row.split()[1:] == ["default", "25.0"]
    assert any(line.startswith("profit factor") for line in lines)


def test_compare_refuses_what_is_not_a_summary(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    assert main(["backtest", "--compare", str(bad), str(bad)]) == 2
    assert "not a backtest summary.json" in capsys.readouterr().err


def test_the_backtest_report_has_its_equity_chart(folders: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    setups, bars = folders
    assert main(["backtest", "--setups", str(setups), "--bars-dir", str(bars),
                 "--report-dir", str(tmp_path / "r"), "--no-progress"]) == 0
    capsys.readouterr()
    chart = tmp_path / "r" / "equity.png"
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and chart.stat().st_size > 1000
    assert "![equity](equity.png)" in (tmp_path / "r" / "report.md").read_text()


async def test_days_on_worker_processes_give_the_same_result_as_one_process(
        folders: tuple[Path, Path], calendar, caplog) -> None:
    caplog.set_level(logging.INFO, logger="core.replay.backtest")
    setups, bars = folders
    seen: list[int] = []
    one = await run_backtest(setups, bars, calendar=calendar)
    two = await run_backtest(setups, bars, calendar=calendar, jobs=2,
                             on_day=lambda n, total, _d: seen.append(n))
    assert seen == [1, 2]
    assert two.trades == one.trades and two.performance == one.performance
    assert [(d.trading_date, d.counts) for d in two.days] == [(d.trading_date, d.counts)
                                                              for d in one.days]
    assert {s.trading_date for s in two.skipped} == {s.trading_date for s in one.skipped}
    assert len({d.worker for d in two.days}) == 2  # one day each, each in its own process
    assert all(d.worker != os.getpid() for d in two.days)
    # the workers log through this process's logging (its handlers redact secrets)
    from_workers = [r for r in caplog.records if r.process in {d.worker for d in two.days}]
    assert sorted(r.getMessage().split(" replayed")[0] for r in from_workers) == [
        str(d.trading_date) for d in two.days]


def test_jobs_must_be_a_positive_number(folders: tuple[Path, Path], capsys) -> None:
    setups, bars = folders
    with pytest.raises(SystemExit):
        main(["backtest", "--setups", str(setups), "--bars-dir", str(bars), "--jobs", "0"])
    assert "--jobs: must be at least 1, got 0" in capsys.readouterr().err
