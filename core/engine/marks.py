"""The mark pass's working set: open positions cached between passes, marks built on demand.

A mark pass prices every open (or closing) position from one batch of option quotes. Reading
1,000 position rows every few seconds cost more than the pricing, so the engine keeps an
:class:`OpenBook` of what the pass needs: id, contract, underlying, quantity, average entry and
the last stored underlying price. The engine re-reads it from the database when it
has written a position since the book was read (every such transaction bumps a version after it
ends, committed or not), each time it writes the snapshots, and at a restart (a new engine
starts without one).

A pass makes a :class:`MarkPass`: one price and one set of Greeks per contract, and the
portfolio exposure summed in position order. :class:`LiveMarks` serves the :class:`LiveMark`
of a position from the latest pass, computed exactly (in ``Decimal``) only when someone asks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from core.brokers.models import OPTION_MULTIPLIER
from core.engine.base import Exposure, LiveMark, _money
from core.marketdata.models import OptionSnapshot


class HeldPosition(NamedTuple):
    """What the mark pass needs of one open or closing position (as stored, in this order)."""

    id: int
    contract: str
    underlying: str
    qty_open: int
    avg_entry: Decimal
    last_underlying: Decimal | None


class Snapshot(NamedTuple):
    """A position's mark at one snapshot, waiting in memory to be written."""

    position_id: int
    at: datetime
    mark: Decimal
    underlying: Decimal | None
    unrealized: Decimal
    greeks: dict[str, float]
    iv: float | None


class OpenBook:
    """The open and closing positions as read at ``version``, indexed for a mark pass."""

    def __init__(self, positions: Sequence[HeldPosition], version: int) -> None:
        self.version = version
        self.positions = tuple(positions)
        ids, contracts, underlyings, qty, avg = (list(col) for col in zip(
            *(p[:5] for p in self.positions), strict=True)) if self.positions else ([],) * 5
        self.index = dict(zip(ids, range(len(ids)), strict=True))
        self.contracts = sorted(set(contracts))
        self.underlyings = sorted(set(underlyings))
        slot = dict(zip(self.contracts, range(len(self.contracts)), strict=True))
        self.contract_of = [slot[c] for c in contracts]
        multiplier = float(OPTION_MULTIPLIER)
        self.units: list[float] = [float(q) * multiplier for q in qty]
        self.avg_entry: list[float] = [float(a) for a in avg]
        # What a position cost (1 when nothing), the base of the P&L event threshold.
        self.cost_float = [
            1.0 if (cost := a * u) == 0 else cost
            for a, u in zip(self.avg_entry, self.units, strict=True)
        ]
        # Kept equal to the stored column: the snapshot write updates both.
        self.last_underlying: list[Decimal | None] = [p.last_underlying for p in self.positions]

    def cost(self, i: int) -> Decimal:
        """Return what the ``i``-th position cost, exactly (1 when nothing)."""
        pos = self.positions[i]
        return pos.avg_entry * pos.qty_open * OPTION_MULTIPLIER or Decimal(1)

    def __len__(self) -> int:
        return len(self.positions)


