"""The replay and backtest commands as a user runs them: output, report folder, JSON, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from tests.replay.conftest import DAY

JSON_KEYS = ["date", "symbols", "signals", "triggered", "proposals", "orders", "fills", "trades",
             "realized_pnl", "report_dir"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path: Path) -> None:
    """No .env, and a project database of our own (never data/aplus.db)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'project.db'}")


def test_replay_prints_the_day_writes_the_report_and_ends_with_the_json_summary(
        setup_file: Path, bars_dir: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "report"
    status = main(["replay", str(setup_file), "--bars-dir", str(bars_dir),
                   "--report-dir", str(report), "--json"])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    summary = json.loads(out[-1])
    assert list(summary) == JSON_KEYS
    assert summary["date"] == DAY.isoformat() and summary["symbols"] == ["NVDA", "SPY"]
    assert summary["report_dir"] == str(report)
    # the counts are the events the printed day shows
    printed = "\n".join(out[:-1])
    assert summary["signals"] == 3
    assert summary["triggered"] == len(re.findall(r"^\d\d:\d\d 🎯", printed, re.M))
    assert summary["proposals"] == len(re.findall(r"^\d\d:\d\d [▲▼] ", printed, re.M))
    assert summary["orders"] == printed.count("order sent:")
    assert summary["fills"] == len(re.findall(r"💰 .*(filled|partial fill):", printed))
    assert summary["trades"] == printed.count("🏁 Position closed")
    closed = [float(m.replace(",", "")) * (-1 if s == "−" else 1) for s, m in
              re.findall(r"🏁 Position closed .*: realized ([+−])\$([\d,.]+)", printed)]
    assert summary["realized_pnl"] == pytest.approx(sum(closed))
    # the report folder
    assert {p.name for p in report.iterdir()} >= {"report.md", "trades.csv", "pnl.png"}
    traded = {line.split(",")[2] for line in (report / "trades.csv").read_text().splitlines()[1:]}
    assert traded and all((report / f"{t}.png").is_file() for t in traded)
    md = (report / "report.md").read_text()
    assert "## Timeline" in md and "## Trades" in md and "![SPY](SPY.png)" in md
    assert str(setup_file) in md


def test_a_bad_engine_setting_is_one_line_naming_the_key(setup_file: Path, bars_dir: Path,
                                                          capsys) -> None:
    status = main(["replay", str(setup_file), "--bars-dir", str(bars_dir),
                   "--set", "triggers.no_such_rule=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("configuration error:") and "triggers.no_such_rule" in err[0]
    status = main(["replay", str(setup_file), "--bars-dir", str(bars_dir),
                   "--set", "exits.option_stop_pct=250"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and "exits.option_stop_pct" in err[0]


def test_missing_bars_and_missing_posts_are_clear_errors(setup_file: Path, tmp_path: Path,
                                                         capsys) -> None:
    assert main(["replay", str(setup_file), "--bars-dir", str(tmp_path / "none")]) == 2
    assert "no bars for NVDA, SPY on 2025-06-11" in capsys.readouterr().err
    assert main(["replay", "--date", "2025-06-12", "--setups-dir", str(tmp_path)]) == 2
    assert "no setup post for 2025-06-12" in capsys.readouterr().err
    assert not (tmp_path / "project.db").exists()  # looked for a stored post without creating one
    assert main(["replay", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: No such file" in capsys.readouterr().err


def test_synthetic_days_are_seeded_labelled_and_repeatable(setup_file: Path, tmp_path: Path,
                                                           capsys) -> None:
    runs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        folder = tmp_path / name
        assert main(["replay", str(setup_file), "--synthetic", "--seed", seed,
                     "--report-dir", str(folder), "--json"]) == 0
        out = capsys.readouterr().out
        runs.append((folder, json.loads(out.splitlines()[-1])))
        assert "SYNTHETIC bars, not market data" in out
        assert "SYNTHETIC bars: not market data" in (folder / "report.md").read_text()
    (a, sa), (b, sb), (c, _) = runs
    assert (a / "trades.csv").read_bytes() == (b / "trades.csv").read_bytes()
    assert (a / "report.md").read_text().replace(str(a), "") == \
        (b / "report.md").read_text().replace(str(b), "")
    assert {k: v for k, v in sa.items() if k != "report_dir"} == \
        {k: v for k, v in sb.items() if k != "report_dir"}
    assert (a / "report.md").read_text() != (c / "report.md").read_text()


def test_date_alone_finds_the_dated_file(setup_file: Path, bars_dir: Path, tmp_path: Path,
                                         capsys) -> None:
    assert main(["replay", "--date", DAY.isoformat(), "--setups-dir", str(setup_file.parent),
                 "--bars-dir", str(bars_dir), "--report-dir", str(tmp_path / "r"), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1])["signals"] == 3
    assert str(setup_file) in (tmp_path / "r" / "report.md").read_text()


def test_date_alone_replays_the_post_stored_in_the_database(bars_dir: Path, tmp_path: Path,
                                                             capsys) -> None:
    import asyncio
    from datetime import UTC, datetime

    from core.clock import FakeClock
    from core.db.session import open_database
    from core.setups import IncomingMessage, SetupStore
    from tests.replay.conftest import SETUP

    async def store() -> None:
        db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'project.db'}")
        posted = datetime(2025, 6, 11, 13, 5, tzinfo=UTC)
        try:
            await SetupStore(db.sessions, FakeClock(posted)).ingest(IncomingMessage(
                discord_message_id=998877, channel_id=55, author_id=1, posted_at=posted,
                content=SETUP))
        finally:
            await db.dispose()

    asyncio.run(store())
    assert main(["replay", "--date", DAY.isoformat(), "--setups-dir", str(tmp_path / "empty"),
                 "--bars-dir", str(bars_dir), "--report-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("09:05 📋 Setup created: SPY, NVDA, 3 levels")
    assert "stored message 998877 (channel 55)" in (tmp_path / "r" / "report.md").read_text()


def test_without_report_dir_the_report_goes_to_data_replays_date_under_the_working_folder(
        setup_file: Path, bars_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["replay", str(setup_file), "--bars-dir", str(bars_dir), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    folder = Path("data") / "replays" / DAY.isoformat()
    assert json.loads(out[-1])["report_dir"] == str(folder)
    assert out[-2] == f"report: {folder / 'report.md'}"
    written = tmp_path / folder  # the isolated fixture made tmp_path the working folder
    assert {p.name for p in written.iterdir()} >= {"report.md", "trades.csv", "pnl.png"}


def test_confirm_none_from_the_command_line_proposes_but_sends_no_order(
        setup_file: Path, bars_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["replay", str(setup_file), "--bars-dir", str(bars_dir), "--confirm", "none",
                 "--report-dir", str(tmp_path / "r"), "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.splitlines()[-1])
    assert summary["proposals"] > 0
    assert (summary["orders"], summary["fills"], summary["trades"]) == (0, 0, 0)
    assert summary["realized_pnl"] == 0
    assert "order sent:" not in out
    assert (tmp_path / "r" / "trades.csv").read_text().splitlines()[1:] == []


def _spy_exits(report: Path) -> list[tuple[str, str]]:
    """Return (closed_at, exit_reason) of the SPY trades in the report's trades.csv."""
    rows = [r.split(",") for r in (report / "trades.csv").read_text().splitlines()[1:]]
    return [(r[11], r[15]) for r in rows if r[2] == "SPY"]


def test_a_config_file_given_to_replay_changes_the_run_and_is_named_in_the_report(
        setup_file: Path, bars_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "early.toml"
    config.write_text('[exits]\ntime_stop = "11:00:00"\n', encoding="utf-8")
    assert main(["replay", str(setup_file), "--bars-dir", str(bars_dir),
                 "--report-dir", str(tmp_path / "default")]) == 0
    assert main(["replay", str(setup_file), "--bars-dir", str(bars_dir), "--config", str(config),
                 "--report-dir", str(tmp_path / "early")]) == 0
    capsys.readouterr()
    # the SPY breakout (10:00) is held into the afternoon by default; the file's time stop
    # closes it at 11:00 New York (15:00 UTC)
    (default_close, _), = _spy_exits(tmp_path / "default")
    assert default_close > "2025-06-11T18:00"
    assert _spy_exits(tmp_path / "early") == [("2025-06-11T15:00:00Z", "time stop 11:00 New York")]
    md = (tmp_path / "early" / "report.md").read_text()
    assert '"time_stop": "11:00:00"' in md
    assert '"time_stop"' not in (tmp_path / "default" / "report.md").read_text()
