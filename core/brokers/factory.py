"""Choose the broker and market data from the settings (sim by default, Alpaca with keys)."""

from __future__ import annotations

from core.brokers.base import Broker
from core.clock import Clock
from core.config import BrokerMode, Settings
from core.db.session import Database
from core.marketdata.base import MarketData


def make_market_data(settings: Settings, clock: Clock) -> MarketData:
    """Return the market data source for ``settings.effective_broker``."""
    if settings.effective_broker is BrokerMode.ALPACA:
        from core.brokers.alpaca import AlpacaMarketData

        return AlpacaMarketData(settings)
    from core.marketdata.sim import SimMarketData

    return SimMarketData(clock, bars_dir=settings.bars_dir, seed=settings.sim_seed)


def make_broker(settings: Settings, db: Database, clock: Clock, market: MarketData) -> Broker:
    """Return the broker for ``settings.effective_broker`` (call ``await broker.start()``)."""
    if settings.effective_broker is BrokerMode.ALPACA:
        from core.brokers.alpaca import AlpacaBroker

        return AlpacaBroker(settings, clock)
    from core.brokers.sim import SimBroker
    from core.marketdata.sim import SimMarketData

    if not isinstance(market, SimMarketData):
        raise TypeError("the simulated broker needs the simulated market data")
    return SimBroker(db, clock, market, starting_cash=settings.sim_starting_cash,
                     slippage=settings.sim_slippage, fee_per_contract=settings.sim_fee_per_contract)
