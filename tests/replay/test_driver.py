"""One replayed day through the real engine on the simulated exchange."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from core.engine.config import EngineConfig
from core.events import (
    DailySummary,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    PositionClosed,
    ProposalConfirmed,
    ProposalCreated,
    ProposalRejected,
    SignalTriggered,
)
from core.replay.driver import ReplayError, run_replay
from core.replay.policy import ConfirmPolicy
from core.replay.report import json_summary, trades_csv_text
from tests.replay.conftest import DAY, setup_source


async def test_a_day_is_traded_and_counted_from_its_events(bars_dir: Path, calendar) -> None:
    r = await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar)
    kinds = Counter(type(e) for e in r.events)
    assert r.symbols == ("NVDA", "SPY") and r.missing_bars == ()
    assert {(e.symbol, e.category) for e in r.events if isinstance(e, SignalTriggered)} == {
        ("SPY", "breakout"), ("NVDA", "breakout"), ("SPY", "rejection")}
    c = r.counts
    assert (c.signals, c.triggered) == (3, kinds[SignalTriggered])
    assert c.proposals == kinds[ProposalCreated] == 3
    assert c.orders == kinds[OrderSubmitted] and c.fills == kinds[OrderFilled]
    assert kinds[ProposalConfirmed] == 3
    # the rejection's entry is never filled (repriced to its cap, then canceled): two trades
    assert kinds[OrderCanceled] == 1
    assert c.trades == len(r.trades) == kinds[PositionClosed] == 2
    closed = sum((e.realized_pnl for e in r.events if isinstance(e, PositionClosed)), Decimal(0))
    assert c.realized_pnl == closed
    summary = [e for e in r.events if isinstance(e, DailySummary)]
    assert len(summary) == 1 and summary[0].realized_pnl == closed.quantize(Decimal("0.01"))
    assert r.open_positions == 0
    # times are the simulated day's, in order
    times = [e.at for e in r.events]
    assert times == sorted(times) and times[-1].date() == DAY
    # each trade knows its plan: R is P&L over the proposal's max loss
    for t in r.trades:
        assert t.max_loss is not None and t.max_loss > 0
        assert t.r_multiple == pytest.approx(float(t.realized_pnl / t.max_loss))
    assert json_summary(r, None)["trades"] == 2


async def test_policy_none_rejects_every_proposal(bars_dir: Path, calendar) -> None:
    r = await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar,
                         policy=ConfirmPolicy.NONE)
    rejected = [e for e in r.events if isinstance(e, ProposalRejected)]
    assert r.counts.proposals == len(rejected) == 3
    assert {e.actor for e in rejected} == {"replay:none"}
    assert r.counts.orders == r.counts.fills == r.counts.trades == 0
    assert r.counts.realized_pnl == 0


async def test_first_per_ticker_confirms_only_the_first_proposal_of_each(bars_dir: Path,
                                                                         calendar) -> None:
    r = await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar,
                         policy=ConfirmPolicy.FIRST_PER_TICKER)
    confirmed = [e.symbol for e in r.events if isinstance(e, ProposalConfirmed)]
    rejected = [e.symbol for e in r.events if isinstance(e, ProposalRejected)]
    assert sorted(confirmed) == ["NVDA", "SPY"] and rejected == ["SPY"]
    assert r.counts.trades == 2


async def test_same_inputs_give_byte_identical_trades(bars_dir: Path, calendar) -> None:
    config = EngineConfig(exits={"option_stop_pct": 40})
    a = await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar, config=config)
    b = await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar, config=config)
    assert a.trades and trades_csv_text(a.trades) == trades_csv_text(b.trades)
    assert [type(e).__name__ for e in a.events] == [type(e).__name__ for e in b.events]


async def test_tickers_without_bars_are_listed_not_replayed(tmp_path: Path, calendar) -> None:
    from tests.engine.conftest import write_bars
    from tests.replay.conftest import SPY_PATH

    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    r = await run_replay(setup_source(), bars_dir=tmp_path / "bars", calendar=calendar)
    assert r.symbols == ("SPY",) and r.missing_bars == ("NVDA",)
    assert r.counts.signals == 2


async def test_no_bars_at_all_is_a_clear_error(tmp_path: Path, calendar) -> None:
    with pytest.raises(ReplayError, match=r"no bars for NVDA, SPY on 2025-06-11"):
        await run_replay(setup_source(), bars_dir=tmp_path / "nothing", calendar=calendar)


async def test_a_broken_bar_file_is_refused_with_its_line(bars_dir: Path, calendar) -> None:
    path = bars_dir / "SPY" / f"{DAY}.csv"
    lines = path.read_text().splitlines()
    lines[5] = "2025-06-11T13:34:00Z,605,604,606,605,100"  # high below low
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReplayError, match=r"bad bar file: .*SPY/2025-06-11.csv:6: low/high"):
        await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar)


async def test_a_post_after_the_close_is_refused_before_a_database_is_made(
    bars_dir: Path, calendar, tmp_path: Path
) -> None:
    import dataclasses
    from datetime import datetime, time

    from core.clock import NEW_YORK
    from core.replay.database import ReplayDatabases

    late = dataclasses.replace(setup_source(), posted_at=datetime.combine(DAY, time(16, 5), NEW_YORK))
    folder = tmp_path / "dbs"
    folder.mkdir()
    async with ReplayDatabases(folder=folder) as dbs:
        with pytest.raises(ReplayError, match="posted after the close of 2025-06-11"):
            await run_replay(late, bars_dir=bars_dir, calendar=calendar, databases=dbs)
        assert not [p for p in folder.rglob("*.db")]  # no day's database was handed out


async def test_not_a_setup_or_not_a_trading_day_is_refused(bars_dir: Path, calendar) -> None:
    with pytest.raises(ReplayError, match="not an A\\+ setup post"):
        await run_replay(setup_source("lunch anyone?"), bars_dir=bars_dir, calendar=calendar)
    from datetime import date

    with pytest.raises(ReplayError, match="2025-06-14 is not a trading day"):
        await run_replay(setup_source(), bars_dir=bars_dir, calendar=calendar,
                         day=date(2025, 6, 14))
