"""Reading the daily "A+ setup" posts into typed setups.

``parse_message(text, posted_at)`` is the one entry point; it never raises. The pipeline is
normalise → tokenize → read each line with a small grammar over a vocabulary → assemble
tickers, signals and biases. To teach it a new word, add an entry to
:mod:`core.parsing.vocabulary`.
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
from core.parsing.parser import parse_message

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
]
