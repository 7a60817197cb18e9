"""Engine configuration: proposals, execution, marks and the rule sets it combines."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.engine.bias import BiasMode
from core.engine.exits import ExitRules
from core.engine.risk import RiskLimits
from core.engine.triggers import TriggerRules
from core.errors import ConfigError
from core.options.select import SelectionRules


class ExecutionRules(BaseModel):
    """How a limit order is worked: start at mid, step toward the far side, then cancel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reprice_after_seconds: int = Field(15, ge=1, le=600, description="Wait before each reprice.")
    reprice_steps: int = Field(3, ge=0, le=20, description="Steps from mid to the far side.")
    max_slippage_pct: float = Field(
        10.0, ge=0, le=100, description="Furthest the limit may move from the proposal price, % of it."
    )
    cancel_after_last_step: bool = True


class EngineConfig(BaseModel):
    """Everything the engine needs besides its collaborators."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_ttl_seconds: int = Field(300, ge=10, le=3600, description="How long a proposal may be confirmed.")
    slippage_guard_pct: float = Field(
        10.0, ge=0, le=100,
        description="Mid move since the proposal (% of the proposal mid) that forces a refresh at confirm.",
    )
    auto_confirm: bool = Field(False, description="Confirm proposals that pass every risk check.")
    bias_mode: BiasMode = Field(BiasMode.WARN, description="block, warn or allow signals against the bias.")
    mark_interval_seconds: int = Field(5, ge=1, le=3600)
    snapshot_interval_seconds: int = Field(
        60, ge=1, le=86_400, description="How often each open position's mark is kept as a snapshot.")
    snapshot_write_seconds: int = Field(
        300, ge=1, le=86_400,
        description="How often the kept snapshots are written to the database (and the open "
                    "positions read again from it).")
    mark_event_min_seconds: int = Field(60, ge=0, description="Throttle of P&L updates per position.")
    mark_event_min_change_pct: float = Field(5.0, ge=0, description="P&L change (% of cost) worth an update.")
    fee_per_contract: Decimal = Field(
        Decimal("0"), ge=0,
        description="Commission per option contract, USD; on the simulated exchange the bot uses "
                    "the exchange's SIM_FEE_PER_CONTRACT instead.",
    )
    risk_free_rate: float = Field(0.045, ge=-0.05, le=0.5)
    dividend_yield: float = Field(0.0, ge=0, le=0.5)
    strike_window_pct: float = Field(10.0, gt=0, le=100, description="Chain strikes fetched around spot, %.")
    max_dte: int = Field(14, ge=0, le=365, description="Furthest expiry fetched, days.")
    triggers: TriggerRules = Field(default_factory=TriggerRules)
    selection: SelectionRules = Field(default_factory=SelectionRules)
    exits: ExitRules = Field(default_factory=ExitRules)
    execution: ExecutionRules = Field(default_factory=ExecutionRules)
    risk: RiskLimits = Field(default_factory=RiskLimits)


def load_engine_config(path: Path | None = None, overrides: Sequence[str] = ()) -> EngineConfig:
    """Read engine parameters from a JSON or TOML file, then apply ``key.sub=value`` overrides.

    A missing file, bad syntax, an unknown key or a bad value raises
    :class:`~core.errors.ConfigError` with one line naming the key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"engine config {path}: {exc.strerror or exc}") from exc
        try:
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"engine config {path}: not valid {path.suffix[1:] or 'JSON'}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"engine config {path}: the top level must be a table/object")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value, e.g. exits.option_stop_pct=40")
        node = data
        parts = [p.strip() for p in key.split(".")]
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part} is not a group of settings")
            node = child
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node[parts[-1]] = value
    try:
        return EngineConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "engine config"
        raise ConfigError(f"engine setting {where}: {err['msg']}") from exc
