"""Typed broker errors a caller can act on.

Both brokers raise only these (the Alpaca adapter translates alpaca-py's errors exactly once,
at the boundary, with ``raise ... from e``). Messages are safe to show to a trader.
"""

from __future__ import annotations

from core.errors import AplusError


class BrokerError(AplusError):
    """Base of every broker error."""

    #: True when the same call may succeed if tried again later (rate limits, outages).
    temporary: bool = False


class InsufficientBuyingPower(BrokerError):
    """The account cannot pay for the order."""


class MarketClosed(BrokerError):
    """The order cannot be taken while the market is closed."""


class UnknownSymbol(BrokerError):
    """The stock symbol or option contract does not exist."""


class RateLimited(BrokerError):
    """The broker asked us to slow down."""

    temporary = True

    def __init__(self, message: str = "rate limited by the broker", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or failed on its side (5xx, timeout, network)."""

    temporary = True


class OrderRejected(BrokerError):
    """The broker refused the order; ``reason`` is the broker's own words."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"order rejected: {reason}")
        self.reason = reason


class OrderNotFound(BrokerError):
    """No order has the given id."""


class InvalidOrder(BrokerError):
    """The order is malformed (bad quantity, price off the tick grid...); nothing was sent."""


class SubmitOutcomeUnknown(BrokerError):
    """A submit was sent but neither its success nor its failure could be confirmed.

    The order may exist. Reconcile with ``get_order_by_client_id(client_order_id)`` later;
    never resubmit under a new client order id.
    """

    temporary = True

    def __init__(self, client_order_id: str) -> None:
        super().__init__(
            f"could not confirm order {client_order_id}; it will be reconciled when the broker answers"
        )
        self.client_order_id = client_order_id
