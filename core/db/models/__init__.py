"""Every ORM model, imported so that ``Base.metadata`` knows all tables."""

from core.db.models import chat, setups, sim, trading  # noqa: F401
from core.db.models.chat import ChatPost
from core.db.models.setups import (
    BiasRow,
    MessageRevision,
    ParseStatus,
    SetupMessage,
    SignalRow,
    SignalStatus,
    SignalTransition,
    TargetRow,
    TickerSetupRow,
)

__all__ = [
    "BiasRow",
    "ChatPost",
    "MessageRevision",
    "ParseStatus",
    "SetupMessage",
    "SignalRow",
    "SignalStatus",
    "SignalTransition",
    "TargetRow",
    "TickerSetupRow",
]
