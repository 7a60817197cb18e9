"""The renderers: what a trader reads in the setup thread, a proposal and a trade thread."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cogs.render.events import event_line, fill_line
from cogs.render.proposals import proposal_embed
from cogs.render.setups import delete_text, edit_text, setup_embeds
from cogs.render.text import embed_to_text, plain
from core.db.models.trading import ProposalRow
from core.events import OrderFilled, PositionClosed
from core.parsing import parse_message
from core.setups import IngestOutcome, IngestResult, SignalChange
from tests.conftest import CORPUS

POSTED = datetime(2025, 5, 29, 12, 0, tzinfo=UTC)


def test_setup_reply_has_one_embed_per_ticker_with_every_level_and_the_bias() -> None:
    parsed = parse_message((CORPUS / "2025-05-29_below_above.txt").read_text(), POSTED)
    embeds = setup_embeds(parsed)
    assert [e.title for e in embeds] == [
        "NVDA · 2025-05-29", "SPY · 2025-05-29", "TSLA · 2025-05-29"]
    spy = embed_to_text(embeds[1])
    assert "Bias: ▼ bearish" in spy
    assert "Breakout (aggressive) above 596.90 → 599.80 · 602.00 · 605.50" in spy
    assert "Bounce 586.00–587.00 → 590.60 · 593.70 · 596.90" in spy
    assert spy.count("→") == 6
    assert embeds[1].footer.text == "6 levels watched"


def test_unreadable_lines_are_listed_in_a_warning_embed() -> None:
    parsed = parse_message((CORPUS / "malformed_levels.txt").read_text(), POSTED)
    embeds = setup_embeds(parsed)
    assert parsed.warnings
    assert embeds[-1].title == "⚠️ Lines I could not read"
    assert all(w[:40] in embeds[-1].description for w in parsed.warnings)


def test_edit_and_delete_notes_say_what_changed() -> None:
    result = IngestResult(IngestOutcome.UPDATED, 1, changes=[
        SignalChange("SPY", "changed", "k", "breakout above 596.90 → 599.80 became 597.10 → 600")],
        invalidated_signal_ids=[4])
    text = edit_text(result)
    assert "✏️ SPY: breakout above 596.90" in text and "1 level no longer watched" in text
    assert "unchanged" in edit_text(IngestResult(IngestOutcome.UPDATED, 1))
    assert "2 levels invalidated" in delete_text(
        IngestResult(IngestOutcome.DELETED, 1, invalidated_signal_ids=[1, 2]))


def _proposal(**kw: object) -> ProposalRow:
    now = datetime(2025, 6, 11, 14, 0, tzinfo=UTC)
    best = {"contract": "SPY250613C00600000", "right": "call", "strike": 600.0,
            "expiry": "2025-06-13", "bid": 1.2, "ask": 1.3, "mid": 1.25, "spread_pct": 8.0,
            "iv": 0.231, "delta": 0.45, "gamma": 0.031, "theta": -0.12, "vega": 0.2,
            "open_interest": 12340, "volume": 5120,
            "scenarios": [{"label": "T1", "level": 602.0, "value": 2.1, "change": 0.85,
                           "change_pct": 68.0, "reached_at": now.isoformat()}]}
    fields = dict(
        id=7, trading_date=date(2025, 6, 11), underlying="SPY", direction="bullish",
        category="breakout", status="open", contract="SPY250613C00600000", quantity=2,
        limit_price=Decimal("1.25"), bid=Decimal("1.20"), ask=Decimal("1.30"),
        underlying_price=Decimal("600.10"), est_cost=Decimal("250.00"),
        max_loss=Decimal("250.00"), stop_price=Decimal("598.90"),
        targets=["602", "604", "606"], details={"trigger": "600.00", "best": best,
                                                 "alternates": [dict(best, contract="SPY250613C00601000", delta=0.38)]},
        version=1, expires_at=now + timedelta(minutes=5), created_at=now)
    fields.update(kw)
    return ProposalRow(**fields)


def test_proposal_embed_shows_contract_quote_greeks_liquidity_cost_and_plan() -> None:
    text = embed_to_text(proposal_embed(_proposal()))
    assert "buy 2 × SPY 600.00 C 2025-06-13 (2 DTE)" in text
    assert "bid 1.20 · ask 1.30 · mid 1.25" in text
    assert "Δ +0.45 · IV 23.1% · Θ -0.120/day" in text
    assert "OI 12,340 · vol 5,120" in text
    assert "est. cost $250.00 · max loss $250.00" in text
    assert "targets 602.00 · 604.00 · 606.00 · stop 598.90" in text
    assert "T1 602.00: ≈ 2.10 (+68%)" in text
    assert "SPY250613C00601000" in text and "Awaiting a decision" in text


def test_decided_proposal_says_who_and_hides_alternates() -> None:
    at = datetime(2025, 6, 11, 14, 2, tzinfo=UTC)
    text = embed_to_text(proposal_embed(_proposal(status="confirmed", decided_by="alice",
                                                  decided_at=at)))
    assert "✅ Confirmed by alice 10:02" in text
    assert "Alternates" not in text


def test_fill_line_reports_slippage_against_the_proposal() -> None:
    e = OrderFilled(at=POSTED, order_id=1, proposal_id=7, position_id=1, symbol="SPY250613C00600000",
                    side="buy", purpose="entry", qty=2, limit_price=Decimal("1.30"),
                    fill_qty=1, fill_price=Decimal("1.30"), filled_qty=1, complete=False,
                    slippage=Decimal("0"))
    assert fill_line(e, Decimal("1.25")) == (
        "💰 entry partial fill: buy 1 SPY250613C00600000 @ 1.30 (1/2), "
        "slippage +$5.00/contract vs the proposal")
    assert fill_line(e, Decimal("1.25"), "SPY250613C00600000").endswith(
        "slippage +$5.00/contract vs the proposal")
    # the fallback to an alternate: the proposal's price is another contract's, so the limit
    alternate = fill_line(e, Decimal("2.90"), "SPY250613C00605000")
    assert alternate.endswith("slippage ±$0.00/contract vs the limit"), alternate
    closed = PositionClosed(at=POSTED, position_id=1, contract="X", realized_pnl=Decimal("-12.5"),
                            reason="stop")
    assert event_line(closed) == "🏁 Position closed (stop): realized −$12.50"


def test_plain_turns_timestamps_into_new_york_times() -> None:
    at = datetime(2025, 6, 11, 13, 45, tzinfo=UTC)
    assert plain(f"**at** <t:{int(at.timestamp())}:t>") == "at 09:45"
