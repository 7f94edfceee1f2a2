"""CI's minimum-versions stage pins what pyproject.toml promises: every runtime dependency's lower
bound, exactly, in .ci/minimum-versions.txt (so the two cannot drift apart).
"""

import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "minimum-versions.txt"


def _key(requirement: Requirement) -> tuple[str, str]:
    return canonicalize_name(requirement.name), str(requirement.marker or "")


def lower_bounds() -> dict[tuple[str, str], str]:
    """(name, marker) -> the ``>=`` version of each runtime dependency in pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    bounds = {}
    for line in dependencies:
        requirement = Requirement(line)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(lower) == 1, f"{line!r}: give exactly one lower bound (>=), for CI to test"
        bounds[_key(requirement)] = lower[0]
    return bounds


def pins() -> dict[tuple[str, str], str]:
    """(name, marker) -> the ``==`` version of each line of .ci/minimum-versions.txt."""
    pinned = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert [spec.operator for spec in specs] == ["=="], f"{line!r}: pin with == only"
        assert _key(requirement) not in pinned, f"{line!r}: pinned twice"
        pinned[_key(requirement)] = specs[0].version
    return pinned


def test_minimum_versions_pin_every_lower_bound_of_pyproject():
    assert pins() == lower_bounds()


def test_minimum_versions_cover_the_core_libraries():
    names = {name for name, _ in pins()}
    assert {"numpy", "numba", "scipy", "scikit-learn", "pandas"} <= names
