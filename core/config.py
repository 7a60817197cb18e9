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
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError

#: A Discord id: a positive 64-bit snowflake.
Snowflake = Annotated[int, Field(gt=0, lt=2**64)]
IdList = Annotated[list[Snowflake], NoDecode]
#: The async drivers the project ships and tests, by backend.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
#: The longest value a configuration error echoes.
_SHOWN_MAX = 60


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
        env_ignore_empty=True,  # `NAME=` (as in .env.example) means the default
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
    discord_guild_id: Snowflake | None = Field(
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
    trade_channel_id: Snowflake | None = Field(
        None, description="Channel for proposals (unset: the setup channel the post came from)."
    )
    log_channel_id: Snowflake | None = Field(
        None, description="Channel where admin actions, risk refusals and problems are announced."
    )
    command_cooldown_seconds: float = Field(
        2.0, ge=0, le=600, allow_inf_nan=False,
        description="Per-user cooldown between slash commands, seconds.",
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
        10.0, gt=0, le=120, allow_inf_nan=False, description="Timeout of one REST call, seconds."
    )
    alpaca_max_retries: int = Field(
        4, ge=0, le=20, description="Retries of a temporary REST failure (429, 5xx, network)."
    )

    # --- simulated exchange ----------------------------------------------------------
    sim_starting_cash: Decimal = Field(
        Decimal("100000"), gt=0, le=10**9,
        description="Opening cash of the simulated account, USD.",
    )
    sim_slippage: Decimal = Field(
        Decimal("0.01"), ge=0, le=100,
        description="Market-order slippage past the far side, USD/share.",
    )
    sim_fee_per_contract: Decimal = Field(
        Decimal("0"), ge=0, le=100, description="Commission per option contract, USD."
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
        example = "sqlite+aiosqlite:///data/aplus.db or postgresql+asyncpg://user:pass@host/db"
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError(f"must be a SQLAlchemy URL such as {example}") from None
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if backend not in ASYNC_DRIVERS:
            raise ValueError(f"{backend} is not supported; use {example}")
        if driver != ASYNC_DRIVERS[backend]:
            raise ValueError(f"needs the async driver {backend}+{ASYNC_DRIVERS[backend]}://...")
        if backend == "postgresql" and not (url.host and url.database):
            raise ValueError(
                "needs a host and a database name: postgresql+asyncpg://user:pass@host/db"
            )
        return value.strip()

    @field_validator("log_level", "broker", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    @field_validator("discord_token", "alpaca_api_key", "alpaca_secret_key", mode="before")
    @classmethod
    def _check_secret(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            raw = raw.strip()
            if any(c.isspace() or not c.isprintable() for c in raw):
                raise ValueError("must be the key alone: no spaces, line breaks or prefix")
            return raw or None
        return value

    @field_validator("alpaca_trading_url", "alpaca_data_url", "alpaca_trading_stream_url",
                     "alpaca_data_stream_url", mode="before")
    @classmethod
    def _check_endpoint(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        schemes = ("ws", "wss") if "stream" in (info.field_name or "") else ("http", "https")
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError(f"must be a {schemes[0]}:// or {schemes[1]}:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError("has a bad port number") from None
        return value

    @field_validator("bars_dir")
    @classmethod
    def _check_bars_dir(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError("must be a folder, not a file")
        return value

    @field_validator("engine_config_file")
    @classmethod
    def _check_engine_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if value.suffix.lower() not in (".json", ".toml"):
            raise ValueError("must be a .json or .toml file")
        if not value.is_file():
            raise ValueError("no such file")
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
        """Return every configured secret (and the database password), for redaction."""
        out = []
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        password = make_url(self.database_url).password
        if password:
            out.append(str(password))
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
            elif name == "database_url":
                shown[name] = _hide_password(value) or "(unreadable)"
            else:
                shown[name] = str(value)
        return shown


SECRET_FIELDS = ("discord_token", "alpaca_api_key", "alpaca_secret_key")


def _hide_password(url: str) -> str | None:
    """Return ``url`` with its password masked (None when it cannot be parsed at all)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return None


def _shown_value(field: str, value: Any) -> str:
    """Return `` (got ...)`` for an error line: never a secret, never more than one line."""
    if field in SECRET_FIELDS or isinstance(value, (dict, SecretStr)):
        return ""
    if field == "database_url" and isinstance(value, str):
        value = _hide_password(value)
        if value is None:
            return ""
    text = repr(value)  # escapes line breaks
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 3] + "..."
    return f" (got {text})"


def describe_validation_error(exc: ValidationError) -> str:
    """Turn a settings validation error into one line naming the setting and the problem."""
    parts = []
    for err in exc.errors():
        loc = err["loc"]
        field = str(loc[0]) if loc else "settings"
        items = "".join(f" (item {p + 1})" for p in loc[1:] if isinstance(p, int))
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{field.upper()}{items}: {message}{_shown_value(field, err.get('input'))}")
    return "invalid setting " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, raising :class:`ConfigError` with one clear line when one is bad."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
