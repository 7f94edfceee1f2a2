"""Ctrl-C during a sweep: held where it would break something, and never lost.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives.
Two kinds of place make that wrong in a sweep. While the embedded cluster starts or closes, or
while a row is written, it would leave a half-built cluster, workers dying mid-import or a row
half-counted: :func:`sigint_held` holds the signal until the block is done. Inside code whose
exceptions Python swallows (a garbage-collector callback, a finalizer: "Exception ignored in
..."), the interrupt would vanish and the sweep run on: :func:`interrupts_kept` remembers every
Ctrl-C, keeps the swallowed ones off the screen, and :func:`check` raises one again where the
sweep looks (the runner looks at least every :data:`runner.POLL_S` seconds).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["check", "interrupts_kept", "interrupts_noted", "sigint_held"]

_requested = threading.Event()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) while the block runs.

    One pressed meanwhile calls the usual handler (``KeyboardInterrupt``) when the block is done.

    SIGINT is blocked in this thread, so every thread and process started meanwhile starts with
    it blocked (the cluster's loop thread, its worker processes), and the handler only records
    it meanwhile: Python runs handlers in the main thread whichever thread the kernel hands the
    signal to, and threads started earlier (BLAS, Numba) do not block it.
    """
    if not _in_main_thread():
        yield
        return
    handler = signal.getsignal(signal.SIGINT)
    caught: list[int] = []
    if callable(handler):  # SIG_IGN (a background job) and SIG_DFL stay as they are
        signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if callable(handler):
            signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending SIGINT arrives here
        if caught and callable(handler):  # caught only where the handler was callable
            handler(signal.SIGINT, None)


@contextlib.contextmanager
def interrupts_kept() -> Iterator[None]:
    """Remember every Ctrl-C while the block runs, for :func:`check`.

    A ``KeyboardInterrupt`` that Python swallows meanwhile (raised in a callback it cannot propagate
    from) is not printed. Outside the main thread, or with Ctrl-C ignored, nothing changes.
    """
    if not (_in_main_thread() and callable(signal.getsignal(signal.SIGINT))):
        yield
        return
    hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    _requested.clear()
    sys.unraisablehook = quiet
    try:
        with interrupts_noted(_requested):
            yield
    finally:
        sys.unraisablehook = hook
        _requested.clear()


@contextlib.contextmanager
def interrupts_noted(noted: threading.Event | None = None) -> Iterator[threading.Event]:
    """Yield an event (``noted``, or a new one) set by every Ctrl-C while the block runs.

    Ctrl-C still interrupts: the handler in place is called after the event is set. For the
    command's outermost level: a library can turn the ``KeyboardInterrupt`` into an error of its
    own (pandas' C reader, interrupted while it reads the data, raises ``ParserError: ... Calling
    read(nbytes) on source failed``); the caller then asks the event whether that error was a
    Ctrl-C. Nested blocks (:func:`interrupts_kept` is one) keep working inside. Outside the main
    thread, or with Ctrl-C ignored, the event is never set.
    """
    noted = threading.Event() if noted is None else noted
    handler = signal.getsignal(signal.SIGINT) if _in_main_thread() else None
    if not callable(handler):
        yield noted
        return

    def note(signum: int, frame: Any) -> None:
        noted.set()
        handler(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, handler)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed inside :func:`interrupts_kept`."""
    if _requested.is_set():
        raise KeyboardInterrupt
