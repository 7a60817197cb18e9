"""The log-channel line for a change of the broker's health."""

from __future__ import annotations

from core.events import BrokerHealthChanged


def health_line(event: BrokerHealthChanged) -> str:
    """Return what the log channel says when the broker degrades or recovers."""
    if event.healthy:
        return ("✅ Broker recovered: it answers again, so new entries are allowed again "
                "(an admin pause or kill switch, if any, stays on).")
    return (f"⚠️ Broker degraded: {event.reason}. New entries are paused; exits, stops and "
            "closes still go out. I will resume on my own once the broker answers again.")
