"""Assembling a message from its lines: tickers, their signals and biases, the trading date.

The rules that span lines:

* A ticker line opens that ticker's block; a ticker seen again adds to the same setup.
  Signals or a bias before any ticker line belong to :data:`~core.parsing.vocabulary.
  DEFAULT_SYMBOL` (SPY), with a warning.
* A bias continues on the line right under it when that line starts with a dash ("— Breakdown
  under 134.10 likely to test 130s", never read as a signal) or is not a header, ticker,
  signal or noise line; a second bias for the same ticker is ignored with a warning.
* A line of bare targets right under a signal that has none gives that signal its targets.
* A line that looks like a signal but cannot be read, and any other line carrying prices,
  becomes a warning naming the line. Chatter without prices is ignored.
* A ticker with neither signals nor a bias is left out, with a warning.
* The message is an A+ post when it has a header ("A+ ... Setups", or "Setups" with a date)
  or at least two signals; anything else comes back with ``is_aplus`` false and nothing else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from core.parsing.bias import bias_code, read_bias
from core.parsing.bias import forget as forget_biases
from core.parsing.dates import DateMention, read_date, resolve_trading_date
from core.parsing.grammar import LineKind, LineReading, is_price_like, read_line
from core.parsing.lexer import NUM, WORD, Token, forget_chunks, normalise_lines, tokenize
from core.parsing.models import Category, ParsedMessage, Signal, TickerSetup, trusted
from core.parsing.plans import PLANS, SHAPE, forget, learn
from core.parsing.vocabulary import DEFAULT_SYMBOL

__all__ = ["parse_message", "reset_caches"]

log = logging.getLogger(__name__)

_APLUS_HINT: Final = re.compile(
    r"a\+|setup|break(?:out|down)|reject|bounce|aggressive|conservative|\b(?:agg|con|long|short)\b",
    re.IGNORECASE,
)
_DASHES: Final = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
_HAS_TEXT: Final = re.compile(r"[^\W_]")
_NO_TOKENS: Final[list[Token]] = []
NOT_APLUS_WARNING: Final = "not an A+ setup post (no A+ header and fewer than two setup lines)"


def reset_caches() -> None:
    """Forget the learned chunk tokens, line plans and bias readings (call after changing the
    vocabulary)."""
    forget_chunks()
    forget()
    forget_biases()


def parse_message(text: str, posted_at: datetime | None = None) -> ParsedMessage:
    """Read an A+ setup post; never raise.

    ``posted_at`` (the message's timestamp) supplies the year when the header has none; see
    :mod:`core.parsing.dates` for the rule. Anything that cannot be read becomes a warning.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)
    if _APLUS_HINT.search(text) is None:
        return _not_aplus()
    try:
        return _Assembler(posted_at).run(text)
    except Exception:  # the contract is "never raises": log it and report it as a warning
        log.exception("A+ parser failed on a message of %d characters", len(text))
        return ParsedMessage(
            warnings=["internal parser error: the message could not be read"], is_aplus=False
        )


def _not_aplus() -> ParsedMessage:
    return ParsedMessage(warnings=[NOT_APLUS_WARNING], is_aplus=False)


@dataclass(slots=True)
class _SetupDraft:
    symbol: str
    line_no: int
    signals: list[Signal] = field(default_factory=list)
    bias_parts: list[str] = field(default_factory=list)
    bias_tokens: list[Token] = field(default_factory=list)
    bias_codes: list[str] = field(default_factory=list)
    """The :func:`~core.parsing.bias.bias_code` of each part's tokens."""


