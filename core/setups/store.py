"""Store setup messages and their signals; re-read edits; invalidate deletions.

Rules a trader can rely on:

* Ingesting the same Discord message twice stores it once (unique message id; a concurrent
  second ingest loses the race and is reported ``unchanged``).
* An edit (same message id, new text) is re-parsed. Signals are matched to the old ones by a
  key of ``symbol:category:aggressiveness:comparison:n`` (the n-th signal of that kind for the
  ticker). Matched signals keep their id and status and get their levels updated; every level
  change is recorded as a :class:`~core.db.models.SignalTransition`; signals that vanished
  from the text are invalidated ("removed in edit"); new ones are added. The old text is kept
  as a :class:`~core.db.models.MessageRevision`.
* A deleted message keeps its rows; its live and triggered signals become ``invalidated`` (so a
  proposal still waiting for a click can no longer be confirmed; open positions stay open).
* Nothing is dropped silently: messages that are not A+ posts are stored with status
  ``not_aplus`` so they are not re-read, and every parser warning is stored with the message.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from core.clock import Clock, SystemClock, utc
from core.db.models import (
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
from core.errors import StorageError
from core.parsing import ParsedMessage, parse_message
from core.parsing.models import Signal, TickerSetup

log = logging.getLogger(__name__)

LIVE_STATUSES = frozenset({SignalStatus.PENDING, SignalStatus.WATCHING})
#: Statuses a retraction (edit or delete) invalidates: live ones, and triggered ones so that a
#: proposal still waiting for a click can no longer be confirmed. Open positions are not closed.
RETRACTABLE = LIVE_STATUSES | {SignalStatus.TRIGGERED}
#: Characters no text column can hold on every backend: NUL (PostgreSQL refuses it) and lone
#: surrogates (not encodable as UTF-8 at all). They become U+FFFD when a message comes in.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message as the chat layer saw it (NUL and lone surrogates become U+FFFD)."""

    discord_message_id: int
    channel_id: int
    author_id: int
    posted_at: datetime
    content: str
    guild_id: int | None = None
    edited_at: datetime | None = None

    def __post_init__(self) -> None:
        if _UNSTORABLE.search(self.content) is not None:
            object.__setattr__(self, "content", _UNSTORABLE.sub("\ufffd", self.content))


class IngestOutcome(StrEnum):
    """What ingesting a message did."""

    CREATED = "created"
    UNCHANGED = "unchanged"
    UPDATED = "updated"
    DELETED = "deleted"
    UNKNOWN = "unknown"  # a delete or edit of a message never stored


@dataclass(frozen=True, slots=True)
class SignalChange:
    """One difference between two readings of a message, for the thread diff."""

    symbol: str
    kind: str  # "added", "removed", "changed"
    key: str
    detail: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of an ingest, edit or delete."""

    outcome: IngestOutcome
    message_pk: int | None
    parsed: ParsedMessage | None = None
    status: ParseStatus | None = None
    changes: list[SignalChange] = field(default_factory=list)
    invalidated_signal_ids: list[int] = field(default_factory=list)


def content_hash(text: str) -> str:
    """Return the SHA-256 of a message's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_status(parsed: ParsedMessage) -> ParseStatus:
    """Classify a parse for storage."""
    if not parsed.is_aplus:
        return ParseStatus.NOT_APLUS
    if not any(s.signals for s in parsed.setups):
        return ParseStatus.NO_SIGNALS
    return ParseStatus.PARTIAL if parsed.warnings else ParseStatus.PARSED


def signal_keys(setup: TickerSetup) -> list[str]:
    """Return the stable key of each signal of a setup, in order."""
    seen: Counter[tuple[str, str, str]] = Counter()
    keys = []
    for sig in setup.signals:
        kind = (str(sig.category), str(sig.aggressiveness), str(sig.comparison))
        seen[kind] += 1
        keys.append(f"{setup.symbol}:{':'.join(kind)}:{seen[kind]}")
    return keys


def _fmt_levels(low: Decimal, high: Decimal | None, targets: Sequence[Decimal]) -> str:
    trig = f"{low}" if high is None else f"{low}–{high}"
    tgts = ", ".join(str(t) for t in targets) or "no targets"
    return f"{trig} → {tgts}"


def _norm(d: Decimal | None) -> Decimal | None:
    return None if d is None else d.normalize()


class _DuplicateInsert(Exception):
    """The message row was inserted by someone else between our read and our insert."""


