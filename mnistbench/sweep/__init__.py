"""Hyper-parameter sweeps on Dask: grids of estimator settings, run in parallel, one row each.

``grid`` reads grids (TOML ``[grid]``/``[sweep]`` and ``--set name=v1,v2``) and expands them to
keyed trials; ``params`` checks names and values against the estimator; ``trial`` fits one
setting (on a worker); ``runner`` runs trials on a Dask cluster or serially; ``results`` writes
the results file atomically after every trial; ``session`` ties them together; ``report``
summarizes a results file and plots accuracy against training time.

Importing this package does not import Dask; :func:`run_sweep` does, when it starts a cluster.
"""

from .grid import Grid, GridError, Trial, load_grid, parse_set
from .results import ResultsFile, read_results
from .session import SweepOptions, run_sweep

__all__ = [
    "Grid",
    "GridError",
    "ResultsFile",
    "SweepOptions",
    "Trial",
    "load_grid",
    "parse_set",
    "read_results",
    "run_sweep",
]
