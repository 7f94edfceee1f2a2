"""Sweep grids: estimator parameter values from a TOML file and ``--set`` flags, as trials.

A grid file names estimator parameters under ``[grid]`` (a list of choices, one value, or a
``{loguniform = [low, high]}`` / ``{uniform = [low, high]}`` range for random search) and may
set sweep options under ``[sweep]`` (``search``, ``trials``, ``repeat``, ``seed``)::

    [grid]
    hidden_layer_sizes = [[32], [128]]
    learning_rate_init = [1e-3, 1e-2]
    solver = "adam"

    [sweep]
    repeat = 2
    include_seed = true   # also run the seed notebook's setting (marked in the report)

Random search draws each choice uniformly, ``uniform`` ranges uniformly and ``loguniform``
ranges (for rates) uniformly in the logarithm, and never draws a setting twice.

Every trial is one grid point plus one seed; its key is a hash of its parameters, so the same
trial has the same key in every run (what ``--resume`` matches on).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SEARCHES = ("grid", "random")
DISTRIBUTIONS = ("loguniform", "uniform")
SWEEP_OPTIONS = ("search", "trials", "repeat", "seed", "include_seed")
MAX_TRIALS = 1_000_000
# Draws of one random-search point before giving up on finding a setting not drawn before (a
# grid of choices only then picks among the settings left; one with ranges reports an error).
MAX_REDRAWS = 64

__all__ = [
    "DISTRIBUTIONS",
    "SEARCHES",
    "Dimension",
    "Grid",
    "GridError",
    "Trial",
    "canonical",
    "load_grid",
    "parse_set",
    "trial_key",
]


class GridError(ValueError):
    """A grid file, ``--set`` flag or sweep option is malformed; the message names it."""


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: discrete ``values``, or a ``(kind, low, high)`` ``distribution``."""

    name: str
    values: tuple[Any, ...] = ()
    distribution: tuple[str, float, float] | None = None

    def describe(self) -> Any:
        """A JSON-able form (for the fingerprint)."""
        return list(self.distribution) if self.distribution else [_jsonable(v) for v in self.values]


@dataclass(frozen=True)
class Trial:
    """One training run: ``params`` (including the seed) and their stable ``key``."""

    index: int
    params: dict[str, Any]
    key: str


