"""The Alpaca adapter: the only place in ``core`` that imports alpaca-py."""

from core.brokers.alpaca.broker import AlpacaBroker
from core.brokers.alpaca.market import AlpacaMarketData
from core.brokers.alpaca.rest import AlpacaRest, RetryPolicy

__all__ = ["AlpacaBroker", "AlpacaMarketData", "AlpacaRest", "RetryPolicy"]
