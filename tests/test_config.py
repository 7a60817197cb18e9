"""Settings: typed, validated, one clear line per bad value, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.config import env_example
from core.config import BrokerMode, Settings, load_settings
from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the work tree


def test_defaults_run_offline_on_sqlite_and_the_simulated_broker() -> None:
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///data/aplus.db"
    assert s.effective_broker is BrokerMode.SIM


def test_auto_broker_picks_alpaca_once_both_keys_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "key-id")
    assert load_settings().effective_broker is BrokerMode.SIM  # one key is not enough
    monkeypatch.setenv("ALPACA_SECRET_KEY", "s3cret")
    assert load_settings().effective_broker is BrokerMode.ALPACA


def test_channel_ids_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETUP_CHANNEL_IDS", "200000000000000001, 200000000000000002")
    assert load_settings().setup_channel_ids == [200000000000000001, 200000000000000002]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ALPACA_RATE_LIMIT_PER_MINUTE", "0", "ALPACA_RATE_LIMIT_PER_MINUTE"),
        ("ALPACA_TIMEOUT_SECONDS", "abc", "ALPACA_TIMEOUT_SECONDS"),
        ("SETUP_CHANNEL_IDS", "12,general", "SETUP_CHANNEL_IDS"),
        ("DATABASE_URL", "sqlite:///x.db", "async driver"),
        ("BROKER", "ibkr", "BROKER"),
        ("SIM_STARTING_CASH", "-1", "SIM_STARTING_CASH"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert expected in message


def test_a_bad_secret_is_named_but_its_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(discord_token=12345)  # wrong type, from code
    assert "DISCORD_TOKEN" in str(info.value)
    assert "12345" not in str(info.value)


def test_masked_view_hides_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "tok-abc-123")
    monkeypatch.setenv("ALPACA_API_KEY", "PKTESTKEY")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "very-secret")
    s = load_settings()
    shown = " ".join(s.masked().values())
    for secret in ("tok-abc-123", "PKTESTKEY", "very-secret"):
        assert secret not in shown
        assert secret not in repr(s)
    assert sorted(s.secret_values()) == sorted(["tok-abc-123", "PKTESTKEY", "very-secret"])


def test_env_example_lists_every_setting_and_is_in_step_with_the_code() -> None:
    text = (REPO / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"\n{name.upper()}=" in text, f"{name.upper()} missing from .env.example"
    assert text == env_example(), "regenerate: python -m bot config --env-example > .env.example"


# --- every invalid value of every setting ---------------------------------------------------

SNOWFLAKE_BAD = ["abc", "-5", "0", "1.5", str(2**64), "#general", "<#123>"]
ID_LIST_BAD = ["12,general", "12;-3", "0", str(2**64), "[1, 2]", "1 2"]
BAD_VALUES: dict[str, list[str]] = {
    "DATABASE_URL": ["not a url", "sqlite:///x.db", "postgresql://u:pw@h/db",
                     "postgresql+psycopg2://u@h/db", "mysql+aiomysql://u@h/db",
                     "postgresql+asyncpg:///", "sqlite+aiosqlite//x.db"],
    "LOG_LEVEL": ["LOUD", "5", "info please"],
    "DISCORD_TOKEN": ["Bot abc.def.ghi", "abc\tdef", "line\nbreak"],
    "DISCORD_GUILD_ID": SNOWFLAKE_BAD,
    "SETUP_CHANNEL_IDS": ID_LIST_BAD,
    "ALLOWED_POSTER_IDS": ID_LIST_BAD,
    "ALLOWED_POSTER_ROLE_IDS": ID_LIST_BAD,
    "TRADER_ROLE_IDS": ID_LIST_BAD,
    "ADMIN_ROLE_IDS": ID_LIST_BAD,
    "TRADE_CHANNEL_ID": SNOWFLAKE_BAD,
    "LOG_CHANNEL_ID": SNOWFLAKE_BAD,
    "COMMAND_COOLDOWN_SECONDS": ["-1", "601", "nan", "inf", "fast"],
    "ENGINE_CONFIG_FILE": ["missing.toml", "engine.yaml", "."],
    "BROKER": ["ibkr", "paper", "1"],
    "ALPACA_API_KEY": ["PK KEY", "PK\u200bKEY", "PK\x1bKEY"],
    "ALPACA_SECRET_KEY": ["two words", "line\nbreak"],
    "ALPACA_PAPER": ["maybe", "2", "paper"],
    "ALPACA_TRADING_URL": ["ftp://example.com", "localhost:8080", "http://", "http://h:99999",
                           "wss://paper-api.example.com", "http://exa mple.com"],
    "ALPACA_DATA_URL": ["not a url", "https://", "file:///etc/passwd"],
    "ALPACA_TRADING_STREAM_URL": ["http://example.com/stream", "stream.example.com", "wss://"],
    "ALPACA_DATA_STREAM_URL": ["https://example.com/v2/iex", "wss:// example.com"],
    "ALPACA_DATA_FEED": ["opra", "sip,iex"],
    "ALPACA_RATE_LIMIT_PER_MINUTE": ["0", "10001", "fast", "2.5"],
    "ALPACA_TIMEOUT_SECONDS": ["0", "-1", "121", "inf", "nan", "abc"],
    "ALPACA_MAX_RETRIES": ["-1", "21", "2.5", "many"],
    "SIM_STARTING_CASH": ["-1", "0", "1e12", "NaN", "Infinity", "lots"],
    "SIM_SLIPPAGE": ["-0.01", "101", "x"],
    "SIM_FEE_PER_CONTRACT": ["-1", "1000", "free"],
    "SIM_SEED": ["abc", "1.5", "0x2a"],
    "BARS_DIR": ["bars.csv"],  # a file where a folder is needed (the fixture writes it)
}
CASES = [(name, value) for name, values in BAD_VALUES.items() for value in values]
SECRET_NAMES = {"DISCORD_TOKEN", "ALPACA_API_KEY", "ALPACA_SECRET_KEY"}


def test_every_setting_has_bad_values_tested() -> None:
    assert sorted(BAD_VALUES) == sorted(n.upper() for n in Settings.model_fields)


@pytest.fixture
def _a_file_named_bars_csv(tmp_path: Path) -> None:
    (tmp_path / "bars.csv").write_text("timestamp,open,high,low,close,volume\n")


@pytest.mark.usefixtures("_a_file_named_bars_csv")
@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_every_bad_value_is_refused_in_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN" if name != "DISCORD_TOKEN" else "UNRELATED", "tok-abc-123")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"invalid setting {name}")
    assert "\n" not in message and len(message) < 300
    assert "tok-abc-123" not in message
    if name in SECRET_NAMES:
        assert value not in message and value.strip() not in message


@pytest.mark.usefixtures("_a_file_named_bars_csv")
@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_python_m_bot_config_exits_2_with_one_stderr_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    from bot.cli import main
    from bot.logs import uninstall_redactor

    monkeypatch.setenv(name, value)
    try:
        assert main(["config"]) == 2
    finally:
        uninstall_redactor()
    out = capsys.readouterr()
    assert out.out == ""
    [line] = out.err.splitlines()
    assert line.startswith(f"configuration error: invalid setting {name}")
    assert "Traceback" not in out.err


def test_several_bad_values_are_all_named_on_the_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER", "ibkr")
    monkeypatch.setenv("SETUP_CHANNEL_IDS", "1,x,3")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        "invalid setting SETUP_CHANNEL_IDS (item 2): Input should be a valid integer, unable "
        "to parse string as an integer (got 'x'); "
        "BROKER: Input should be 'auto', 'sim' or 'alpaca' (got 'ibkr')"
    )


def test_a_database_password_is_never_echoed_or_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:hunter2-pw@db.internal/aplus")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter2-pw" not in str(info.value) and "DATABASE_URL" in str(info.value)
    monkeypatch.setenv("DATABASE_URL", "postgres//bot:hunter2-pw@db.internal/aplus")  # unparsable
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter2-pw" not in str(info.value)
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://bot:hunter2-pw@db.internal/aplus")
    settings = load_settings()
    assert "hunter2-pw" not in " ".join(settings.masked().values())
    assert "hunter2-pw" in settings.secret_values()


def test_a_huge_bad_value_is_cut_short_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_SEED", "x" * 10_000)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "SIM_SEED" in str(info.value) and len(str(info.value)) < 200


def test_an_env_file_copied_from_the_example_loads(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(env_example())  # every optional setting left empty
    s = load_settings()
    assert s.discord_guild_id is None and s.setup_channel_ids == [] and s.discord_token is None


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("LOG_LEVEL", " debug ", "log_level", "DEBUG"),
        ("BROKER", "SIM", "broker", "sim"),
        ("DISCORD_TOKEN", "  tok.en\n", "discord_token", "tok.en"),
        ("ALPACA_TRADING_URL", " http://127.0.0.1:8080 ", "alpaca_trading_url",
         "http://127.0.0.1:8080"),
        ("ALPACA_DATA_STREAM_URL", "wss://stream.example.com/v2/iex", "alpaca_data_stream_url",
         "wss://stream.example.com/v2/iex"),
        ("SETUP_CHANNEL_IDS", "1;2, 3,", "setup_channel_ids", [1, 2, 3]),
        ("DATABASE_URL", "postgresql+asyncpg://u:p@h:5432/db", "database_url",
         "postgresql+asyncpg://u:p@h:5432/db"),
    ],
)
def test_good_values_in_loose_spelling_are_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv(name, value)
    got = getattr(load_settings(), attribute)
    shown = got.get_secret_value() if hasattr(got, "get_secret_value") else got
    assert shown == expected


def test_the_real_command_line_refuses_a_bad_secret_without_showing_it(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k.upper() not in
           {n.upper() for n in Settings.model_fields}}
    env.update(PYTHONPATH=str(REPO), DISCORD_TOKEN="Bot secret-tok-value", BROKER="ibkr")
    out = subprocess.run([sys.executable, "-m", "bot", "config"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2 and out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith("configuration error: invalid setting DISCORD_TOKEN: ")
    assert "BROKER" in line and "secret-tok-value" not in line and "Traceback" not in out.stderr