@dataclass(frozen=True)
class Grid:
    """Swept dimensions (in order) and the sweep options."""

    dimensions: tuple[Dimension, ...]
    search: str = "grid"
    trials: int | None = None
    repeat: int = 1
    seed: int = 0
    include_seed: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the grid's parameters, in order."""
        return tuple(d.name for d in self.dimensions)

    def with_options(self, **options: Any) -> Grid:
        """A copy with the options given (None leaves one as it is), checked."""
        grid = replace(self, **{k: v for k, v in options.items() if v is not None})
        grid.check()
        return grid

    def check(self) -> None:
        """Raise ``GridError`` naming the first option that is out of range."""
        if not isinstance(self.include_seed, bool):
            raise GridError(f"include_seed must be true or false, got {self.include_seed!r}")
        if self.search not in SEARCHES:
            raise GridError(f"search must be one of {SEARCHES}, got {self.search!r}")
        for name in ("repeat", "seed") + (("trials",) if self.trials is not None else ()):
            value = getattr(self, name)
            low = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise GridError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.dimensions:
            raise GridError("the grid sets no parameters: give a GRID file or --set name=v1,v2")
        if self.search == "random" and self.trials is None:
            raise GridError("--search random needs --trials N")
        if self.search == "grid":
            if self.trials is not None:
                raise GridError("--trials applies to --search random (the full grid runs all)")
            ranged = [d.name for d in self.dimensions if d.distribution]
            if ranged:
                raise GridError(f"{', '.join(ranged)}: a range needs --search random --trials N")

    def points(self) -> list[dict[str, Any]]:
        """The parameter settings to run, in order (without seeds)."""
        self.check()
        if self.search == "grid":
            size = math.prod(len(d.values) for d in self.dimensions)
            if size > MAX_TRIALS:
                raise GridError(f"the full grid has {size:,} points (more than {MAX_TRIALS:,})")
            return self._all_points()
        distinct = self.distinct_settings()
        trials = self.trials
        assert trials is not None  # check(): random search needs --trials
        if distinct is not None and trials > distinct:
            raise GridError(
                f"--trials {trials} is more than the {distinct} distinct settings of a grid "
                "without ranges: run them all with --search grid, or give a parameter a range "
                "({loguniform = [low, high]} or {uniform = [low, high]})"
            )
        drawn: set[str] = set()
        return [self._draw(i, drawn) for i in range(trials)]

    def distinct_settings(self) -> int | None:
        """How many distinct points the dimensions hold; None when one of them is a range."""
        if any(d.distribution for d in self.dimensions):
            return None
        return math.prod(len(d.values) for d in self.dimensions)

    def _draw(self, i: int, drawn: set[str]) -> dict[str, Any]:
        """Random point ``i``, never one already in ``drawn`` (canonical texts; it is added).

        Each point has its own generator, drawn from again while the point repeats an earlier
        one, so the first N points never depend on N. Choices are uniform, ``uniform`` ranges
        uniform and ``loguniform`` ranges uniform in the logarithm (for rates: as many draws
        in [1e-4, 1e-3] as in [1e-3, 1e-2]), rounded to 3 significant digits.
        """
        rng = np.random.default_rng([self.seed, i])
        for _ in range(MAX_REDRAWS):
            point = self._point(rng)
            text = canonical(point)
            if text not in drawn:
                drawn.add(text)
                return point
        if self.distinct_settings() is not None:  # nearly every choice drawn: take a free one
            free = [p for p in self._all_points() if canonical(p) not in drawn]
            point = free[int(rng.integers(len(free)))]
            drawn.add(canonical(point))
            return point
        raise GridError(
            f"random search drew {MAX_REDRAWS} settings in a row that it had drawn before "
            f"(trial {i}): widen the ranges or ask for fewer --trials"
        )

    def _point(self, rng: np.random.Generator) -> dict[str, Any]:
        point = {}
        for d in self.dimensions:
            if d.distribution is None:
                point[d.name] = d.values[int(rng.integers(len(d.values)))]
                continue
            kind, low, high = d.distribution
            u = rng.random()
            if kind == "loguniform":
                value = math.exp(math.log(low) + u * math.log(high / low))
            else:
                value = low + u * (high - low)
            point[d.name] = float(f"{value:.3g}")
        return point

    def _all_points(self) -> list[dict[str, Any]]:
        return [
            dict(zip(self.names, combo, strict=True))
            for combo in itertools.product(*(d.values for d in self.dimensions))
        ]

    def trials_for(
        self, seed_name: str | None, points: list[dict[str, Any]] | None = None, start: int = 0
    ) -> list[Trial]:
        """Every point (default: :meth:`points`) times ``repeat`` seeds, as trials.

        The seeds are 0..repeat-1 in ``seed_name``; the trials are keyed and numbered from
        ``start``.
        """
        if seed_name is not None and seed_name in self.names and self.repeat > 1:
            raise GridError(f"the grid sets {seed_name}; use its values or --repeat, not both")
        if seed_name is None and self.repeat > 1:
            raise GridError("--repeat needs an estimator parameter for the seed")
        seed_key = seed_name if seed_name is not None and seed_name not in self.names else None
        trials: list[Trial] = []
        for point in self.points() if points is None else points:
            for seed in range(self.repeat):
                params = dict(point) if seed_key is None else {**point, seed_key: seed}
                trials.append(Trial(start + len(trials), params, trial_key(params)))
        return trials

    def fingerprint(self, context: dict[str, Any] | None = None) -> str:
        """Hash of the parameter space (order-free) and ``context`` (data, split)."""
        space = {d.name: d.describe() for d in self.dimensions}
        text = canonical({"space": space, "context": context or {}})
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def canonical(value: Any) -> str:
    """Stable JSON text: sorted keys, tuples as lists."""
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=True)


