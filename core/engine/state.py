"""Runtime engine state that survives restarts, and the audit log.

The trading state (active / reducing / halted), auto-confirm, every risk limit changed at
runtime and the day's daily loss halt are stored in ``engine_state``; each change also writes
an ``audit_log`` row naming who did it. At start the engine reads them back, so a restart never
silently un-pauses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models.trading import AuditEntry, EngineStateRow
from core.engine.risk import RiskLimits, TradingState


async def audit(
    session: AsyncSession, at: datetime, actor: str, action: str, entity: str,
    entity_id: str | int | None = None, **details: Any,
) -> None:
    """Add an audit row to ``session`` (committed with the change it describes)."""
    session.add(AuditEntry(at=at, actor=actor, action=action, entity=entity,
                           entity_id=None if entity_id is None else str(entity_id),
                           details={k: _jsonable(v) for k, v in details.items()}))


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


class EngineStateStore:
    """Read and write the persisted runtime state."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self, default_limits: RiskLimits, default_auto: bool) -> tuple[TradingState, bool, RiskLimits]:
        """Return the stored trading state, auto-confirm flag and limits (defaults if unset)."""
        async with self._sessions() as session:
            rows = {r.key: r.value for r in (await session.execute(select(EngineStateRow))).scalars()}
        state = TradingState(rows.get("trading_state", {}).get("value", TradingState.ACTIVE))
        auto = bool(rows.get("auto_confirm", {}).get("value", default_auto))
        limits = default_limits
        for name, value in rows.get("risk_limits", {}).items():
            if name in RiskLimits.model_fields:
                limits = limits.with_value(name, value)
        return state, auto, limits

    async def value(self, key: str) -> dict[str, Any]:
        """Return the value stored under ``key`` (empty when never stored)."""
        async with self._sessions() as session:
            row = await session.get(EngineStateRow, key)
        return dict(row.value) if row is not None else {}

    async def save(
        self, key: str, value: dict[str, Any], *, at: datetime, actor: str, action: str, detail: str
    ) -> None:
        """Store ``value`` under ``key`` and audit the change in one transaction."""
        async with self._sessions.begin() as session:
            row = await session.get(EngineStateRow, key)
            if row is None:
                session.add(EngineStateRow(key=key, value=value, updated_at=at, updated_by=actor))
            else:
                row.value = value
                row.updated_at = at
                row.updated_by = actor
            await audit(session, at, actor, action, "engine", key, detail=detail)