@dataclass(slots=True)
class _Assembler:
    posted_at: datetime | None
    warnings: list[str] = field(default_factory=list)
    setups: dict[str, _SetupDraft] = field(default_factory=dict)
    current: _SetupDraft | None = None
    header: bool = False
    mention: DateMention | None = None
    inherited: Category | None = None
    last_signal: tuple[int, int] | None = None  # (line number, index in current.signals)
    open_bias_line: int = -1
    signal_count: int = 0

    def run(self, text: str) -> ParsedMessage:
        plans, dashes, shape_table = PLANS, _DASHES, SHAPE  # locals: read on every line
        for line_no, line in normalise_lines(text):
            if (
                line[0] in dashes
                and _HAS_TEXT.search(line) is not None
                and self._continues_bias(line_no, line, None)
            ):
                continue
            shape = line.encode("utf-8", "surrogatepass").translate(shape_table)  # shape_of(line)
            plan = plans[self.inherited].get(shape)
            if plan is not None:
                # The common lines first, read as _signal and _ticker read the plan's reading.
                if plan.plain_signals:
                    signals = plan.read_signals(line, line_no)
                    if signals is not None:
                        self.open_bias_line = -1
                        draft = self.current or self._ensure_current(line_no)
                        draft.signals += signals
                        self.signal_count += len(signals)
                        self.inherited = plan.category
                        self.last_signal = (
                            (line_no, len(draft.signals) - 1) if plan.one_open_signal else None
                        )
                        continue
                elif plan.plain_ticker:
                    self._ticker(line_no, plan.symbol or DEFAULT_SYMBOL)
                    continue
            values = plan.numbers(line) if plan is not None else None
            code = None
            if values is not None:
                if plan.tokens is not None:  # type: ignore[union-attr]
                    tokens, code = plan.tokens_of(line, values), plan.bias_code  # type: ignore[union-attr]
                else:
                    tokens = _NO_TOKENS
                reading = plan.reading(line, line_no, values)  # type: ignore[union-attr]
            else:
                tokens = tokenize(line)
                reading = read_line(line, tokens, line_no, self.inherited)
                learn(shape, line, tokens, line_no, self.inherited, reading)
            kind = reading.kind
            if kind is LineKind.SIGNAL:
                self._signal(line_no, line, reading)
            elif kind is LineKind.TICKER:
                self._ticker(line_no, reading.symbol or DEFAULT_SYMBOL)
                if reading.signals is not None or reading.problem is not None:
                    self._signal(line_no, line, reading)
                elif reading.bias_text is not None:
                    self._bias(line_no, reading.bias_text, tokens)
            elif kind is LineKind.BIAS:
                self._bias(line_no, reading.bias_text or "", tokens, code)
            elif kind is LineKind.HEADER:
                self.header = True
                self.open_bias_line = -1
                if self.mention is None:
                    self.mention = read_date(tokens)
            elif kind is LineKind.TARGETS:
                self._targets(line_no, line, reading.targets or [])
            elif kind is LineKind.OTHER:
                self._other(line_no, line, tokens)
            else:  # NOISE
                self.open_bias_line = -1
        return self._finish()

    # --- one line ---------------------------------------------------------------------------

    def _ticker(self, line_no: int, symbol: str) -> None:
        draft = self.setups.get(symbol)
        if draft is None:
            draft = self.setups[symbol] = _SetupDraft(symbol, line_no)
        self.current = draft
        self.inherited = None
        self.last_signal = None
        self.open_bias_line = -1

    def _ensure_current(self, line_no: int) -> _SetupDraft:
        if self.current is None:
            self._ticker(line_no, DEFAULT_SYMBOL)
            self.warnings.append(
                f"line {line_no}: setup lines before any ticker line were read as {DEFAULT_SYMBOL}"
            )
        assert self.current is not None
        return self.current

    def _signal(self, line_no: int, line: str, reading: LineReading) -> None:
        self.open_bias_line = -1
        self.last_signal = None
        if reading.problem is not None:
            self.warnings.append(f'line {line_no}: {reading.problem}: "{line}"')
            return
        signals = reading.signals
        assert signals is not None
        draft = self.current if self.current is not None else self._ensure_current(line_no)
        if reading.notes:
            for note in reading.notes:
                self.warnings.append(f'line {line_no}: {note}: "{line}"')
        draft.signals.extend(signals)
        self.signal_count += len(signals)
        self.inherited = reading.category
        if len(signals) == 1 and not signals[0].targets:
            self.last_signal = (line_no, len(draft.signals) - 1)

    def _bias(self, line_no: int, text: str, tokens: list[Token], code: str | None = None) -> None:
        draft = self._ensure_current(line_no)
        self.last_signal = None
        if draft.bias_parts:
            self.warnings.append(
                f'line {line_no}: a second bias for {draft.symbol} was ignored: "{text}"'
            )
            self.open_bias_line = -1
            return
        draft.bias_parts.append(text)
        draft.bias_tokens.extend(tokens)
        draft.bias_codes.append(bias_code(tokens) if code is None else code)
        self.open_bias_line = line_no

    def _continues_bias(self, line_no: int, line: str, tokens: list[Token] | None) -> bool:
        """Append ``line`` to the bias right above it, if there is one."""
        if self.open_bias_line not in (line_no, line_no - 1) or self.current is None:
            return False
        if tokens is None:
            tokens = tokenize(line)
        self.current.bias_parts.append(line)
        self.current.bias_tokens.extend(tokens)
        self.current.bias_codes.append(bias_code(tokens))
        self.open_bias_line = line_no
        return True

    def _targets(self, line_no: int, line: str, targets: list[Decimal]) -> None:
        if (
            self.last_signal is not None
            and self.current is not None
            and self.last_signal[0] in (line_no, line_no - 1)
        ):
            index = self.last_signal[1]
            old = self.current.signals[index]
            self.current.signals[index] = old.model_copy(update={"targets": targets})
            self.last_signal = None
            return
        self.warnings.append(f'line {line_no}: prices with no signal to attach them to: "{line}"')

    def _other(self, line_no: int, line: str, tokens: list[Token]) -> None:
        if self._continues_bias(line_no, line, tokens):
            return
        self.open_bias_line = -1
        if self.mention is None and not self.setups:
            mention = read_date(tokens)
            if mention is not None and _only_date(tokens, mention):
                self.mention = mention
                return
        if is_price_like(tokens):
            self.warnings.append(f'line {line_no}: not understood, prices ignored: "{line}"')

    # --- the whole message ------------------------------------------------------------------

    def _finish(self) -> ParsedMessage:
        if not self.header and self.signal_count < 2:
            return _not_aplus()
        trading_date = None
        if self.mention is not None:
            trading_date, date_warnings = resolve_trading_date(self.mention, self.posted_at)
            self.warnings.extend(date_warnings)
        else:
            self.warnings.append("no trading date in the header")
        setups: list[TickerSetup] = []
        for draft in self.setups.values():
            bias = None
            if draft.bias_parts:
                bias = read_bias(
                    " ".join(draft.bias_parts), draft.bias_tokens, "".join(draft.bias_codes)
                )
            if not draft.signals and bias is None:
                self.warnings.append(
                    f"line {draft.line_no}: ticker {draft.symbol} has no readable levels"
                )
                continue
            setups.append(
                trusted(TickerSetup, {"symbol": draft.symbol, "signals": draft.signals, "bias": bias})
            )
        if self.signal_count == 0:
            self.warnings.append("no setup levels found in this post")
        return trusted(ParsedMessage, {
            "trading_date": trading_date,
            "setups": setups,
            "warnings": self.warnings,
            "is_aplus": True,
        })


def _only_date(tokens: list[Token], mention: DateMention) -> bool:
    """Return whether the line holds nothing but the date (and decoration)."""
    outside = tokens[: mention.start] + tokens[mention.end :]
    return not any(t[0] in (NUM, WORD) for t in outside)
