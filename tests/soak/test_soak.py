"""Days of trading at full speed: no error, every limit held, and no memory growth.

``make soak`` (``HYPOTHESIS_PROFILE=soak``) runs 30 simulated trading days with 200 signals a
day, 50 positions open at once and a price for each of 100 symbols every simulated second,
and prints each day's figures; the resident memory may not grow by 50 MB or more from the
end of day 2 to the end of day 30. ``make test`` runs one short day of a few symbols, to keep
the soak working.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from tests.soak.profile import soak
from tests.soak.soak import SoakPlan
from tests.soak.soak import soak as run_soak

PLAN = SoakPlan() if soak() else SoakPlan(days=1, symbols=4, max_open=2,
                                           session=(time(9, 30), time(10, 30)))
MAX_GROWTH_MB = 50


@pytest.mark.timeout(7200 if soak() else 600)  # 30 simulated days take about 13 minutes
async def test_days_at_full_speed_trade_within_the_limits_without_errors_or_memory_growth(
    tmp_path: Path, capsys
) -> None:
    with capsys.disabled():
        result = await run_soak(PLAN, tmp_path, say=print)
    assert result.errors == [] and not any(result.bus_failures.values())
    assert len(result.days) == PLAN.days
    seconds = (PLAN.session[1].hour - PLAN.session[0].hour) * 3600 + \
        (PLAN.session[1].minute - PLAN.session[0].minute) * 60
    for day in result.days:
        assert day.signals == 2 * PLAN.symbols
        assert day.price_updates == PLAN.symbols * seconds
        assert day.most_open == PLAN.max_open  # the limit, reached and never passed
        assert day.proposals > PLAN.max_open / 2
    if PLAN.days >= 3:
        growth = result.growth_mb()
        with capsys.disabled():
            print(f"resident memory day 2 → day {PLAN.days}: {result.days[1].rss_mb:.1f} → "
                  f"{result.days[-1].rss_mb:.1f} MB ({growth:+.1f} MB)")
        assert growth < MAX_GROWTH_MB
