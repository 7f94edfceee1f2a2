"""Dask preload for the embedded cluster's worker processes.

Ctrl-C in a terminal reaches every process of the group; the client already cancels the trials
and closes the cluster, so the workers ignore SIGINT instead of dying with tracebacks.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
