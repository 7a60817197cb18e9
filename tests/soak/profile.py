"""The soak profile: ``make soak`` sets ``HYPOTHESIS_PROFILE=soak`` for the long variants."""

from __future__ import annotations

import os


def soak() -> bool:
    """Tell whether the long variants are wanted (``make soak``) rather than the fast ones."""
    return os.environ.get("HYPOTHESIS_PROFILE") == "soak"
