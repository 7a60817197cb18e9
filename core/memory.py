"""Give back to the operating system the memory a long-running process has freed.

A bot that trades day after day allocates and frees a day's worth of objects (bars, quotes,
orders, events) every session. CPython and glibc keep much of what was freed for reuse, in
fragments the operating system still counts as resident, so the footprint creeps up over
weeks although nothing is kept alive. Once a day, at the engine's daily reset, a full garbage
collection and glibc's ``malloc_trim`` hand the free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Collect garbage and return free heap pages to the OS; tell whether any were returned."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    return bool(trim(0))
