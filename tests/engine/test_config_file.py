"""Engine parameters from a file plus key=value overrides (used by run, replay and backtest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine.config import load_engine_config
from core.errors import ConfigError


def test_toml_file_and_overrides_combine_and_overrides_win(tmp_path: Path) -> None:
    f = tmp_path / "engine.toml"
    f.write_text("proposal_ttl_seconds = 120\n[exits]\noption_stop_pct = 30\n")
    cfg = load_engine_config(f, ["exits.option_stop_pct=45", "auto_confirm=true"])
    assert cfg.proposal_ttl_seconds == 120
    assert cfg.exits.option_stop_pct == 45
    assert cfg.auto_confirm is True


def test_json_file_is_read(tmp_path: Path) -> None:
    f = tmp_path / "engine.json"
    f.write_text('{"risk": {"max_open_positions": 3}}')
    assert load_engine_config(f).risk.max_open_positions == 3


@pytest.mark.parametrize(("overrides", "needle"), [
    (["triggers.no_such_rule=1"], "triggers.no_such_rule"),
    (["proposal_ttl_seconds=5"], "proposal_ttl_seconds"),
    (["just-a-word"], "expected key=value"),
    (["risk_free_rate=abc"], "risk_free_rate"),
])
def test_bad_overrides_name_the_key_in_one_line(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_engine_config(None, overrides)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_missing_or_broken_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="engine config"):
        load_engine_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid json"):
        load_engine_config(bad)