class MarkPass:
    """The marks of one pass over an :class:`OpenBook`: prices per contract, exposure summed.

    A position is marked when its contract has a mid (both sides quoted) or else a last price.
    The exposure counts the marked positions whose quote carries Greeks: Greek × contracts ×
    100 (delta in shares, theta and vega in dollars).
    """

    def __init__(self, book: OpenBook, quotes: Mapping[str, OptionSnapshot], at: datetime,
                 underlying_now: Mapping[str, Decimal]) -> None:
        self.book = book
        self.at = at
        self.underlying_now = underlying_now
        self.snaps = [quotes.get(c) for c in book.contracts]
        prices: list[float | None] = []
        greeks: list[tuple[float, float, float, float] | None] = []
        for snap in self.snaps:
            if snap is None:
                prices.append(None)
                greeks.append(None)
                continue
            mid = snap.mid
            price = mid if mid is not None else snap.last
            prices.append(None if price != price else price)  # NaN (unequal to itself) -> None
            g = snap.greeks
            if g is None:
                greeks.append(None)
                continue
            d, gm, th, v = row = (g.delta, g.gamma, g.theta, g.vega)
            # Left out of the exposure when a Greek is missing or NaN (unequal to itself).
            complete = d is not None and gm is not None and th is not None and v is not None
            if complete and d == d and gm == gm and th == th and v == v:
                greeks.append(row)
            else:
                greeks.append(None)
        self.prices = prices
        # Plain Python, not numpy: a pass holds a few positions, where numpy's cost per call
        # dominates. The sums run in position order from 0.0, as numpy's sum over axis 0
        # did, so the floats are the same to the bit.
        marked: list[bool] = []
        pnl: list[float] = []
        delta = gamma = theta = vega = 0.0
        counted = 0
        for c, units, avg_entry in zip(book.contract_of, book.units, book.avg_entry, strict=True):
            price = prices[c]
            if price is None:
                marked.append(False)
                pnl.append(math.nan)
                continue
            marked.append(True)
            pnl.append((float(price) - avg_entry) * units)
            row = greeks[c]
            if row is not None:
                delta += row[0] * units
                gamma += row[1] * units
                theta += row[2] * units
                vega += row[3] * units
                counted += 1
        self.marked = marked
        # The unrealized P&L in floats (NaN when not priced), for screening only: the P&L
        # published or stored is :meth:`mark_at`'s, exact to the cent.
        self.pnl_estimate = pnl
        self.exposure = Exposure(float(delta), float(gamma), float(theta), float(vega), counted)
        self._made: dict[int, LiveMark] = {}

    def marked_indices(self) -> list[int]:
        """Return the book indices of the positions this pass marked."""
        return [i for i, ok in enumerate(self.marked) if ok]

    def unmarked_ids(self) -> list[int]:
        """Return the ids of the book's positions this pass could not price."""
        positions = self.book.positions
        return [positions[i].id for i, ok in enumerate(self.marked) if not ok]

    def mark_at(self, i: int) -> LiveMark | None:
        """Return the mark of the book's ``i``-th position (None when it was not priced)."""
        pos = self.book.positions[i]
        made = self._made.get(pos.id)
        if made is not None:
            return made
        c = self.book.contract_of[i]
        px = self.prices[c]
        if px is None:
            return None
        snap = self.snaps[c]
        assert snap is not None
        mark = Decimal(str(px))
        unreal = _money((mark - pos.avg_entry) * (pos.qty_open * OPTION_MULTIPLIER))
        g = snap.greeks
        greeks = {} if g is None else {"delta": g.delta, "gamma": g.gamma, "theta": g.theta,
                                       "vega": g.vega}
        under = self.underlying_now.get(pos.underlying, self.book.last_underlying[i])
        made = LiveMark(mark, unreal, under, greeks, snap.iv, self.at)
        self._made[pos.id] = made
        return made

    def mark_of(self, position_id: int) -> LiveMark | None:
        """Return the mark of a position by id (None when not in the book or not priced)."""
        i = self.book.index.get(position_id)
        return None if i is None else self.mark_at(i)


class LiveMarks(Mapping[int, LiveMark]):
    """The latest mark of every held position, by position id.

    Marks come from the latest pass; a held position that pass could not price keeps the mark
    it had. A position that is no longer held (closed) has none.
    """

    def __init__(self) -> None:
        self._latest: MarkPass | None = None
        self._kept: dict[int, LiveMark] = {}

    def record(self, new: MarkPass) -> None:
        """Make ``new`` the latest pass."""
        kept: dict[int, LiveMark] = {}
        for pid in new.unmarked_ids():
            previous = self.get(pid)
            if previous is not None:
                kept[pid] = previous
        self._kept = kept
        self._latest = new

    def __getitem__(self, position_id: int) -> LiveMark:
        if self._latest is not None:
            mark = self._latest.mark_of(position_id)
            if mark is not None:
                return mark
        return self._kept[position_id]

    def _ids(self) -> list[int]:
        ids = list(self._kept)
        if self._latest is not None:
            positions = self._latest.book.positions
            ids += [positions[i].id for i in self._latest.marked_indices()]
        return ids

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())
