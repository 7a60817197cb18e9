"""The one market-data interface (simulated or Alpaca)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from core.marketdata.models import Bar, ChainFilter, OptionSnapshot, PriceEvent, Quote, Trade

if TYPE_CHECKING:  # imported on first use: core.options imports scipy, which is slow to import
    from core.options.chain import OptionChain


class PriceStream(ABC):
    """Live prices for a changing set of symbols.

    Iterate it with ``async for event in stream``; change the set at any time with
    :meth:`subscribe` / :meth:`unsubscribe`. Close it with :meth:`close`.
    """

    @abstractmethod
    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Add symbols to the stream."""

    @abstractmethod
    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Remove symbols from the stream."""

    @property
    @abstractmethod
    def symbols(self) -> frozenset[str]:
        """Return the symbols currently streamed."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[PriceEvent]:
        """Iterate the price events."""

    @abstractmethod
    async def close(self) -> None:
        """Stop streaming; iteration ends."""


class MarketData(ABC):
    """Quotes, trades, bars, option chains and live prices."""

    async def start(self) -> None:  # noqa: B027 - optional override
        """Open connections."""

    async def close(self) -> None:  # noqa: B027 - optional override
        """Release connections."""

    @abstractmethod
    async def latest_quote(self, symbol: str) -> Quote:
        """Return the latest stock quote; raise ``UnknownSymbol`` for an unknown symbol."""

    @abstractmethod
    async def latest_trade(self, symbol: str) -> Trade:
        """Return the latest stock trade."""

    @abstractmethod
    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe_minutes: int = 1
    ) -> list[Bar]:
        """Return bars starting in ``[start, end)``, oldest first (1-minute and coarser)."""

    @abstractmethod
    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> list[OptionSnapshot]:
        """Return the chain snapshot of ``underlying`` filtered by expiry and strike."""

    async def option_chain_table(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> OptionChain:
        """Return :meth:`option_chain` as a columnar :class:`~core.options.chain.OptionChain`.

        Always equal, column by column, to ``OptionChain.from_snapshots`` of what
        :meth:`option_chain` returns for the same arguments; raises what :meth:`option_chain`
        raises, and :class:`~core.options.chain.ChainError` when the snapshots cannot be read as
        a chain (a value that is not a number included). The default does just that;
        implementations that price a whole chain in arrays (the simulated market) override it
        to fill the columns without making a snapshot object per contract only to take it
        apart again.
        """
        from core.options.chain import ChainError, OptionChain

        snapshots = await self.option_chain(underlying, chain_filter)
        try:
            return OptionChain.from_snapshots(snapshots)
        except ChainError:
            raise
        except ValueError as exc:  # e.g. a price that is not a number: unreadable all the same
            raise ChainError(str(exc)) from exc

    @abstractmethod
    async def option_quote(self, symbol: str) -> OptionSnapshot:
        """Return the snapshot of one contract; raise ``UnknownSymbol`` if it is not listed."""

    async def option_quotes(self, symbols: Iterable[str]) -> dict[str, OptionSnapshot]:
        """Return snapshots of many contracts at once; unknown or unquoted ones are left out.

        The default asks one contract at a time; implementations that can batch (the
        simulated market prices a whole underlying in one vectorized pass) override it.
        """
        from core.brokers.errors import BrokerError

        out: dict[str, OptionSnapshot] = {}
        for symbol in symbols:
            try:
                out[symbol] = await self.option_quote(symbol)
            except BrokerError:
                continue
        return out

    @abstractmethod
    def price_stream(self, symbols: Iterable[str] = (), *, bars: bool = False) -> PriceStream:
        """Open a live stream of trades (or completed 1-minute bars with ``bars=True``)."""
