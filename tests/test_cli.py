"""The ``python -m bot`` entry point: db and config subcommands, and the error path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_bot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "DISCORD_"))}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_db_upgrade_creates_the_database_and_reports_the_revision(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'bot.db'}"
    first = run_bot("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    assert "is at revision" in first.stdout
    assert (tmp_path / "sub" / "bot.db").exists()
    again = run_bot("db", "current", cwd=tmp_path, env={"DATABASE_URL": url})
    assert again.returncode == 0
    assert "up to date" in again.stdout


def test_config_masks_secrets(tmp_path: Path) -> None:
    out = run_bot("config", "--json", cwd=tmp_path,
                  env={"DISCORD_TOKEN": "tok-abc-123", "ALPACA_SECRET_KEY": "sekrit-value"})
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["discord_token"] == "********"
    assert "tok-abc-123" not in out.stdout and "sekrit-value" not in out.stdout
    assert shown["effective_broker"] == "sim"


def test_a_bad_setting_stops_with_one_line_and_status_2(tmp_path: Path) -> None:
    out = run_bot("db", "upgrade", cwd=tmp_path, env={"ALPACA_RATE_LIMIT_PER_MINUTE": "-5"})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ALPACA_RATE_LIMIT_PER_MINUTE" in lines[0]
    assert "Traceback" not in out.stderr


def test_a_bad_setting_in_dotenv_is_reported_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BROKER=interactive-brokers\n")
    out = run_bot("config", cwd=tmp_path)
    assert out.returncode == 2
    assert "BROKER" in out.stderr


def test_run_without_a_token_says_what_to_set_in_one_line_and_exits_2(tmp_path: Path) -> None:
    for args in (("run",), ("run", "--broker", "sim")):
        out = run_bot(*args, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "DISCORD_TOKEN is not set" in lines[0] and ".env" in lines[0]
        assert "Traceback" not in out.stderr and out.stdout == ""
    assert list(tmp_path.iterdir()) == []  # stopped before opening a database


def test_run_broker_sim_trades_the_simulator_even_with_alpaca_keys(monkeypatch,
                                                                    tmp_path: Path) -> None:
    from bot.cli import build_parser
    from bot.commands.run import settings_for
    from bot.services import broker_description

    monkeypatch.setenv("BROKER", "alpaca")
    monkeypatch.setenv("ALPACA_API_KEY", "key-id")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "key-secret")
    monkeypatch.chdir(tmp_path)  # no .env here
    parser = build_parser()
    assert broker_description(settings_for(parser.parse_args(["run"]))).startswith("Alpaca")
    sim = settings_for(parser.parse_args(["run", "--broker", "sim"]))
    assert broker_description(sim) == "simulated exchange"


def test_registering_the_subcommands_imports_none_of_the_heavy_machinery(tmp_path: Path) -> None:
    # `parse`, `config` and `--help` start fast: the replay engine, the database layer,
    # alpaca-py, pandas and matplotlib are imported only by the subcommands that use them.
    code = (
        "import sys\n"
        "from bot.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.parse_args(['parse', 'x.txt'])\n"
        "heavy = ('core.replay.', 'core.engine', 'core.db.session', 'bot.replay_view', 'alpaca',\n"
        "         'pandas', 'matplotlib', 'alembic', 'tqdm', 'discord')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_replay_and_backtest_read_the_confirm_policy_as_before() -> None:
    from bot.cli import build_parser
    from core.replay.policy import ConfirmPolicy

    parser = build_parser()
    assert parser.parse_args(["replay", "day.txt"]).confirm is ConfirmPolicy.ALL
    assert parser.parse_args(["backtest", "--confirm", "none"]).confirm is ConfirmPolicy.NONE
    assert (parser.parse_args(["replay", "--confirm", "first-per-ticker"]).confirm
            is ConfirmPolicy.FIRST_PER_TICKER)


def test_an_unknown_confirm_policy_is_refused_as_before(capsys) -> None:
    import pytest

    from bot.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay", "--confirm", "bogus", "day.txt"])
    assert "argument --confirm: invalid ConfirmPolicy value: 'bogus'" in capsys.readouterr().err
