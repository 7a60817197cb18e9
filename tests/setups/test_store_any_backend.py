"""Text and numbers that one backend accepts and another refuses are stored alike on all.

These run on SQLite by default and on PostgreSQL under ``make test-postgres``.
"""

from __future__ import annotations

from decimal import Decimal

from core.db.session import Database
from core.parsing import parse_message
from core.setups import IngestOutcome, SetupStore
from tests.setups.test_store import message

HEADER = "A+ Trade Setups — Wed Jun 11\nSPY\n"


async def test_nul_and_lone_surrogates_are_stored_as_replacement_characters(db: Database) -> None:
    store = SetupStore(db.sessions)
    text = HEADER + "🔼 Breakout Above 582.50 🎯 590.00 \x00 note \ud800\n"
    result = await store.ingest(message(text, mid=11))
    assert result.outcome is IngestOutcome.CREATED
    stored = await store.get(11)
    assert stored is not None
    assert stored.raw_text == text.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    [signal] = stored.setups[0].signals
    assert (signal.trigger_low, [t.price for t in signal.targets]) == (
        Decimal("582.50"), [Decimal("590.00")])
    # The same text again is recognised as unchanged, not as an edit.
    assert (await store.ingest(message(text, mid=11))).outcome is IngestOutcome.UNCHANGED


async def test_an_edit_with_a_nul_byte_is_applied(db: Database) -> None:
    store = SetupStore(db.sessions)
    await store.ingest(message(HEADER + "🔼 Breakout Above 582.50 🎯 590.00\n", mid=12))
    edited = await store.ingest(message(HEADER + "🔼 Breakout Above 583.00 🎯 590.00\x00\n", mid=12))
    assert edited.outcome is IngestOutcome.UPDATED
    stored = await store.get(12)
    assert stored is not None and stored.setups[0].signals[0].trigger_low == Decimal("583.00")


async def test_long_lines_of_mixed_scripts_round_trip_exactly(db: Database) -> None:
    store = SetupStore(db.sessions)
    noise = "\u202eשלום\u200b\u200d👨‍👩‍👧 \U0001f600\u0301 مرحبا\ufeff" * 2_000  # ~44k characters
    text = HEADER + "🔼 Breakout Above 582.50 🎯 590.00 " + noise + "\n"
    await store.ingest(message(text, mid=13))
    stored = await store.get(13)
    assert stored is not None and stored.raw_text == text
    [parsed] = parse_message(text, stored.posted_at).setups[0].signals
    assert stored.setups[0].signals[0].source_line == parsed.line  # ~40k characters


async def test_prices_with_more_than_six_decimals_read_back_rounded_alike(db: Database) -> None:
    store = SetupStore(db.sessions)
    await store.ingest(message(HEADER + "🔼 Breakout Above 582.1234567891 🎯 583.9999999\n", mid=14))
    stored = await store.get(14)
    assert stored is not None
    [signal] = stored.setups[0].signals
    assert signal.trigger_low == Decimal("582.123457")
    assert [t.price for t in signal.targets] == [Decimal("584.000000")]
