"""Writing files atomically: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, else it is removed.

    The temporary name starts with a dot and ends in ``.tmp``, so it is never mistaken for the
    finished file. ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8, ``newline=""``).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file name")
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"directory {directory} does not exist (writing {path.name})")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    encoding, newline = (None, None) if "b" in mode else ("utf-8", "")
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 -> what open() gives
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
