"""Options analytics: pricing, implied volatility, chains, contract selection and sizing.

Everything here is vectorized over numpy arrays and depends only on numpy and scipy at run
time. Submodules:

- :mod:`core.options.pricing` -- Black–Scholes–Merton prices and Greeks.
- :mod:`core.options.iv` -- implied volatility with reason codes.
- :mod:`core.options.expiry` -- time to the 16:00 New York close on expiry day.
- :mod:`core.options.occ` -- OCC option symbols.
- :mod:`core.options.chain` -- option chains as columns.
- :mod:`core.options.select` -- contract selection with reasons for every rejection.
- :mod:`core.options.sizing` -- position sizing from a risk budget.
- :mod:`core.options.scenarios` -- option value at targets and stop.
"""

from __future__ import annotations
