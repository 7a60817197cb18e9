"""Normalisation and tokenizing: text in, one list of tagged tokens per line out.

Normalisation (:func:`normalise_lines`), before anything looks at the words:

* line breaks: CRLF and CR become LF; U+2028, U+2029, NEL, VT and FF split a line further
  (the pieces keep the physical line's number, so warnings point at what an editor shows);
* invisible characters are dropped (zero-width spaces and joiners, BOM, soft hyphen,
  variation selectors and keycap marks, so "⚠️" is "⚠" and "1️⃣" is "1"), and every kind of
  space (no-break, thin, tab...) becomes one plain space;
* markup is removed: markdown ``**bold**``, ``__underline__``, ``~~strike~~``, ``||spoiler||``
  and code ticks, quote and heading prefixes, Discord mentions (``@everyone``, ``<@123>``),
  custom emoji and timestamps, and ``{edited}`` / ``(edited)`` markers.

Dashes (hyphen, en and em dash, minus, ...) are kept in the text, so a bias line reads as
posted, and the tokenizer treats all of them as the one ``DASH`` token.

Tokenizing (:func:`tokenize`) splits a line at its spaces into chunks and looks each chunk
up once in a cache that starts with the vocabulary; a chunk seen for the first time ("586.25,",
"Zone:", "TSLA") is split into pieces by one precompiled pattern and remembered. A token is a
tuple
``(kind, text, key, role)``:

========  =====================================  =========================================
kind      key                                    role
========  =====================================  =========================================
NUM       the :class:`~decimal.Decimal` value,   ``None``
          or ``None`` when it cannot be a price
WORD      the lower-cased word                   ``(Role, value)`` from the vocabulary, or
                                                 ``None`` for an unknown word
DASH      ``True`` when written tight between    ``None``
          two characters (``571-573``)
PUNCT     the ASCII character                    ``None``
EMOJI     the character                          ``(Role, Category | None)``
========  =====================================  =========================================
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Final

from core.parsing.vocabulary import WORD_ROLES, emoji_role

__all__ = [
    "DASH",
    "EMOJI",
    "MAX_PRICE",
    "NUM",
    "PUNCT",
    "WORD",
    "Token",
    "forget_chunks",
    "normalise_lines",
    "number_spans",
    "to_price",
    "tokenize",
]

NUM: Final = 0
WORD: Final = 1
DASH: Final = 2
PUNCT: Final = 3
EMOJI: Final = 4

Token = tuple[int, str, object, object]

MAX_PRICE: Final = Decimal(1_000_000_000)
_ZERO: Final = Decimal(0)

_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\ufe0e\ufe0f\u20e3"
_EXTRA_BREAKS = re.compile(r"[\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e]")
_MARKDOWN = ("**", "*", "__", "~~", "||", "`")
_EDITED = re.compile(r"[{(]edited[})]", re.IGNORECASE)
_DISCORD_MARKUP = re.compile(
    r"<a?:\w+:\d+>|<@[!&]?\d+>|<#\d+>|<t:-?\d+(?::\w)?>"
)
_LINE_PREFIXES = (">>> ", "> ", "### ", "## ", "# ", "-# ")


def normalise_lines(text: str) -> list[tuple[int, str]]:
    """Return the non-empty normalised lines of ``text`` with their 1-based line numbers.

    Each step is skipped when a scan for one character shows the text does not need it (a
    scan for one character is several times faster than one for a longer string).
    """
    for char in _INVISIBLE:
        if char in text:
            text = text.replace(char, "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for mark in _MARKDOWN:
        if mark[0] in text:
            text = _without(text, mark)
    if ("{" in text or "(" in text) and ("dited" in text or "DITED" in text):
        text = _EDITED.sub("", text)
    if "@" in text:
        text = _without(_without(text, "@everyone"), "@here")
    if "<" in text:
        text = _DISCORD_MARKUP.sub("", text)
    out: list[tuple[int, str]] = []
    number = 0
    for physical in text.split("\n"):
        number += 1
        if physical.isprintable():
            # Every odd space and extra line break is unprintable: here, plain spaces only.
            line = " ".join(physical.split()) if "  " in physical else physical.strip()
            if line:
                if line[0] in ">#-" and line.startswith(_LINE_PREFIXES):
                    line = line.split(" ", 1)[1]
                out.append((number, line))
            continue
        for piece in _EXTRA_BREAKS.split(physical):
            line = " ".join(piece.split())
            if line:
                if line[0] in ">#-" and line.startswith(_LINE_PREFIXES):
                    line = line.split(" ", 1)[1]
                out.append((number, line))
    return out


def _without(text: str, word: str) -> str:
    """Return ``text.replace(word, "")``, finding ``word`` by scanning for its first character."""
    first = word[0]
    at = text.find(first)
    if len(word) == 1 or at < 0:
        return text.replace(word, "") if at >= 0 else text
    pieces: list[str] = []
    start = 0
    while at >= 0:
        if text.startswith(word, at):
            pieces.append(text[start:at])
            start = at + len(word)
            at = text.find(first, start)
        else:
            at = text.find(first, at + 1)
    if not pieces:
        return text
    pieces.append(text[start:])
    return "".join(pieces)


# --- tokens ---------------------------------------------------------------------------------

_DASH_CHARS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212~"
_PIECE = re.compile(
    r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:\.\d+)?|\.\d+)"
    r"|([A-Za-z][A-Za-z']*(?:-[A-Za-z]+)*\+?)"
    rf"|([{_DASH_CHARS}]+)"
    r"|(.)",
    re.DOTALL,
)
_NUMBER_TAILS = frozenset(",;)")
_DIGITS = frozenset("0123456789")
_flatten = chain.from_iterable

_decimal_cache: dict[str, Decimal | None] = {}


def to_price(text: str) -> Decimal | None:
    """Return ``text`` as a price, or ``None`` when it is zero or absurdly large."""
    value = _decimal_cache.get(text)
    if value is not None or text in _decimal_cache:
        return value
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        number = None
    if number is not None and not (0 < number < MAX_PRICE):
        number = None
    if len(_decimal_cache) > 8192:
        _decimal_cache.clear()
    _decimal_cache[text] = number
    return number


def _word_token(word: str) -> Token:
    lowered = word.lower()
    return (WORD, word, lowered, WORD_ROLES.get(lowered))


def _symbol_token(char: str) -> Token:
    if char.isascii():
        return (PUNCT, char, char, None)
    if char.isalnum():
        # A letter or digit from another script: an unknown word.
        return (WORD, char, char.lower(), None)
    return (EMOJI, char, char, emoji_role(char))


def _build_chunk_table() -> dict[str, tuple[Token, ...]]:
    """Pre-tokenize whole whitespace-separated chunks that are vocabulary words."""
    table: dict[str, tuple[Token, ...]] = {}
    for word in WORD_ROLES:
        for form in {word, word.capitalize(), word.upper(), word.title()}:
            table[form] = (_word_token(form),)
    return table


_PUNCT_TOKENS: Final = {c: (PUNCT, c, c, None) for c in ",;)(:=/|&>"}
_DASH_TOKEN_SPACED: Final = (DASH, "-", False, None)
_DASH_TOKEN_TIGHT: Final = (DASH, "-", True, None)


def tokenize(line: str) -> list[Token]:
    """Split one normalised line into tokens (see the module docstring)."""
    # Chunks seen before (the vocabulary, emoji, prices) come from the cache in C; only new
    # ones reach Python, through _ChunkCache.__missing__.
    return list(_flatten(map(_CHUNKS.__getitem__, line.split(" "))))


class _ChunkCache(dict[str, tuple[Token, ...]]):
    """Chunk → its tokens. Starts with the vocabulary; learns every chunk it is asked for
    (words, emoji, "Zone:", prices: they recur within a post and from day to day) and goes
    back to the vocabulary alone when it reaches ``limit`` entries."""

    def __init__(self, vocabulary: dict[str, tuple[Token, ...]], limit: int) -> None:
        super().__init__(vocabulary)
        self.vocabulary = vocabulary
        self.limit = len(vocabulary) + limit

    def __missing__(self, chunk: str) -> tuple[Token, ...]:
        if len(self) >= self.limit:
            self.reset()
        known = self[chunk] = _tokenize_chunk(chunk)
        return known

    def reset(self) -> None:
        """Forget everything but the vocabulary (tests use it after changing the vocabulary)."""
        self.clear()
        self.update(self.vocabulary)


def _tokenize_chunk(chunk: str) -> tuple[Token, ...]:
    if chunk and chunk[0] in _DIGITS:
        # The common new chunk is a price, "586.25" or "586.25,": read it without the regex.
        tail = chunk[-1]
        number = chunk[:-1] if tail in _NUMBER_TAILS else chunk
        if number.isascii() and number.replace(".", "", 1).isdigit() and number[-1] != ".":
            value: Decimal | None = Decimal(number)
            if not _ZERO < value < MAX_PRICE:  # type: ignore[operator]
                value = None
            token: Token = (NUM, number, value, None)
            return (token, _PUNCT_TOKENS[tail]) if number is not chunk else (token,)
    return _split_chunk(chunk)


def _split_chunk(chunk: str) -> tuple[Token, ...]:
    pieces = _PIECE.findall(chunk)
    last = len(pieces) - 1
    tokens: list[Token] = []
    for index, (number, word, dash, other) in enumerate(pieces):
        if number:
            tokens.append((NUM, number, to_price(number), None))
        elif word:
            known = _CHUNKS.get(word)
            tokens.append(known[0] if known is not None else _word_token(word))
        elif dash:
            tokens.append(_DASH_TOKEN_TIGHT if 0 < index < last else _DASH_TOKEN_SPACED)
        elif other in _PUNCT_TOKENS:
            tokens.append(_PUNCT_TOKENS[other])
        else:
            tokens.append(_symbol_token(other))
    return tuple(tokens)


_CHUNKS: Final = _ChunkCache(_build_chunk_table(), limit=20_000)


def forget_chunks() -> None:
    """Forget every learned chunk but the vocabulary (after the vocabulary changed)."""
    _CHUNKS.reset()


def number_spans(line: str) -> list[tuple[int, int]]:
    """Return where each ``NUM`` token of ``tokenize(line)`` is in ``line``, in order."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for chunk in line.split(" "):
        for match in _PIECE.finditer(chunk):
            if match.group(1):
                spans.append((offset + match.start(1), offset + match.end(1)))
        offset += len(chunk) + 1
    return spans
