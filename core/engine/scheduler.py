"""The engine's clock-driven jobs on APScheduler, in New York market time.

Jobs (timestamps are stored in UTC; the triggers read New York wall-clock time):

=============== ====================================== =========================================
job             when                                   what
=============== ====================================== =========================================
``tick``        every ``mark_interval_seconds``        expire proposals, work orders, marks,
                                                       time stops, end of day once the close
                                                       (or a half day's early close) passed
``session_open`` 09:25 Mon–Fri                          load the day's signals, subscribe prices
``session_close`` 16:05 Mon–Fri                         end-of-day report (once per day)
``daily_reset`` 00:05 every day                        forget yesterday's per-day state
=============== ====================================== =========================================

The offline replay does not use this scheduler: it calls the same engine methods itself as
simulated time passes, so both run the same code.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import NEW_YORK
from core.engine.engine import TradingEngine


def build_scheduler(engine: TradingEngine) -> AsyncIOScheduler:
    """Return a scheduler (not started) with the engine's jobs."""
    sched = AsyncIOScheduler(timezone=NEW_YORK)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
    sched.add_job(engine.tick, IntervalTrigger(seconds=engine.config.mark_interval_seconds,
                                               timezone=NEW_YORK), id="tick", **common)
    sched.add_job(engine.session_open, CronTrigger(day_of_week="mon-fri", hour=9, minute=25,
                                                   timezone=NEW_YORK), id="session_open", **common)
    sched.add_job(engine.session_close, CronTrigger(day_of_week="mon-fri", hour=16, minute=5,
                                                    timezone=NEW_YORK), id="session_close", **common)
    sched.add_job(engine.daily_reset, CronTrigger(hour=0, minute=5, timezone=NEW_YORK),
                  id="daily_reset", **common)
    return sched
