"""Secrets never leave the process: not in output, logs, reports, Discord or the database.

Distinctive values are configured as the Discord token, the Alpaca keys and a database
password; then a full replay (verbose), the config printout and failing runs (a broker that
refuses and fails, an unreachable database, missing bars, and the real bot whose broker starts
failing mid-day) are made, and every output is searched for those values: stdout, stderr,
logs, every file written (report folder, bars, the SQLite file's bytes), every text column of
every table, and everything the bot posted on Discord (ephemeral answers included).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sqlite3
import sys
from pathlib import Path

from bot.logs import LOG_FORMAT, install_redactor, uninstall_redactor
from tests.crash.control import REPO
from tests.fakes.alpaca_server import FakeAlpaca
from tests.faults.conftest import AlpacaApp
from tests.replay.conftest import bars_dir, setup_file  # noqa: F401 - fixtures used here

SECRETS = {
    "DISCORD_TOKEN": "MTA5OTk5.discord-canary.Zq7xK2sEcReT",
    "ALPACA_API_KEY": "PKCANARYKEY7Q4Z9ZX",
    "ALPACA_SECRET_KEY": "alpaca-secret-canary-9f8e7d6c",
}
DB_PASSWORD = "pg-password-canary-41ab"


def leaks(label: str, data: bytes | str, secrets: list[str]) -> list[str]:
    """Return ``label: secret`` for each secret found in ``data``."""
    text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
    raw = data if isinstance(data, bytes) else data.encode()
    return [f"{label}: {s[:6]}…" for s in secrets if s in text or s.encode() in raw]


def database_leaks(path: Path, secrets: list[str]) -> list[str]:
    """Search every text column of every table of a SQLite file."""
    found: list[str] = []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, str | bytes):
                        found += leaks(f"{path.name}:{table}", value, secrets)
    finally:
        con.close()
    return found


def file_leaks(root: Path, secrets: list[str]) -> tuple[list[str], int]:
    """Search every file under ``root`` (bytes and text); return the leaks and files read."""
    found: list[str] = []
    files = [p for p in root.rglob("*") if p.is_file()]
    for p in files:
        found += leaks(str(p.relative_to(root)), p.read_bytes(), secrets)
        if p.suffix == ".db":
            found += database_leaks(p, secrets)
    return found, len(files)


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes]:
    """Run ``python -m bot ARGS`` (in a subprocess, so the fake Alpaca keeps serving)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out, err


async def test_a_replay_and_failing_runs_never_show_a_secret(
    tmp_path: Path, setup_file: Path, bars_dir: Path, fake_alpaca: FakeAlpaca  # noqa: F811
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ALPACA_", "DISCORD_", "DATABASE_", "BROKER"))}
    env = {**base, **SECRETS, "PYTHONPATH": str(REPO),
           "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'project.db'}",
           "ALPACA_TRADING_URL": fake_alpaca.url, "ALPACA_DATA_URL": fake_alpaca.url,
           "ALPACA_MAX_RETRIES": "1"}
    secrets = [*SECRETS.values(), DB_PASSWORD]
    runs: list[tuple[str, int, bytes, bytes]] = []

    async def run(label: str, args: list[str], **extra: str) -> int:
        code, out, err = await cli(args, {**env, **extra}, work)
        runs.append((label, code, out, err))
        return code

    report = work / "report"
    assert await run("replay", ["-v", "replay", str(setup_file), "--bars-dir", str(bars_dir),
                                "--report-dir", str(report), "--json"]) == 0
    assert (report / "report.md").is_file()
    assert await run("config", ["-v", "config"]) == 0
    assert await run("config --json", ["config", "--json"]) == 0
    fake_alpaca.fail_next("GET", "/v2/stocks/bars", 401, times=50)
    assert await run("bars fetch, keys refused", ["-v", "bars", "fetch", "SPY", "--date",
                                                  "2025-06-12", "--bars-dir", str(work / "b")]) != 0
    fake_alpaca.faults.clear()
    fake_alpaca.fail_next("GET", "/v2/stocks/bars", 500, times=50)
    assert await run("bars fetch, broker failing", ["-v", "bars", "fetch", "NVDA", "--date",
                                                    "2025-06-12", "--bars-dir", str(work / "b")]) != 0
    unreachable = f"postgresql+asyncpg://aplus:{DB_PASSWORD}@127.0.0.1:9/aplus"
    assert await run("database unreachable", ["-v", "db", "upgrade"], DATABASE_URL=unreachable) != 0
    assert await run("bars missing", ["-v", "replay", str(setup_file), "--bars-dir",
                                      str(work / "none"), "--json"]) != 0

    found: list[str] = []
    for label, _code, out, err in runs:
        found += leaks(f"{label} stdout", out, secrets) + leaks(f"{label} stderr", err, secrets)
    written, files = file_leaks(work, secrets)
    assert found + written == []
    assert files >= 5  # the database, the report's markdown, CSV and charts were read
    said = {label: err.decode(errors="replace") for label, _c, _o, err in runs}
    assert "refused the API keys" in said["bars fetch, keys refused"]
    assert "HTTP 500" in said["bars fetch, broker failing"]
    assert "Connect call failed" in said["database unreachable"]
    assert "no bars" in said["bars missing"]


async def test_the_bot_with_a_failing_broker_never_shows_a_secret(
    alpaca_app, tmp_path: Path
) -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    install_redactor(SECRETS.values())  # what `python -m bot run` installs at start
    try:
        app: AlpacaApp = await alpaca_app(
            alpaca_api_key=SECRETS["ALPACA_API_KEY"],
            alpaca_secret_key=SECRETS["ALPACA_SECRET_KEY"],
            discord_token=SECRETS["DISCORD_TOKEN"])
        post = await app.proposal()
        for method in ("GET", "POST", "DELETE", "PATCH"):  # the keys stop working mid-day
            app.alpaca.fail_next(method, "/v2/", 401, times=10**6)
        confirm = next(c for c in post.custom_ids if c.startswith("proposal:confirm:"))
        answer = await app.h.click(post.id, confirm)
        await app.advance(120)
        assert app.health.degraded
        await app.run_until("10:20", since="10:05", symbols=("NVDA",))  # NVDA triggers, unpriced
        shown = [str(v) for versions in app.h.server.versions.values() for v in versions]
    finally:
        uninstall_redactor()
        root.removeHandler(handler)
        root.setLevel(old_level)
    logs = captured.getvalue()
    assert "unauthorized" in logs.lower() or "not answering" in answer.last.content
    found = leaks("logs", logs, list(SECRETS.values()))
    found += [x for s in shown for x in leaks("discord", s, list(SECRETS.values()))]
    found += database_leaks(tmp_path / "bot.db", list(SECRETS.values()))
    assert found == []
    assert len(shown) > 5 and len(logs) > 1000  # there was plenty to search
