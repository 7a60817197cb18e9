"""The embedded simulated exchange (default broker, no keys needed)."""

from core.brokers.sim.broker import SimBroker
from core.brokers.sim.engine import SimExchange

__all__ = ["SimBroker", "SimExchange"]
