"""Random contracts around one underlying, for the bit-for-bit checks of the simulated pricing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from core.marketdata.models import OptionContract, OptionRight
from core.marketdata.sim import DEFAULT_UNIVERSE, SimMarketData


@dataclass
class RandomContracts:
    """``n`` contracts of ``underlying`` (one expiry each) with what the pricing is given."""

    underlying: str
    base_vol: float
    spot: float
    strikes: np.ndarray
    years: np.ndarray  # to each contract's expiry
    contracts: list[OptionContract]
    facts: list  # the market's per-day facts of each contract
    years_by_expiry: dict[date, float]


def random_contracts(m: SimMarketData, underlying: str, rng: np.random.Generator,
                     n: int) -> RandomContracts:
    """Draw ``n`` contracts: strikes from half to one and a half times a drawn spot, from one
    minute to 1.2 years out; the first 40 in the last minute of a 0DTE (zero bids, minimum
    ticks); calls and puts in turn."""
    base_vol = DEFAULT_UNIVERSE[underlying][1]
    spot = float(np.round(DEFAULT_UNIVERSE[underlying][0] * math.exp(rng.normal(0, 0.1)), 2))
    strikes = np.maximum(np.round(spot * rng.uniform(0.5, 1.5, n) * 2) / 2, 0.5)
    years = np.exp(rng.uniform(math.log(60 / 31_536_000), math.log(1.2), n))
    years[:40] = 60 / 31_536_000
    expiries = [date(2025, 1, 1) + timedelta(days=i) for i in range(n)]
    contracts = [OptionContract(underlying, e, OptionRight.CALL if i % 2 else OptionRight.PUT, float(k))
                 for i, (e, k) in enumerate(zip(expiries, strikes, strict=True))]
    facts = m._contract_days(date(2024, 12, 31), contracts)
    return RandomContracts(underlying, base_vol, spot, strikes, years, contracts, facts,
                           dict(zip(expiries, years.tolist(), strict=True)))