class SetupStore:
    """Persistence of setup messages, ticker setups, signals, targets and biases."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock | None = None) -> None:
        self._sessions = sessions
        self._clock = clock or SystemClock()

    async def ingest(self, msg: IncomingMessage) -> IngestResult:
        """Parse and store a message; a known message with new text is treated as an edit."""
        digest = content_hash(msg.content)
        try:
            async with self._sessions.begin() as session:
                existing = await self._load(session, msg.discord_message_id)
                if existing is not None:
                    if existing.content_hash == digest:
                        return IngestResult(IngestOutcome.UNCHANGED, existing.id)
                    return await self._apply_edit(session, existing, msg, digest)
                try:
                    async with session.begin_nested():
                        return await self._create(session, msg, digest)
                except IntegrityError as exc:
                    raise _DuplicateInsert from exc
        except _DuplicateInsert:
            # Someone stored the same message between our read and our insert.
            async with self._sessions() as session:
                existing = await self._load(session, msg.discord_message_id)
            if existing is not None and existing.content_hash == digest:
                return IngestResult(IngestOutcome.UNCHANGED, existing.id)
            raise StorageError(
                f"message {msg.discord_message_id} was stored concurrently with other text; retry"
            ) from None
        except SQLAlchemyError as exc:
            raise StorageError(f"could not store message {msg.discord_message_id}: {exc}") from exc

    async def edit(self, msg: IncomingMessage) -> IngestResult:
        """Re-read an edited message; unknown messages are ingested as new."""
        return await self.ingest(msg)

    async def delete(self, discord_message_id: int, at: datetime | None = None) -> IngestResult:
        """Mark a message deleted and invalidate its live signals."""
        when = utc(at) if at else self._clock.now()
        try:
            async with self._sessions.begin() as session:
                existing = await self._load(session, discord_message_id)
                if existing is None:
                    return IngestResult(IngestOutcome.UNKNOWN, None)
                if existing.deleted_at is not None:
                    return IngestResult(IngestOutcome.UNCHANGED, existing.id)
                existing.deleted_at = when
                existing.updated_at = when
                ids = []
                for setup in existing.setups:
                    setup.active = False
                    for sig in setup.signals:
                        if self._invalidate(sig, when, "setup message deleted"):
                            ids.append(sig.id)
                return IngestResult(IngestOutcome.DELETED, existing.id, invalidated_signal_ids=ids)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not delete message {discord_message_id}: {exc}") from exc

    async def get(self, discord_message_id: int) -> SetupMessage | None:
        """Return a stored message with its setups, signals, targets and bias."""
        async with self._sessions() as session:
            return await self._load(session, discord_message_id)

    async def last_message_id(self, channel_id: int) -> int | None:
        """Return the newest stored message id of a channel (to catch up after downtime)."""
        async with self._sessions() as session:
            stmt = (
                select(SetupMessage.discord_message_id)
                .where(SetupMessage.channel_id == channel_id)
                .order_by(SetupMessage.posted_at.desc(), SetupMessage.discord_message_id.desc())
                .limit(1)
            )
            return (await session.execute(stmt)).scalar_one_or_none()

    async def messages_for_date(self, trading_date: date) -> list[SetupMessage]:
        """Return the A+ messages for a trading date, oldest first, deleted ones excluded."""
        async with self._sessions() as session:
            stmt = (
                select(SetupMessage)
                .where(SetupMessage.trading_date == trading_date, SetupMessage.deleted_at.is_(None))
                .order_by(SetupMessage.posted_at)
                .options(*_eager())
            )
            return list((await session.execute(stmt)).scalars().all())

    async def signals(
        self, trading_date: date | None = None, statuses: Sequence[str] | None = None
    ) -> list[SignalRow]:
        """Return signals (with targets) filtered by trading date and status."""
        async with self._sessions() as session:
            stmt = select(SignalRow).options(selectinload(SignalRow.targets))
            if trading_date is not None:
                stmt = stmt.where(SignalRow.trading_date == trading_date)
            if statuses:
                stmt = stmt.where(SignalRow.status.in_(list(statuses)))
            stmt = stmt.order_by(SignalRow.symbol, SignalRow.id)
            return list((await session.execute(stmt)).scalars().all())

    # ---------------------------------------------------------------- internals ----

    async def _load(self, session: AsyncSession, discord_message_id: int) -> SetupMessage | None:
        stmt = (
            select(SetupMessage)
            .where(SetupMessage.discord_message_id == discord_message_id)
            .options(*_eager())
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    async def _create(self, session: AsyncSession, msg: IncomingMessage, digest: str) -> IngestResult:
        now = self._clock.now()
        parsed = parse_message(msg.content, posted_at=utc(msg.posted_at))
        status = parse_status(parsed)
        row = SetupMessage(
            discord_message_id=msg.discord_message_id,
            channel_id=msg.channel_id,
            guild_id=msg.guild_id,
            author_id=msg.author_id,
            posted_at=utc(msg.posted_at),
            edited_at=utc(msg.edited_at) if msg.edited_at else None,
            raw_text=msg.content,
            content_hash=digest,
            trading_date=parsed.trading_date,
            parse_status=status,
            warnings=list(parsed.warnings),
            revision=1,
            created_at=now,
            updated_at=now,
            setups=[],
            revisions=[],
        )
        row.revisions.append(
            MessageRevision(
                revision=1, raw_text=msg.content, content_hash=digest,
                edited_at=row.edited_at, changes=[], created_at=now,
            )
        )
        changes = []
        for setup in parsed.setups:
            srow = self._new_setup(setup, parsed.trading_date, now)
            row.setups.append(srow)
            for key, sig in zip(signal_keys(setup), setup.signals, strict=True):
                changes.append(
                    SignalChange(setup.symbol, "added", key, _describe(sig))
                )
        session.add(row)
        await session.flush()
        log.info("stored message %s: %s, %d setups", msg.discord_message_id, status, len(row.setups))
        return IngestResult(IngestOutcome.CREATED, row.id, parsed, status, changes)

    def _new_setup(self, setup: TickerSetup, trading_date: date | None, now: datetime) -> TickerSetupRow:
        srow = TickerSetupRow(symbol=setup.symbol, trading_date=trading_date, active=True)
        for ordinal, (key, sig) in enumerate(zip(signal_keys(setup), setup.signals, strict=True)):
            srow.signals.append(self._new_signal(setup.symbol, trading_date, key, ordinal, sig, now))
        if setup.bias is not None:
            srow.bias = _bias_row(setup)
        return srow

    @staticmethod
    def _new_signal(
        symbol: str, trading_date: date | None, key: str, ordinal: int, sig: Signal, now: datetime
    ) -> SignalRow:
        row = SignalRow(
            symbol=symbol, trading_date=trading_date, key=key, ordinal=ordinal,
            category=str(sig.category), aggressiveness=str(sig.aggressiveness),
            comparison=str(sig.comparison), trigger_low=sig.trigger_low,
            trigger_high=sig.trigger_high if sig.trigger_high != sig.trigger_low else None,
            source_line=sig.line, status=SignalStatus.PENDING, status_changed_at=now,
            created_at=now, updated_at=now,
        )
        row.targets = [TargetRow(position=i + 1, price=t) for i, t in enumerate(sig.targets)]
        row.transitions.append(
            SignalTransition(at=now, from_status=None, to_status=SignalStatus.PENDING,
                             price=None, reason="read from setup message")
        )
        return row

    async def _apply_edit(
        self, session: AsyncSession, row: SetupMessage, msg: IncomingMessage, digest: str
    ) -> IngestResult:
        now = self._clock.now()
        parsed = parse_message(msg.content, posted_at=row.posted_at)
        status = parse_status(parsed)
        changes: list[SignalChange] = []
        invalidated: list[int] = []
        old_setups = {s.symbol: s for s in row.setups}
        new_symbols = set()
        for setup in parsed.setups:
            new_symbols.add(setup.symbol)
            srow = old_setups.get(setup.symbol)
            if srow is None:
                srow = self._new_setup(setup, parsed.trading_date, now)
                row.setups.append(srow)
                changes.extend(
                    SignalChange(setup.symbol, "added", k, _describe(s))
                    for k, s in zip(signal_keys(setup), setup.signals, strict=True)
                )
                continue
            srow.active = True
            srow.trading_date = parsed.trading_date
            changes += self._merge_signals(srow, setup, parsed.trading_date, now, invalidated)
            if setup.bias is None:
                srow.bias = None
            else:
                new_bias = _bias_row(setup)
                if srow.bias is None or _bias_tuple(srow.bias) != _bias_tuple(new_bias):
                    changes.append(SignalChange(setup.symbol, "changed", f"{setup.symbol}:bias",
                                                f"bias now: {setup.bias.text}"))
                    srow.bias = new_bias
        for symbol, srow in old_setups.items():
            if symbol in new_symbols or not srow.active:
                continue
            srow.active = False
            for sig in srow.signals:
                if self._invalidate(sig, now, "removed in edit"):
                    invalidated.append(sig.id)
                    changes.append(SignalChange(symbol, "removed", sig.key, _describe_row(sig)))
        row.revision += 1
        row.raw_text = msg.content
        row.content_hash = digest
        row.edited_at = utc(msg.edited_at) if msg.edited_at else now
        row.trading_date = parsed.trading_date
        row.parse_status = status
        row.warnings = list(parsed.warnings)
        row.updated_at = now
        row.revisions.append(
            MessageRevision(
                revision=row.revision, raw_text=msg.content, content_hash=digest,
                edited_at=row.edited_at, created_at=now,
                changes=[{"symbol": c.symbol, "kind": c.kind, "key": c.key, "detail": c.detail}
                         for c in changes],
            )
        )
        await session.flush()
        log.info("message %s edited (revision %d): %d changes", row.discord_message_id,
                 row.revision, len(changes))
        return IngestResult(IngestOutcome.UPDATED, row.id, parsed, status, changes, invalidated)

    def _merge_signals(
        self, srow: TickerSetupRow, setup: TickerSetup, trading_date: date | None,
        now: datetime, invalidated: list[int],
    ) -> list[SignalChange]:
        changes = []
        old = {s.key: s for s in srow.signals}
        seen = set()
        for ordinal, (key, sig) in enumerate(zip(signal_keys(setup), setup.signals, strict=True)):
            seen.add(key)
            existing = old.get(key)
            if existing is None:
                srow.signals.append(self._new_signal(setup.symbol, trading_date, key, ordinal, sig, now))
                changes.append(SignalChange(setup.symbol, "added", key, _describe(sig)))
                continue
            existing.ordinal = ordinal
            existing.trading_date = trading_date
            before = _describe_row(existing)
            high = sig.trigger_high if sig.trigger_high != sig.trigger_low else None
            new_targets = [_norm(t) for t in sig.targets]
            old_targets = [_norm(t.price) for t in existing.targets]
            moved = (_norm(existing.trigger_low) != _norm(sig.trigger_low)
                     or _norm(existing.trigger_high) != _norm(high))
            if not moved and new_targets == old_targets:
                if existing.status == SignalStatus.INVALIDATED and existing.status_reason == "removed in edit":
                    self._transition(existing, SignalStatus.PENDING, now, "restored by edit")
                continue
            existing.trigger_low = sig.trigger_low
            existing.trigger_high = high
            existing.source_line = sig.line
            _replace_targets(existing, sig.targets)
            existing.updated_at = now
            after = _describe(sig)
            existing.transitions.append(
                SignalTransition(at=now, from_status=existing.status, to_status=existing.status,
                                 price=None, reason=f"edited: {before} ⇒ {after}"[:255])
            )
            changes.append(SignalChange(setup.symbol, "changed", key, f"{before} ⇒ {after}"))
        for key, sig_row in old.items():
            if key not in seen and self._invalidate(sig_row, now, "removed in edit"):
                invalidated.append(sig_row.id)
                changes.append(SignalChange(setup.symbol, "removed", key, _describe_row(sig_row)))
        return changes

    def _invalidate(self, sig: SignalRow, now: datetime, reason: str) -> bool:
        if sig.status not in RETRACTABLE:
            return False
        self._transition(sig, SignalStatus.INVALIDATED, now, reason)
        return True

    @staticmethod
    def _transition(sig: SignalRow, to: SignalStatus, now: datetime, reason: str) -> None:
        sig.transitions.append(
            SignalTransition(at=now, from_status=sig.status, to_status=to, price=None, reason=reason)
        )
        sig.status = to
        sig.status_reason = reason
        sig.status_changed_at = now
        sig.updated_at = now


def _eager() -> list:
    return [
        selectinload(SetupMessage.setups).selectinload(TickerSetupRow.signals).selectinload(SignalRow.targets),
        selectinload(SetupMessage.setups).selectinload(TickerSetupRow.signals).selectinload(SignalRow.transitions),
        selectinload(SetupMessage.setups).selectinload(TickerSetupRow.bias),
        selectinload(SetupMessage.revisions),
    ]


def _replace_targets(row: SignalRow, prices: Sequence[Decimal]) -> None:
    """Set a signal's targets in place (updating rows keeps the (signal, position) key unique)."""
    for target, price in zip(row.targets, prices, strict=False):
        target.price = price
    if len(prices) < len(row.targets):
        del row.targets[len(prices):]
    for i in range(len(row.targets), len(prices)):
        row.targets.append(TargetRow(position=i + 1, price=prices[i]))


def _bias_row(setup: TickerSetup) -> BiasRow:
    b = setup.bias
    assert b is not None
    return BiasRow(
        direction=str(b.direction) if b.direction else None,
        condition=str(b.condition) if b.condition else None,
        price=b.price,
        flip_direction=str(b.flip.direction) if b.flip else None,
        flip_price=b.flip.price if b.flip else None,
        text=b.text,
    )


def _bias_tuple(b: BiasRow) -> tuple:
    return (b.direction, b.condition, _norm(b.price), b.flip_direction, _norm(b.flip_price), b.text)


def _describe(sig: Signal) -> str:
    high = sig.trigger_high if sig.trigger_high != sig.trigger_low else None
    return f"{sig.category} {sig.aggressiveness} {sig.comparison} " + _fmt_levels(
        sig.trigger_low, high, sig.targets
    )


def _describe_row(sig: SignalRow) -> str:
    return f"{sig.category} {sig.aggressiveness} {sig.comparison} " + _fmt_levels(
        _norm(sig.trigger_low), _norm(sig.trigger_high), [_norm(t.price) for t in sig.targets]
    )
