"""The one place Numba compile options are set.

Every kernel is compiled by :func:`njit` or :func:`inline` (``tests/test_numba_settings.py`` fails
if any other file calls ``numba.njit``).

* ``FASTMATH`` keeps NaN/Inf semantics ("nnan"/"ninf" are left out) so divergence stays
  detectable;
* ``njit(exact=True)`` compiles without fast-math, for the optimizer steps and the augmentation
  kernels (and ``options(exact=True)`` for the dropout and batch-norm entry points of
  ``_jit_regularized``, which ``network_job`` calls rather than inlines): there the rounding
  must be fixed by the source. With "contract"/"reassoc" LLVM chose
  how to pair the multiply-adds (``b1 * m + (1 - b1) * g``, a bilinear sample's weights)
  separately in each copy of a function (the standalone compile a cold process calls, and the
  copy inlined into its caller that the disk cache keeps), so a float32 Adam run, or an affine
  augmentation, gave other bits with a cold cache than with a warm one. The optimizer steps are
  elementwise and memory-bound; the augmentation kernels are scalar float64 code that
  reproduces scipy.ndimage's arithmetic;
* ``CACHE``: kernels are cached on disk (``NUMBA_CACHE_DIR`` moves the cache,
  ``MNISTBENCH_NUMBA_CACHE=0`` turns it off); where no cache directory is writable (Numba finds
  no locator) a kernel is compiled without one instead of failing at import;
* :func:`inline` marks a function that is inlined at Numba IR level into its one caller (compiled
  once inside it, not once standalone and again there); it is never cached on its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numba

# First, before any function is decorated: fixes the CPU features Numba compiles for and the
# variant chosen for them (vector width, register tile).
from . import _cache, _cpu  # noqa: F401

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
CACHE = os.environ.get("MNISTBENCH_NUMBA_CACHE", "1") != "0"


def cpu_options() -> dict[str, Any]:
    """Options that depend on the CPU the kernels run on: none.

    The CPU-dependent choices (vector width, register tile) are made in :mod:`._cpu` through
    Numba's CPU features, which Numba reads once per process, not per function; whatever this
    returns is passed to every kernel (both :func:`njit` and :func:`inline`).
    """
    return {}


def options(exact: bool = False) -> dict[str, Any]:
    """The options every kernel is compiled with (``parallel``/``cache``/``inline`` aside).

    ``exact``: no fast-math flags (see the module's docstring).
    """
    fastmath = set() if exact else set(FASTMATH)
    return dict(
        fastmath=fastmath, boundscheck=False, error_model="numpy", nogil=True, **cpu_options()
    )


def njit(fn: Callable | None = None, *, parallel: bool = False, exact: bool = False) -> Any:
    """The project's ``numba.njit``: ``@njit``, ``@njit()``, ``@njit(parallel=True)``...

    ``exact=True``: without fast-math (the optimizer steps; see the module's docstring).
    """

    def decorate(fn: Callable) -> Any:
        if CACHE:
            try:
                return numba.njit(cache=True, parallel=parallel, **options(exact))(fn)
            except RuntimeError:  # "cannot cache function ...: no locator available"
                pass
        return numba.njit(parallel=parallel, **options(exact))(fn)

    return decorate if fn is None else decorate(fn)


def inline(fn: Callable) -> Any:
    """``@inline``: :func:`njit`'s options plus ``inline="always"``, uncached."""
    return numba.njit(inline="always", **options())(fn)
