"""The results file: one row per finished trial, rewritten atomically after every trial.

One sweep writes a results file at a time: it holds an advisory lock (``fcntl.flock`` on a
hidden ``.NAME.lock`` beside it) from the existence check to its last row, and a second sweep on
the same file, with or without ``--resume``, is refused at once, before any trial runs. Rows
are only ever added or replaced by a rerun of the same trial: the file is rewritten from the
rows read under the lock plus the new ones, to a temporary file that replaces it by rename,
with the file and then its directory synced.

Parquet (``.parquet``/``.pq``, needs pyarrow) or CSV (``.csv``), chosen by the file's suffix.
Columns: ``trial``, ``trial_key``, one column per swept parameter (tuples as JSON text; a
parameter a trial does not set shows the estimator's default), the outcome (``dev_accuracy``,
``test_accuracy``, ``train_seconds``, ``n_iter``, ``threads``: the Numba threads the trial had,
``machine``, ``worker``, ``error``: empty when the trial succeeded), ``seed_setting`` (the trial
ran the seed notebook's setting), ``finished`` (UTC time) and ``grid_fingerprint``.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mnistbench.reference.files import atomic_write

from .grid import GridError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)
OUTCOME_COLUMNS = (
    "dev_accuracy",
    "test_accuracy",
    "train_seconds",
    "n_iter",
    "threads",
    "machine",
    "worker",
    "error",
    "seed_setting",
    "finished",
    "grid_fingerprint",
)
KEY_COLUMNS = ("trial", "trial_key")
_TEXT_COLUMNS = {"trial_key": str, "grid_fingerprint": str, "error": str, "machine": str}

__all__ = ["ResultsFile", "default_path", "file_format", "read_results"]


def have_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def default_path() -> Path:
    """The results file without ``--out``: Parquet where pyarrow is installed, else CSV."""
    return Path("sweep-results.parquet" if have_pyarrow() else "sweep-results.csv")


def file_format(path: Path) -> str:
    """``"parquet"`` or ``"csv"`` by suffix; a Parquet name without pyarrow is refused."""
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        if not have_pyarrow():
            raise GridError(
                f"{path}: Parquet needs pyarrow (pip install pyarrow); or write a .csv file"
            )
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise GridError(f"{path}: results file must end in .csv or .parquet, got {suffix or 'none'!r}")


def read_results(path: str | os.PathLike[str]):
    """A results file as a pandas DataFrame (``error`` as text, empty when ok)."""
    import pandas as pd

    path = Path(path)
    kind = file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=_TEXT_COLUMNS, keep_default_na=True)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise GridError(f"{path}: cannot read results ({e})") from None
    missing = [c for c in ("trial_key", "grid_fingerprint", "error") if c not in frame.columns]
    if missing:
        raise GridError(f"{path}: not a sweep results file (no {', '.join(missing)} column)")
    frame["error"] = frame["error"].fillna("").astype(str)
    return frame


def _check_writable(path: Path) -> None:
    """Refuse, before any trial runs, a results path that cannot be written."""
    if path.is_dir():
        raise GridError(f"results path {path} is a directory")
    directory = path.parent
    if not directory.is_dir():
        raise GridError(f"results path {path}: directory {directory} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise GridError(f"results path {path} is not writable ({e.strerror})") from None
    if path.exists() and not os.access(path, os.R_OK):
        raise GridError(f"results path {path} exists and is not readable")


def lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _lock(path: Path) -> int:
    """Take an exclusive lock on ``path``'s lock file; returns the lock file's descriptor.

    The lock is held until :func:`_unlock`; a second sweep on the same file gets :class:`GridError`
    at once.
    """
    lock = lock_path(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise GridError(f"cannot create the lock file {lock} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise GridError(
                f"{path} is being written by another sweep ({holder}); wait for it to finish, "
                "then continue the file with --resume, or choose another --out"
            ) from None
        try:  # the holder before us may have removed the lock file after we opened it
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}, started {_now()}\n".encode())
    return fd


def _unlock(path: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(lock_path(path))  # while still locked: the next sweep makes a fresh one
    os.close(fd)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a power loss can otherwise undo it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the rename stands anyway
        pass
    finally:
        os.close(fd)


def is_lost(frame) -> Any:
    """Rows whose error was the cluster's, not the trial's; ``--resume`` reruns them.

    They were written by sweeps before this one, which recorded a task lost with its worker or its
    data as a failed trial with no worker (a trial that ran always records where it ran).
    """
    worker = frame["worker"].fillna("").astype(str) if "worker" in frame else ""
    return (frame["error"] != "") & (worker == "")


def _cell(value: Any) -> Any:
    """A parameter value as a table cell: tuples and lists as JSON text."""
    return json.dumps(list(value)) if isinstance(value, (tuple, list)) else value


class ResultsFile:
    """Rows of finished trials, appended one at a time, the whole file rewritten atomically.

    ``resume=False`` refuses an existing file; ``resume=True`` reads it, refuses it if it was
    written by a different grid (leaving it untouched), and exposes :attr:`done`, the keys to
    skip: trials that ran, failed ones too unless ``retry_failed`` (rows of trials lost to the
    cluster by older versions are never done). Holds the file's lock until :meth:`close`;
    another sweep on the same file is refused (:class:`GridError`) while it does.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fingerprint: str,
        parameters: tuple[str, ...],
        *,
        defaults: dict[str, Any] | None = None,
        resume: bool = False,
        retry_failed: bool = False,
    ) -> None:
        self.path = Path(path)
        self.defaults = dict(defaults or {})
        self.kind = file_format(self.path)
        self.fingerprint = fingerprint
        self.parameters = tuple(parameters)
        clash = sorted(set(self.parameters) & set(OUTCOME_COLUMNS + KEY_COLUMNS))
        if clash:
            raise GridError(f"parameter names {clash} clash with results columns")
        _check_writable(self.path)
        self._old = None
        self.done: set[str] = set()
        self.rows: list[dict[str, Any]] = []
        self._lock_fd: int | None = _lock(self.path)
        try:
            if self.path.exists():
                if not resume:
                    raise GridError(
                        f"{self.path} exists: pass --resume to continue it, or choose another --out"
                    )
                self._load(retry_failed)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the file to other sweeps (also done by the process's exit)."""
        if self._lock_fd is not None:
            _unlock(self.path, self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self, retry_failed: bool) -> None:
        frame = read_results(self.path)
        found = sorted(set(frame["grid_fingerprint"].astype(str)))
        if found and found != [self.fingerprint]:
            raise GridError(
                f"{self.path} holds trials of a different grid or data (fingerprint "
                f"{', '.join(found)}; this sweep is {self.fingerprint}); the file was left "
                "untouched: use the grid that wrote it, or another --out"
            )
        self._old = frame
        ran = ~is_lost(frame)
        ok = frame["error"] == ""
        keys = frame["trial_key"].astype(str)
        self.done = set(keys[ran] if not retry_failed else keys[ok])

    @property
    def n_old(self) -> int:
        """Number of rows read from the file that existed before this sweep."""
        return 0 if self._old is None else len(self._old)

    def append(self, record: dict[str, Any], params: dict[str, Any]) -> None:
        """Add one finished trial and rewrite the file (atomically) at once."""
        row = {"trial": record["trial"], "trial_key": record["trial_key"]}
        row.update(
            {name: _cell(params.get(name, self.defaults.get(name))) for name in self.parameters}
        )
        row.update({name: record.get(name) for name in OUTCOME_COLUMNS})
        row["grid_fingerprint"] = self.fingerprint
        row["finished"] = _now()
        self.rows.append(row)
        self.write()

    def frame(self):
        """The old rows (not rerun) and this sweep's rows as one pandas DataFrame."""
        import pandas as pd

        columns = [*KEY_COLUMNS, *self.parameters, *OUTCOME_COLUMNS]
        new = pd.DataFrame(self.rows, columns=columns)
        if self._old is None:
            return new
        old = self._old[~self._old["trial_key"].astype(str).isin(set(new["trial_key"]))]
        if old.empty:
            return new
        return pd.concat([old, new], ignore_index=True)

    def write(self) -> None:
        """Rewrite the whole file atomically (temporary file, fsync, rename)."""
        if self._lock_fd is None:
            raise RuntimeError(f"{self.path} was closed: its lock is released")
        frame = self.frame()
        if self.kind == "parquet":
            for name in frame.columns[frame.dtypes == "object"]:
                kinds = {type(v) for v in frame[name] if v is not None and v == v}
                if len(kinds) > 1:  # pyarrow wants one type per column
                    frame[name] = [None if v is None else str(v) for v in frame[name]]
            with atomic_write(self.path, "wb") as handle:
                frame.to_parquet(handle, index=False)
        else:
            with atomic_write(self.path, "w") as handle:
                frame.to_csv(handle, index=False)
        fsync_directory(self.path.parent)
