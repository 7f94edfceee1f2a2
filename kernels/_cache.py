"""Numba's on-disk cache, invalidated by any change to any kernel source file.

Numba keys a cached function by its own source file only, so a kernel that calls (and so
compiles in) a function from another file kept running the old code after that file changed:
editing ``_approx.py`` or ``_gemm.py`` left ``_jit_network.py``'s cached kernels stale in an
editable install or a checkout that moves between commits (asv, git bisect). Here the cache
locators used for ``kernels/*.py`` add a digest of all of those files to the source stamp
Numba checks, so a change to any of them recompiles every kernel once. Functions outside
``kernels/`` keep Numba's own locators.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba.core import caching

KERNELS = Path(__file__).resolve().parent


def sources_digest(folder: Path = KERNELS) -> str:
    """SHA-256 (16 hex digits) of every ``*.py`` file in ``folder``, names and contents."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


SOURCES_DIGEST = sources_digest()


def _salted(base: type) -> type:
    """``base`` restricted to kernel files, with the kernels' digest in its source stamp."""

    class KernelsLocator(base):  # type: ignore[misc, valid-type]
        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(py_file).resolve().parent != KERNELS:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return (super().get_source_stamp(), SOURCES_DIGEST)

    KernelsLocator.__name__ = KernelsLocator.__qualname__ = f"Kernels{base.__name__}"
    return KernelsLocator


def _numba_locator(name: str) -> type | None:
    """A class of Numba's caching module (public in recent versions, ``_``-prefixed before)."""
    return getattr(caching, name, None) or getattr(caching, f"_{name}", None)


_BASES = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
LOCATORS = tuple(_salted(base) for base in map(_numba_locator, _BASES) if base is not None)
_IMPL = _numba_locator("CacheImpl")
if _IMPL is not None and not any(c.__name__.startswith("Kernels") for c in _IMPL._locator_classes):
    _IMPL._locator_classes[:0] = LOCATORS
