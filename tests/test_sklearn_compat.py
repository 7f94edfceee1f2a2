"""scikit-learn's private helpers are imported in one module, which fails clearly without them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT / "mnistbench" / "estimator" / "_sklearn_compat.py"


def _private_sklearn_imports(path: Path) -> list[str]:
    """``sklearn`` names with a leading underscore (module or name) that ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
            private_module = any(part.startswith("_") for part in node.module.split("."))
            names = [alias.name for alias in node.names if alias.name.startswith("_")]
            if private_module or names:
                found.append(f"{node.module}: {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            found += [
                a.name
                for a in node.names
                if a.name.startswith("sklearn")
                and any(p.startswith("_") for p in a.name.split("."))
            ]
    return found


def test_only_the_compat_module_imports_private_sklearn_names():
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in sorted((ROOT / "mnistbench").rglob("*.py"))
        if path != COMPAT and (names := _private_sklearn_imports(path))
    }
    assert offenders == {}
    assert _private_sklearn_imports(COMPAT)  # the check itself sees private imports


def test_a_scikit_learn_without_the_private_helpers_gets_a_message_naming_the_version():
    # scikit-learn's own modules import the helper too: load them first, then take it away.
    code = (
        "import sys, sklearn.base, mnistbench.estimator\n"
        "for name in [m for m in sys.modules if m.startswith('mnistbench.estimator')]:\n"
        "    del sys.modules[name]\n"
        "del sklearn.base._fit_context\n"
        "import mnistbench.estimator\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: mnistbench's MLPClassifier needs scikit-learn >= 1.6")
    assert "_fit_context" in last and "pip install 'scikit-learn>=1.6'" in last
