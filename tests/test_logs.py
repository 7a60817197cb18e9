"""Secrets never reach a log: the redactor installed at start-up by ``python -m bot``."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import REDACTED, SecretRedactor, uninstall_redactor
from core.config import Settings

TOKEN = "MTA5.discord-token.XyZ"
KEY_ID = "PKTEST1234567890"
SECRET_KEY = "alpaca/secret+key=="
DB_PASSWORD = "db-pass-w0rd"
SECRETS = (TOKEN, KEY_ID, SECRET_KEY, DB_PASSWORD)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Secrets in the environment, as a deployment sets them; the redactor removed after."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("ALPACA_API_KEY", KEY_ID)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("DATABASE_URL", f"postgresql+asyncpg://bot:{DB_PASSWORD}@127.0.0.1/aplus")
    yield
    uninstall_redactor()


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _log_through_every_path(log: logging.Logger) -> None:
    log.warning("token is %s", TOKEN)  # as an argument
    log.warning(f"key id {KEY_ID} inline")  # in the message itself
    log.error("request %r failed", {"headers": {"APCA-API-SECRET-KEY": SECRET_KEY}})
    try:
        try:
            raise ConnectionError(f"could not connect as bot:{DB_PASSWORD}@127.0.0.1")
        except ConnectionError as inner:
            raise RuntimeError(f"login with {TOKEN} refused") from inner
    except RuntimeError:
        log.exception("start-up failed")  # exception text, chained causes included
    log.warning("%s and %s", KEY_ID, 42, stack_info=True)


def test_every_log_path_is_redacted_after_start_up(
    configured: None, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config"]) == 0
    assert _leaks(capsys.readouterr().out) == []  # the config listing masks them too

    later = io.StringIO()  # a handler added after start-up, on a non-root logger
    handler = logging.StreamHandler(later)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    discord_log = logging.getLogger("discord.gateway")
    discord_log.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            _log_through_every_path(discord_log)
            _log_through_every_path(logging.getLogger("core.brokers.alpaca"))
    finally:
        discord_log.removeHandler(handler)

    assert caplog.text.count(REDACTED) >= 8
    assert _leaks(caplog.text) == []
    assert _leaks(later.getvalue()) == []
    assert "start-up failed" in later.getvalue() and "ConnectionError" in later.getvalue()
    assert f"key id {REDACTED} inline" in later.getvalue()
    assert all(_leaks(r.getMessage()) == [] for r in caplog.records)


def test_without_the_redactor_the_same_logging_would_leak(
    configured: None, caplog: pytest.LogCaptureFixture
) -> None:
    # The check above is not vacuous: the very same calls leak when nothing redacts.
    with caplog.at_level(logging.INFO):
        _log_through_every_path(logging.getLogger("core.brokers.alpaca"))
    assert sorted(_leaks(caplog.text)) == sorted(SECRETS)


def test_a_secret_inside_a_longer_one_is_redacted_whole() -> None:
    redactor = SecretRedactor(["abc", "abcdef", ""])
    assert redactor.redact("x abcdef y abc z") == f"x {REDACTED} y {REDACTED} z"
    assert SecretRedactor([]).redact("abc") == "abc"


def test_records_without_secrets_keep_their_arguments(configured: None) -> None:
    redactor = SecretRedactor(SECRETS)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "filled %d at %s", (3, "1.25"), None)
    assert redactor.filter(record) is True
    assert record.args == (3, "1.25") and record.getMessage() == "filled 3 at 1.25"
    broken = logging.LogRecord("x", logging.INFO, __file__, 1, "bad %d", (TOKEN,), None)
    assert redactor.filter(broken) is True  # a bad format string is still redacted, not raised
    assert TOKEN not in str(broken.msg) + str(broken.args)
