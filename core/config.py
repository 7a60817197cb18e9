"""Settings, read from the environment and ``.env`` with pydantic-settings.

Every setting is typed, validated and documented here (the description is what ``python -m
bot config`` and ``.env.example`` show). Secrets are :class:`~pydantic.SecretStr` and are never
printed. A bad value stops start-up with one line naming the setting and what is wrong; use
:func:`load_settings` to get that behaviour.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError

IdList = Annotated[list[int], NoDecode]


class BrokerMode(StrEnum):
    """Which broker the bot trades through."""

    AUTO = "auto"  # Alpaca when keys are configured, otherwise the simulated exchange
    SIM = "sim"
    ALPACA = "alpaca"


class LogLevel(StrEnum):
    """Standard logging levels."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    """The bot's whole configuration."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- general -----------------------------------------------------------------------
    database_url: str = Field(
        "sqlite+aiosqlite:///data/aplus.db",
        description="SQLAlchemy async URL. SQLite (aiosqlite) by default; "
        "postgresql+asyncpg://user:pass@host/db works unchanged.",
    )
    log_level: LogLevel = Field(LogLevel.INFO, description="Logging level.")

    # --- discord -----------------------------------------------------------------------
    discord_token: SecretStr | None = Field(None, description="Discord bot token (secret).")
    discord_guild_id: int | None = Field(
        None, description="Sync slash commands to this guild only (instant updates)."
    )
    setup_channel_ids: IdList = Field(
        default_factory=list, description="Comma-separated channel ids whose posts are read."
    )
    allowed_poster_ids: IdList = Field(
        default_factory=list, description="User ids allowed to post setups (empty: anyone)."
    )
    allowed_poster_role_ids: IdList = Field(
        default_factory=list, description="Role ids allowed to post setups (empty: anyone)."
    )

    trader_role_ids: IdList = Field(
        default_factory=list,
        description="Role ids that may confirm, reject and close trades "
        "(empty: only members with Manage Server).",
    )
    admin_role_ids: IdList = Field(
        default_factory=list,
        description="Role ids allowed the /admin commands, besides members with Manage Server.",
    )
    trade_channel_id: int | None = Field(
        None, description="Channel for proposals (unset: the setup channel the post came from)."
    )
    log_channel_id: int | None = Field(
        None, description="Channel where admin actions, risk refusals and problems are announced."
    )
    command_cooldown_seconds: float = Field(
        2.0, ge=0, le=600, description="Per-user cooldown between slash commands, seconds."
    )
    engine_config_file: Path | None = Field(
        None,
        description="JSON or TOML file of engine parameters (triggers, selection, exits, risk); "
        "unset: the defaults.",
    )

    # --- broker selection ------------------------------------------------------------
    broker: BrokerMode = Field(
        BrokerMode.AUTO,
        description="auto (Alpaca when keys are set, else sim), sim, or alpaca.",
    )

    # --- alpaca ------------------------------------------------------------------------
    alpaca_api_key: SecretStr | None = Field(None, description="Alpaca API key id (secret).")
    alpaca_secret_key: SecretStr | None = Field(None, description="Alpaca secret key (secret).")
    alpaca_paper: bool = Field(True, description="Trade the Alpaca paper account.")
    alpaca_trading_url: str | None = Field(
        None, description="Override the trading REST base URL (tests point it at a local server)."
    )
    alpaca_data_url: str | None = Field(None, description="Override the market-data REST base URL.")
    alpaca_trading_stream_url: str | None = Field(
        None, description="Override the trade-updates websocket URL."
    )
    alpaca_data_stream_url: str | None = Field(
        None, description="Override the stock-data websocket URL."
    )
    alpaca_data_feed: str = Field("iex", description="Stock data feed: iex or sip.")
    alpaca_rate_limit_per_minute: int = Field(
        200, ge=1, le=10_000, description="Shared REST rate limit, requests per minute."
    )
    alpaca_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Timeout of one REST call, seconds."
    )
    alpaca_max_retries: int = Field(
        4, ge=0, le=20, description="Retries of a temporary REST failure (429, 5xx, network)."
    )

    # --- simulated exchange ----------------------------------------------------------
    sim_starting_cash: Decimal = Field(
        Decimal("100000"), gt=0, description="Opening cash of the simulated account, USD."
    )
    sim_slippage: Decimal = Field(
        Decimal("0.01"), ge=0, description="Market-order slippage past the far side, USD/share."
    )
    sim_fee_per_contract: Decimal = Field(
        Decimal("0"), ge=0, description="Commission per option contract, USD."
    )
    sim_seed: int = Field(42, description="Seed of the synthetic price paths and chains.")
    bars_dir: Path = Field(Path("data/bars"), description="Folder of OHLCV bar CSV files.")

    @field_validator("setup_channel_ids", "allowed_poster_ids", "allowed_poster_role_ids",
                     "trader_role_ids", "admin_role_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return [p for p in parts if p]
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as sqlite+aiosqlite:///data/aplus.db")
        if value.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError(
                "needs an async driver: sqlite+aiosqlite://... or postgresql+asyncpg://..."
            )
        return value

    @field_validator("alpaca_data_feed")
    @classmethod
    def _check_feed(cls, value: str) -> str:
        if value.lower() not in {"iex", "sip"}:
            raise ValueError("must be iex or sip")
        return value.lower()

    @property
    def has_alpaca_keys(self) -> bool:
        """Tell whether both Alpaca keys are configured."""
        return bool(
            self.alpaca_api_key
            and self.alpaca_secret_key
            and self.alpaca_api_key.get_secret_value()
            and self.alpaca_secret_key.get_secret_value()
        )

    @property
    def effective_broker(self) -> BrokerMode:
        """Resolve ``auto`` to the broker actually used."""
        if self.broker is BrokerMode.AUTO:
            return BrokerMode.ALPACA if self.has_alpaca_keys else BrokerMode.SIM
        return self.broker

    def secret_values(self) -> list[str]:
        """Return every configured secret, for scanners that prove none leaks."""
        out = []
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        return out

    def masked(self) -> dict[str, str]:
        """Return every setting as display text, secrets masked."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown[name] = "********" if value.get_secret_value() else "(empty)"
            elif value is None:
                shown[name] = "(unset)"
            elif isinstance(value, list):
                shown[name] = ",".join(str(v) for v in value) or "(none)"
            else:
                shown[name] = str(value)
        return shown


SECRET_FIELDS = ("discord_token", "alpaca_api_key", "alpaca_secret_key")


def describe_validation_error(exc: ValidationError) -> str:
    """Turn a settings validation error into one line naming the setting and the problem."""
    parts = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        value = err.get("input")
        shown = "" if name.lower() in SECRET_FIELDS or isinstance(value, dict) else f" (got {value!r})"
        parts.append(f"{name.upper()}: {err['msg']}{shown}")
    return "invalid setting " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, raising :class:`ConfigError` with one clear line when one is bad."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
