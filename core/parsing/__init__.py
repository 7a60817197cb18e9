"""Reading the daily "A+ setup" posts into typed setups.

``parse_message(text, posted_at=None)`` is the one entry point. It never raises: anything it
cannot read becomes a warning that names the line. The pipeline:

1. **normalise** (:mod:`~core.parsing.lexer`): line breaks (CRLF, U+2028/U+2029), invisible
   and odd spaces, markdown, Discord mentions, ``{edited}`` markers;
2. **tokenize** (:mod:`~core.parsing.lexer`): each line once, every word and emoji tagged
   with its role from :mod:`~core.parsing.vocabulary`;
3. **read each line** with a small grammar over those roles (:mod:`~core.parsing.grammar`):
   header, ticker, signal, bias, targets continued, noise, or other;
4. **assemble** (:mod:`~core.parsing.parser`): tickers with their signals and bias (read by
   :mod:`~core.parsing.bias`), and the trading date (:mod:`~core.parsing.dates`).

A new way of writing the same thing needs a vocabulary entry, not code.

Trading date: from the header ("Wed Jun 11", "Jun 2", "May 28, 2025", "Thursday May 29",
"5/29/24", "2025-06-11", or a date alone on the line under it). A year in the header wins.
Otherwise the year is the posted time's (``posted_at``, UTC; today's UTC date when none is
given), moved across New Year for a January date posted in December and the reverse; when
a weekday is stated, the first year from that one back seven years in which the date falls
on that weekday is used, and a warning is given when none does (or when it is not the
posted year). No date in the header gives ``trading_date=None`` and a warning.

A message is an A+ post (``is_aplus``) when it has a header ("A+", or "Setups" with a date)
or at least two signal lines; anything else is rejected early (a cheap scan for A+ words
comes first) with no setups and one warning.

Bias: ``text`` keeps the line as posted (minus the leading ⚠️). Direction, condition/price
and flip are read from it when it states them (:mod:`~core.parsing.bias`); a purely
narrative bias has them ``None``, and the JSON contract then shows ``"bias": {"direction":
null, "condition": null, "price": null, "flip": null, "text": "..."}``.

Ambiguous lines get a documented reading and a warning: ``Rejection Levels a, b, c`` and
``Bounce: a, b, c`` (no target marker) are one signal per level without targets; signals
before any ticker line are SPY's; a second bias for a ticker is ignored.
"""

from __future__ import annotations

from core.parsing.models import (
    Aggressiveness,
    Bias,
    BiasFlip,
    Category,
    Comparison,
    Direction,
    ParsedMessage,
    Signal,
    TickerSetup,
)
from core.parsing.parser import parse_message, reset_caches

__all__ = [
    "Aggressiveness",
    "Bias",
    "BiasFlip",
    "Category",
    "Comparison",
    "Direction",
    "ParsedMessage",
    "Signal",
    "TickerSetup",
    "parse_message",
    "reset_caches",
]
