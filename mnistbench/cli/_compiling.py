"""Saying when Numba compiles, so a first run's wait is not silent.

A line on stderr as the first kernel starts compiling, and how long compiling took (a first run
waits ~5-15 s with an empty cache).

Numba reports a ``numba:compile`` event only for a real compilation; a kernel loaded from its
on-disk cache (``cache=True``, see ``kernels/_numba.py``) raises none, so a run whose kernels are
all cached prints nothing. The lines go to stderr, keeping stdout for the summary.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any, TextIO

from numba.core import event
from numba.core.caching import NullCache

__all__ = ["WARM_ROWS", "CompileNotice", "warm_up"]

# Fewest rows the warm-up fit runs on: kernels are specialised by dtypes, layouts and options,
# not by sizes, so a few rows compile what the full data needs (but see warm_up on batch sizes).
WARM_ROWS = 256


class CompileNotice(event.Listener):
    """Tell ``stream`` when Numba starts compiling, and how long compiling took.

    Within ``with CompileNotice("float32"):``, print
    ``compiling Numba kernels for float32 (...)...`` to ``stream`` when the first compilation starts
    and ``compiled in 5.2 s`` (the time spent compiling, summed over kernels) on leaving; nothing
    when nothing compiles.
    """

    def __init__(self, dtype: str, stream: TextIO | None = None) -> None:
        self.dtype = dtype
        self.stream = stream
        self.kernels = 0
        self.seconds = 0.0
        self._depth = 0
        self._started = 0.0

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def on_start(self, ev: event.Event) -> None:
        if self._depth == 0:  # a kernel's callees compile inside it: count the outermost only
            if self.kernels == 0:
                cached = not isinstance(ev.data["dispatcher"]._cache, NullCache)
                why = (
                    "first run only; cached afterwards"
                    if cached
                    else ("Numba's on-disk cache is off, so every run compiles")
                )
                self._print(f"compiling Numba kernels for {self.dtype} ({why})...")
            self.kernels += 1
            self._started = time.perf_counter()
        self._depth += 1

    def on_end(self, ev: event.Event) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> CompileNotice:
        event.register("numba:compile", self)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.unregister("numba:compile", self)
        if self.kernels and exc[0] is None:
            self._print(f"compiled in {self.seconds:.1f} s")


def warm_up(model: Any, X, y, classes, X_dev=None, y_dev=None) -> float:
    """Compile the kernels the real fit runs before its first epoch; returns the seconds it took.

    It fits a copy of ``model`` for one epoch on the first rows (and dev rows) and predicts with it,
    so every kernel the real fit and its summary run is compiled, or loaded from the cache.
    ``model`` is unchanged. A failure is left for the real fit to report.

    The rows are :data:`WARM_ROWS` or one batch (``model.batch_size``), whichever is more: the
    seed kernels split a batch across threads or not by its size (``kernels.parallel``), so the
    warm-up batches must be as big as the real ones (full batch: one iteration on every row).
    """
    from sklearn.base import clone

    started = time.perf_counter()
    rows = min(len(y), max(WARM_ROWS, model.batch_size))
    warm = clone(model).set_params(max_iter=1, callback=None, verbose=False)
    X_small, y_small = X[:rows], y[:rows]
    dev = {} if X_dev is None else {"X_dev": X_dev[:rows], "y_dev": y_dev[:rows]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warm.fit(X_small, y_small, classes=classes, **dev)
            warm.predict_proba(X_small)
    except Exception:  # the real fit meets the same problem and reports it
        pass
    return time.perf_counter() - started