def trial_key(params: dict[str, Any]) -> str:
    """16 hex digits identifying a parameter setting with its seed."""
    return hashlib.sha256(canonical(params).encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _normalize(value: Any, where: str) -> Any:
    """Arrays become tuples; "none"/"null" become None; anything else TOML gives stays."""
    if isinstance(value, list):
        return tuple(_normalize(v, where) for v in value)
    if isinstance(value, str) and value.strip().lower() in ("none", "null"):
        return None
    if isinstance(value, (dict,)) or not isinstance(value, (str, int, float, bool, tuple)):
        raise GridError(f"{where}: unsupported value {value!r}")
    if isinstance(value, float) and math.isnan(value):
        raise GridError(f"{where}: value must be a number, got nan")
    return value


def _dedupe(values: list[Any]) -> tuple[Any, ...]:
    seen, kept = set(), []
    for v in values:
        text = canonical(v)
        if text not in seen:
            seen.add(text)
            kept.append(v)
    return tuple(kept)


def _dimension(name: str, raw: Any, where: str) -> Dimension:
    """One ``[grid]`` entry: a list of choices, one value, or a one-key range table."""
    if isinstance(raw, dict):
        if len(raw) != 1 or next(iter(raw)) not in DISTRIBUTIONS:
            raise GridError(
                f"{where}: a range is {{loguniform = [low, high]}} or {{uniform = [low, high]}}, "
                f"got {raw!r}"
            )
        kind, bounds = next(iter(raw.items()))
        ok = isinstance(bounds, list) and len(bounds) == 2
        ok = ok and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
        if not ok or not math.isfinite(bounds[0]) or not bounds[0] < bounds[1] < math.inf:
            raise GridError(f"{where}: {kind} needs [low, high] with low < high, got {bounds!r}")
        if kind == "loguniform" and bounds[0] <= 0:
            raise GridError(f"{where}: loguniform needs low > 0, got {bounds[0]!r}")
        return Dimension(name, distribution=(kind, float(bounds[0]), float(bounds[1])))
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise GridError(f"{where}: empty list of values")
    return Dimension(name, values=_dedupe([_normalize(v, where) for v in values]))


def load_grid(path: str | Path | None = None, sets: list[str] | tuple[str, ...] = ()) -> Grid:
    """The grid of a TOML file (optional) with ``--set name=v1,v2`` flags applied over it."""
    dimensions: dict[str, Dimension] = {}
    options: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GridError(f"{path}: no such grid file") from None
        except IsADirectoryError:
            raise GridError(f"{path}: is a directory, expected a TOML grid file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise GridError(f"{path}: not valid TOML ({e})") from None
        unknown = sorted(set(document) - {"grid", "sweep"})
        if unknown:
            raise GridError(f"{path}: unknown table(s) {unknown}; expected [grid] and [sweep]")
        table = document.get("grid", {})
        if not isinstance(table, dict):
            raise GridError(f"{path}: grid must be a table ([grid])")
        for name, raw in table.items():
            dimensions[name] = _dimension(name, raw, f"{path}: [grid] {name}")
        options = document.get("sweep", {})
        if not isinstance(options, dict):
            raise GridError(f"{path}: sweep must be a table ([sweep])")
        bad = sorted(set(options) - set(SWEEP_OPTIONS))
        if bad:
            raise GridError(f"{path}: unknown [sweep] option(s) {bad}; known: {SWEEP_OPTIONS}")
    for text in sets:
        name, values = parse_set(text)
        dimensions[name] = Dimension(name, values=values)
    grid = Grid(tuple(dimensions.values()), **options)
    if grid.dimensions:
        grid.check()
    return grid


def parse_set(text: str) -> tuple[str, tuple[Any, ...]]:
    """``"name=v1,v2"`` -> (name, values). Brackets group: ``hidden_layer_sizes=[64,32],[128]``.

    Each value is None (``none``), a bool, an int, a float, an array (``[..]`` or ``(..)``) or,
    failing those, a string.
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise GridError(f"--set expects name=v1,v2,..., got {text!r}")
    items = _split_top_level(rest, text)
    if not items or any(not item.strip() for item in items):
        raise GridError(f"--set {text!r}: empty value")
    return name, _dedupe([_parse_value(item.strip(), text) for item in items])


def _split_top_level(text: str, whole: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                raise GridError(f"--set {whole!r}: unbalanced brackets")
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise GridError(f"--set {whole!r}: unbalanced brackets")
    items.append("".join(current))
    return items


def _parse_value(item: str, whole: str) -> Any:
    lowered = item.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            value = convert(item)
        except ValueError:
            continue
        if isinstance(value, float) and math.isnan(value):
            raise GridError(f"--set {whole!r}: value must be a number, got {item}")
        return value
    if item[0] in "[(":
        body = "[" + item[1:-1] + "]"
        try:
            value = tomllib.loads(f"v = {body}")["v"]
        except tomllib.TOMLDecodeError:
            raise GridError(f"--set {whole!r}: cannot read the array {item}") from None
        return _normalize(value, f"--set {whole!r}")
    return item
