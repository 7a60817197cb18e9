"""Reading the trading date from a header line.

Forms understood (case-insensitive, weekday optional, ordinal suffixes allowed):
``Wed Jun 11``, ``Jun 2``, ``May 28, 2025``, ``Thursday May 29``, ``June 11th``,
``11 Jun 2025``, ``5/29/24``, ``6/11``, ``2025-06-11``.

The year rule (:func:`resolve_trading_date`):

1. A year in the text wins (two digits mean 20xx). If a weekday is also stated and does not
   match, the date is kept and a warning says so.
2. Otherwise the reference date is the message's posted time (UTC), or today's UTC date
   when no posted time is known. The base year is the reference year, except across New
   Year: a January date posted in December belongs to the next year, a December date
   posted in January to the previous one.
3. With no weekday, the base year is used.
4. With a weekday, the first year among the base year and the seven before it in which the
   date falls on that weekday is used (with a warning when a posted time was given and the
   year is not its year: the weekday or the date is probably a typo). If none does, the
   base year is kept and a warning names the mismatch (no date at all when the base year
   has no such day, like Feb 29).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from core.parsing.lexer import DASH, NUM, WORD, Token, tokenize

__all__ = ["DateMention", "find_date", "read_date", "resolve_trading_date"]

MONTHS: Final = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}
WEEKDAYS: Final = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5,
    "saturday": 5, "sun": 6, "sunday": 6,
}
WEEKDAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                        "Sunday")
YEARS_BACK: Final = 7


MONTH_NAMES: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                      "Dec")
_ORDINALS: Final = frozenset({"st", "nd", "rd", "th"})


@dataclass(frozen=True, slots=True)
class DateMention:
    """A date as written: the year and weekday may be missing."""

    month: int
    day: int
    year: int | None = None
    weekday: int | None = None
    start: int = 0
    """Index of the first token of the date."""
    end: int = 0
    """Index after the last token of the date."""

    @property
    def text(self) -> str:
        """Return the date as written, in a canonical spelling ("Thu May 29, 2025")."""
        weekday = f"{WEEKDAY_NAMES[self.weekday][:3]} " if self.weekday is not None else ""
        year = f", {self.year}" if self.year is not None else ""
        return f"{weekday}{MONTH_NAMES[self.month - 1]} {self.day}{year}"


def find_date(text: str) -> DateMention | None:
    """Return the first date written in ``text``, or ``None``."""
    return read_date(tokenize(text))


def read_date(tokens: list[Token]) -> DateMention | None:
    """Return the first date in a tokenized line, or ``None``."""
    for i, token in enumerate(tokens):
        # A date starts with a number, a weekday or a month: skip everything else unread.
        if token[0] == NUM or (token[0] == WORD and (token[2] in WEEKDAYS or token[2] in MONTHS)):
            found = _date_at(tokens, i)
            if found is not None:
                return found
    return None


def _small(token: Token, most: int = 2) -> int | None:
    """Return a token's value when it is a plain integer of at most ``most`` digits."""
    if token[0] == NUM and len(token[1]) <= most and token[1].isdigit():
        return int(token[1])
    return None


