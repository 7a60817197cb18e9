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
