"""Shared argparse pieces: the help formatter and range-checked ``type=`` converters."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where the help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def bounded(convert: Callable[[str], Any], valid: Callable[[Any], bool], expected: str):
    """An argparse ``type`` that converts and range-checks, naming what it expected."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


positive_int = bounded(int, lambda v: v >= 1, "a positive integer")
non_negative_int = bounded(int, lambda v: v >= 0, "an integer >= 0")
positive_float = bounded(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
non_negative_float = bounded(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def _widths(text: str) -> tuple[int, ...]:
    widths = tuple(int(part) for part in text.split(","))
    if not widths or any(w < 1 for w in widths):
        raise ValueError(text)
    return widths


layer_widths = bounded(_widths, bool, "comma-separated positive layer widths, e.g. 512,256")