def _date_at(tokens: list[Token], start: int) -> DateMention | None:
    n = len(tokens)
    i = start
    weekday = None
    if tokens[i][0] == WORD and tokens[i][2] in WEEKDAYS:
        weekday = WEEKDAYS[tokens[i][2]]  # type: ignore[index]
        i += 1
        while i < n and tokens[i][1] in (".", ","):
            i += 1
        if i >= n:
            return None
    token = tokens[i]
    month = day = year = None
    if token[0] == WORD and token[2] in MONTHS:  # May 28, 2025 / Jun 2
        month = MONTHS[token[2]]  # type: ignore[index]
        i += 1
        if i < n and tokens[i][1] == ".":
            i += 1
        if i >= n or (day := _small(tokens[i])) is None:
            return None
        i += 1
        if i < n and tokens[i][0] == WORD and tokens[i][2] in _ORDINALS:
            i += 1
        j = i + 1 if i < n and tokens[i][1] == "," else i
        if j < n and tokens[j][0] == NUM and len(tokens[j][1]) == 4 and tokens[j][1].isdigit():
            year, i = int(tokens[j][1]), j + 1
    elif (value := _small(token)) is not None and i + 1 < n:
        nxt = tokens[i + 1]
        if nxt[1] == "/" and i + 2 < n and (second := _small(tokens[i + 2])) is not None:
            month, day, i = value, second, i + 3  # 5/29 or 5/29/24
            if i + 1 < n and tokens[i][1] == "/" and tokens[i + 1][0] == NUM:
                digits = tokens[i + 1][1]
                if digits.isdigit() and len(digits) in (2, 4):
                    year = int(digits) + (2000 if len(digits) == 2 else 0)
                    i += 2
            if month > 12 >= day:  # 29/5/24: day first
                month, day = day, month
        else:  # 11 Jun 2025 / 11th June
            j = i + 1
            if tokens[j][0] == WORD and tokens[j][2] in _ORDINALS:
                j += 1
            if j < n and tokens[j][0] == WORD and tokens[j][2] in MONTHS:
                month, day, i = MONTHS[tokens[j][2]], value, j + 1  # type: ignore[index]
                k = i + 1 if i < n and tokens[i][1] == "," else i
                if k < n and tokens[k][0] == NUM and len(tokens[k][1]) == 4 and tokens[k][1].isdigit():
                    year, i = int(tokens[k][1]), k + 1
    elif (
        token[0] == NUM
        and len(token[1]) == 4
        and token[1].isdigit()
        and i + 4 < n
        and tokens[i + 1][0] == DASH
        and tokens[i + 3][0] == DASH
    ):  # 2025-06-11
        month, day = _small(tokens[i + 2]), _small(tokens[i + 4])
        if month is not None and day is not None:
            year, i = int(token[1]), i + 5
    if month is None or day is None or not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    return DateMention(month=month, day=day, year=year, weekday=weekday, start=start, end=i)


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def resolve_trading_date(
    mention: DateMention, posted_at: datetime | None
) -> tuple[date | None, list[str]]:
    """Return the trading date ``mention`` stands for, and warnings (see the module rule)."""
    warnings: list[str] = []
    if mention.year is not None:
        found = _make(mention.year, mention.month, mention.day)
        if found is None:
            return None, [f"header date {mention.text!r} is not a real date"]
        if mention.weekday is not None and found.weekday() != mention.weekday:
            warnings.append(
                f"header date {mention.text!r}: {found.isoformat()} is a "
                f"{WEEKDAY_NAMES[found.weekday()]}, not a {WEEKDAY_NAMES[mention.weekday]}"
            )
        return found, warnings

    if posted_at is None:
        reference = datetime.now(UTC).date()
    elif posted_at.tzinfo is None:
        reference = posted_at.date()
    else:
        reference = posted_at.astimezone(UTC).date()
    base = reference.year
    if reference.month == 12 and mention.month == 1:
        base += 1
    elif reference.month == 1 and mention.month == 12:
        base -= 1

    if mention.weekday is None:
        found = _make(base, mention.month, mention.day)
        if found is None:
            return None, [f"header date {mention.text!r} is not a real date in {base}"]
        return found, warnings

    for year in range(base, base - YEARS_BACK - 1, -1):
        candidate = _make(year, mention.month, mention.day)
        if candidate is not None and candidate.weekday() == mention.weekday:
            if year != base and posted_at is not None:
                warnings.append(
                    f"header date {mention.text!r} read as {candidate.isoformat()}, the latest "
                    f"year it falls on a {WEEKDAY_NAMES[mention.weekday]}; the post is from {base}"
                )
            return candidate, warnings
    weekday = WEEKDAY_NAMES[mention.weekday]
    found = _make(base, mention.month, mention.day)
    if found is None:
        return None, [
            f"header date {mention.text!r}: no year from {base - YEARS_BACK} to {base} has it "
            f"on a {weekday}"
        ]
    warnings.append(
        f"header date {mention.text!r}: no year from {base - YEARS_BACK} to {base} has it on "
        f"a {weekday}; used {found.isoformat()}"
    )
    return found, warnings
