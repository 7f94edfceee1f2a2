"""``mnistbench train`` says on stderr when it compiles the Numba kernels, and only then.

The first run with an empty Numba cache compiles for several seconds before epoch 1; it prints
``compiling Numba kernels for float64 (first run only; cached afterwards)...`` before the first
compilation and ``compiled in X s`` after, on stderr (stdout stays the log and summary). A run
whose kernels come from the cache prints neither. The warm-up that compiles them must cover
every kernel the fit runs, or the wait would only move into epoch 1.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from mnistbench.cli._compiling import CompileNotice

COMPILING = re.compile(
    r"^compiling Numba kernels for (float32|float64) \((.*)\)\.\.\.$", re.MULTILINE
)
COMPILED = re.compile(r"^compiled in (\d+\.\d) s$", re.MULTILINE)
FIRST_RUN = "first run only; cached afterwards"
CACHE_OFF = "Numba's on-disk cache is off, so every run compiles"

# Runs `mnistbench train ARGS`, counting Numba compilations inside the real fit (the estimator
# fit with a callback: the warm-up fit has none) on stderr as "fit compiled N".
COUNTING_TRAIN = """
import sys
from numba.core import event
from mnistbench.cli import main
from mnistbench.estimator import MLPClassifier

compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass

fit = MLPClassifier.fit
def counting_fit(self, *args, **kwargs):
    if self.callback is None:
        return fit(self, *args, **kwargs)
    with event.install_listener("numba:compile", Count()):
        result = fit(self, *args, **kwargs)
        self.predict_proba(args[0])
    print(f"fit compiled {len(compiled)} {compiled}", file=sys.stderr)
    return result
MLPClassifier.fit = counting_fit
sys.exit(main(["train", "--no-plots", *sys.argv[1:]]))
"""


def _train(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", COUNTING_TRAIN, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg", **env},
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_first_run_says_it_compiles_and_a_cached_run_says_nothing(tmp_path):
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    first = _train("--iterations", "2", cwd=tmp_path, NUMBA_CACHE_DIR=str(cache))
    assert COMPILING.findall(first.stderr) == [("float64", FIRST_RUN)]
    assert len(COMPILED.findall(first.stderr)) == 1
    assert float(COMPILED.search(first.stderr).group(1)) > 0
    lines = first.stderr.splitlines()
    assert COMPILED.match(lines[lines.index(COMPILING.search(first.stderr).group(0)) + 1])
    assert "fit compiled 0 []" in first.stderr  # the warm-up compiled everything
    assert "compil" not in first.stdout.replace("compiled or loaded", "")  # stdout: no notice
    assert first.stdout.startswith("training on ")
    assert re.search(r"^JIT warm-up: +\d+\.\d\d s", first.stdout, re.MULTILINE)
    assert any(cache.rglob("*.nbi"))  # the kernels went to the cache dir

    cached = _train("--iterations", "2", cwd=tmp_path, NUMBA_CACHE_DIR=str(cache))
    assert not COMPILING.search(cached.stderr) and not COMPILED.search(cached.stderr)
    assert "fit compiled 0 []" in cached.stderr


@pytest.mark.slow
def test_without_the_cache_the_notice_says_every_run_compiles(tmp_path):
    result = _train("--iterations", "2", cwd=tmp_path, MNISTBENCH_NUMBA_CACHE="0")
    assert COMPILING.findall(result.stderr) == [("float64", CACHE_OFF)]
    assert len(COMPILED.findall(result.stderr)) == 1
    assert "fit compiled 0 []" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags",
    [
        ("--batch-size", "128", "--optimizer", "adam", "--dtype", "float32"),
        ("--batch-size", "4000", "--dtype", "float32"),  # batches split across threads
        ("--hidden", "64,32", "--batch-size", "32", "--optimizer", "momentum"),
    ],
    ids=["minibatch-f32", "big-batch-f32", "layer-stack"],
)
def test_warm_up_compiles_every_kernel_the_fit_runs(flags, tmp_path):
    result = _train("--iterations", "2", *flags, cwd=tmp_path, MNISTBENCH_NUMBA_CACHE="0")
    dtype = "float32" if "float32" in flags else "float64"
    assert COMPILING.findall(result.stderr) == [(dtype, CACHE_OFF)]
    assert "fit compiled 0 []" in result.stderr


def test_notice_prints_once_before_the_first_compilation_and_the_time_after():
    @numba.njit
    def inner(x):
        return x + 1

    @numba.njit
    def outer(x):
        return inner(x) * 2

    stream = io.StringIO()
    with CompileNotice("float32", stream) as notice:
        assert outer(3) == 8  # compiles outer, and inner inside it
        assert stream.getvalue().startswith("compiling Numba kernels for float32 (")
        assert outer(4) == 10  # compiled already
        assert outer(0.5) == 3.0  # a new signature: a second kernel, no second notice
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and COMPILING.match(lines[0]) and COMPILED.match(lines[1])
    assert notice.kernels == 2  # outer twice; inner compiled inside outer is not counted
    assert float(COMPILED.match(lines[1]).group(1)) == pytest.approx(notice.seconds, abs=0.05)


def test_notice_is_silent_when_nothing_compiles():
    @numba.njit
    def twice(x):
        return 2 * x

    twice(1)
    stream = io.StringIO()
    with CompileNotice("float64", stream) as notice:
        assert twice(2) == 4
    assert stream.getvalue() == "" and notice.kernels == 0
