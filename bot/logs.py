"""Logging set-up of the command line, with every configured secret redacted.

:func:`configure_logging` is called once at start-up by :func:`bot.cli.main`. It installs a
:class:`SecretRedactor` twice over: as a filter on the root handlers, and at record creation
(through the log record factory), so that handlers added later by anyone (discord.py's, a
log-channel handler) only ever see records whose message, arguments, exception text and stack
text have the secrets replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_plain_formatter = logging.Formatter()
_base_factory: Callable[..., logging.LogRecord] | None = None
_active: SecretRedactor | None = None


class SecretRedactor(logging.Filter):
    """A filter that rewrites records so that none of ``secrets`` survives in them."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        unique = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first
        self._pattern = re.compile("|".join(map(re.escape, unique))) if unique else None

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``[REDACTED]``."""
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drop it."""
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it later; redact the parts
            message = f"{record.msg} {record.args}"
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # What Formatter.format would cache; computed here so it can be redacted first.
            record.exc_text = _plain_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = (_base_factory or logging.LogRecord)(*args, **kwargs)
    if _active is not None:
        _active.filter(record)
    return record


def install_redactor(secrets: Iterable[str]) -> SecretRedactor:
    """Redact ``secrets`` from every log record from now on (replacing any earlier redactor)."""
    global _active, _base_factory
    uninstall_redactor()
    _active = SecretRedactor(secrets)
    current = logging.getLogRecordFactory()
    if _base_factory is None:
        _base_factory = current
    if current is _base_factory:  # else ours is still in place, perhaps wrapped by another
        logging.setLogRecordFactory(_make_record)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_active)
    return _active


def uninstall_redactor() -> None:
    """Stop redacting (undo :func:`install_redactor`)."""
    global _active
    if _base_factory is not None and logging.getLogRecordFactory() is _make_record:
        logging.setLogRecordFactory(_base_factory)
    if _active is not None:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(_active)
    _active = None


def configure_logging(level: int, secrets: Iterable[str]) -> SecretRedactor:
    """Log to stderr at ``level`` and redact ``secrets`` from every record."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    return install_redactor(secrets)
