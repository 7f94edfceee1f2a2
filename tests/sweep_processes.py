"""Running ``mnistbench sweep`` in tests: in-process, or as a process group of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mnistbench.cli import main


def sweep(*argv: str | Path) -> int:
    """``mnistbench sweep ARGV`` in this process; its exit code."""
    return main(["sweep", *map(str, argv)])


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child before it runs Python: SIGINT's default action, even if this process ignores
    SIGINT (pytest started as a background job or under ``nohup``; ignored signals are inherited).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*argv: str | Path, cwd: Path) -> subprocess.Popen:
    """``mnistbench sweep ARGV`` in a session (and process group) of its own, Ctrl-C not ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "mnistbench.cli", "sweep", *map(str, argv)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # An ignored signal stays ignored across exec (a handled one is reset): only then.
        preexec_fn=(
            _ctrl_c_as_in_a_terminal if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None
        ),
    )


def group_gone(pgid: int, timeout: float = 15.0) -> bool:
    """True once no process of the group is left (the cluster was closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
