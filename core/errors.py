"""The user-facing error hierarchy of the domain.

Every error raised on purpose by ``core`` derives from :class:`AplusError`; its message is
safe to show to a trader as is (no secrets, no stack traces). The Discord layer turns these
into short ephemeral replies and logs anything else as a bug.
"""

from __future__ import annotations


class AplusError(Exception):
    """Base class of every error whose message may be shown to a user."""


class ConfigError(AplusError):
    """A setting is missing or invalid; the message names the setting and the problem."""


class StorageError(AplusError):
    """The database could not be read or written; nothing was half-written."""


class NotFoundError(AplusError):
    """A record asked for by id does not exist."""
