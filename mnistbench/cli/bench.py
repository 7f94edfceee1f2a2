"""``mnistbench bench``: the side-by-side timing report; options in :mod:`mnistbench.bench`."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, with_options: bool) -> None:
    """The bench subcommand; its options (and the bench package) load only when it is used."""
    parser = subparsers.add_parser(
        "bench", help="time the kernels", description="Time the kernel variants."
    )
    if with_options:
        from mnistbench import bench

        bench.configure_parser(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``mnistbench bench``; returns the exit code."""
    from mnistbench import bench

    return bench.run(args)
