"""One shared runner for alpaca-py's blocking REST calls.

Every call goes through :meth:`AlpacaRest.call`: it waits for the shared rate limiter
(aiolimiter, default 200 requests/minute), runs the call in a worker thread
(``asyncio.to_thread``) with a timeout, translates alpaca-py / requests errors into our typed
errors exactly once, and retries only temporary failures (429, 5xx, timeouts, connection
errors) with exponential backoff and jitter, honouring ``Retry-After``. Calls marked
``retry=False`` (order submits) are never retried here; the broker reconciles them by client
order id instead.

alpaca-py retries 429/504 itself with fixed 3-second sleeps; :func:`disable_sdk_retries`
turns that off on each client so this policy is the only one in force.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from aiolimiter import AsyncLimiter
from alpaca.common.exceptions import APIError
from requests.adapters import HTTPAdapter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from core.brokers.errors import (
    BrokerError,
    BrokerUnavailable,
    InsufficientBuyingPower,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    UnknownSymbol,
)

log = logging.getLogger(__name__)
R = TypeVar("R")


class _TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def disable_sdk_retries(client: Any, timeout: float) -> None:
    """Turn off alpaca-py's own 429/504 retry loop and give its HTTP session a timeout."""
    client._retry = 0
    client._retry_codes = []
    session: requests.Session = client._session
    adapter = _TimeoutAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of temporary failures: ``base * 2**n`` capped at ``cap``, full jitter."""

    max_retries: int = 4
    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


def _api_message(exc: APIError) -> tuple[int | None, str]:
    try:
        body = json.loads(str(exc))
        return body.get("code"), str(body.get("message") or str(exc))
    except (ValueError, AttributeError):
        return None, str(exc)[:200] or "broker error"


def _retry_after(exc: APIError) -> float | None:
    resp = exc.response
    value = resp.headers.get("Retry-After") if resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: BaseException) -> BrokerError:
    """Map an alpaca-py / requests exception to our error type (called exactly once)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code
        _code, message = _api_message(exc)
        if status == 429:
            return RateLimited(f"rate limited by Alpaca: {message}", _retry_after(exc))
        if status is not None and status >= 500:
            return BrokerUnavailable(f"Alpaca is unavailable (HTTP {status})")
        if status == 404:
            if "order" in message.lower():
                return OrderNotFound(message)
            return UnknownSymbol(message)
        if status in (401, 403) and "buying power" in message.lower():
            return InsufficientBuyingPower(message)
        if status == 401:
            return BrokerUnavailable("Alpaca refused the API keys (unauthorized)")
        if status == 422 and ("asset" in message.lower() or "symbol" in message.lower()):
            return UnknownSymbol(message)
        if status == 422 and ("tick" in message.lower() or "sub-penny" in message.lower()):
            return InvalidOrder(message)
        return OrderRejected(message)
    if isinstance(exc, (requests.Timeout, TimeoutError, asyncio.TimeoutError)):
        return BrokerUnavailable("Alpaca did not answer in time")
    if isinstance(exc, (requests.ConnectionError, ConnectionError)):
        return BrokerUnavailable("cannot reach Alpaca")
    if isinstance(exc, ValueError) and "symbol" in str(exc).lower():
        return UnknownSymbol(str(exc)[:200])
    return BrokerUnavailable(f"unexpected failure talking to Alpaca ({exc.__class__.__name__})")


class AlpacaRest:
    """Rate-limited, timed, retried execution of blocking alpaca-py calls."""

    def __init__(
        self,
        *,
        requests_per_minute: int = 200,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.limiter = AsyncLimiter(requests_per_minute, 60.0)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self.calls = 0

    async def once(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run one call (no retry), returning its result or raising a translated error."""
        async with self.limiter:
            self.calls += 1
            try:
                return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), self.timeout + 1.0)
            except Exception as exc:
                raise translate(exc) from exc

    async def call(self, fn: Callable[..., R], *args: Any, retry: bool = True, **kwargs: Any) -> R:
        """Run a call, retrying temporary failures per the policy when ``retry`` is set."""
        if not retry:
            return await self.once(fn, *args, **kwargs)
        name = getattr(fn, "__name__", "call")

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            delay = self.policy.delay(state.attempt_number, getattr(exc, "retry_after", None))
            log.warning("alpaca %s failed (%s); retry %d/%d in %.2fs", name, exc,
                        state.attempt_number, self.policy.max_retries, delay)
            return delay

        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.policy.max_retries + 1),
            retry=retry_if_exception(lambda e: isinstance(e, BrokerError) and e.temporary),
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        ):
            with attempt:
                return await self.once(fn, *args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover
