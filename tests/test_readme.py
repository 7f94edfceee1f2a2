"""Every ```bash and ```python block of README.md and docs/*.md runs as written; docs agree.

Each block runs in a fresh process in an empty temporary folder: python blocks as a script
(``python block.py``), bash blocks with ``bash -e`` (``MPLBACKEND=Agg`` for both). HTML comments
on the lines right above a fence say what a block needs::

    <!-- readme-test: skip (why) -->       not run; reported as skipped with the reason
    <!-- readme-test: needs fashion-mnist --> skipped where /usr/share/datasets/fashion-mnist
                                             is absent
    <!-- readme-test: slow -->             marked ``slow`` (over ~10 s)
    <!-- readme-test: file NAME -->        (on any other block, e.g. ```toml) written to NAME in
                                             the folder of every block of the same section

A block passes when it exits 0 without a traceback; a python block also without a warning.
Test ids are ``<section>-<n>`` for README.md and ``<page>-<section>-<n>`` for docs/PAGE.md, n
counting the runnable blocks of the section from 1. Beside the blocks: every docs page is in
mkdocs.yml's nav, every relative link of README.md and docs/ leads to a file that exists, and
CHANGELOG.md's release is the project's version and announces the deprecated path's removal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
RUNNABLE = ("bash", "python")
TIMEOUT_S = 1200
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^```(\S*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


@dataclass
class Block:
    """A fenced block: where it is, its language, its text and the directives above it."""

    document: str
    section: str
    language: str
    code: str
    line: int
    directives: list[str] = field(default_factory=list)

    def directive(self, name: str) -> str | None:
        """The argument of the directive ``name`` ("" when it has none), else None."""
        for text in self.directives:
            word, _, rest = text.partition(" ")
            if word == name:
                return rest.strip()
        return None


def slug(text: str) -> str:
    """``Set-up (Python 3.10, fresh machine)`` -> ``set-up``: lower case, no parentheses."""
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(.*?\)", "", text).lower()).strip("-") or "top"


def parse(text: str, document: str = "README.md") -> list[Block]:
    """Every fenced block of a Markdown text, with its section (the nearest heading above)."""
    blocks: list[Block] = []
    section, pending, code, language, start = "top", [], None, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if code is not None:  # inside a fence
            if line.strip() == "```":
                blocks.append(
                    Block(document, section, language, "\n".join(code) + "\n", start, pending)
                )
                code, pending = None, []
            else:
                code.append(line)
            continue
        fence, heading = FENCE.match(line), HEADING.match(line)
        directive = DIRECTIVE.match(line.strip())
        if fence:
            code, language, start = [], fence.group(1), number
        elif directive:
            pending.append(directive.group(1))
        elif heading:
            section, pending = slug(heading.group(2)), []
        elif line.strip():
            pending = []  # directives belong to the fence right below them
    if code is not None:
        raise ValueError(f"{document}: the fence opened at line {start} is never closed")
    return blocks


def runnable_blocks(blocks: list[Block]) -> list[tuple[str, Block]]:
    """(test id, block) for every bash/python block; ids count per document and section."""
    counts: dict[tuple[str, str], int] = {}
    out = []
    for block in blocks:
        if block.language not in RUNNABLE:
            continue
        key = (block.document, block.section)
        counts[key] = counts.get(key, 0) + 1
        prefix = "" if block.document == "README.md" else f"{Path(block.document).stem}-"
        out.append((f"{prefix}{block.section}-{counts[key]}", block))
    return out


def section_files(blocks: list[Block], block: Block) -> dict[str, str]:
    """NAME -> text of the ``file NAME`` blocks in ``block``'s section."""
    return {
        b.directive("file"): b.code
        for b in blocks
        if b.document == block.document and b.section == block.section and b.directive("file")
    }


def _params():
    params = []
    for path in DOCUMENTS:
        blocks = parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
        for test_id, block in runnable_blocks(blocks):
            marks = []
            skip = block.directive("skip")
            if skip is not None:
                marks.append(pytest.mark.skip(reason=skip.strip("()") or "marked skip"))
            if block.directive("needs") == "fashion-mnist":
                marks.append(
                    pytest.mark.skipif(
                        not FASHION_MNIST.is_dir(), reason=f"needs Fashion-MNIST at {FASHION_MNIST}"
                    )
                )
            if block.directive("slow") is not None:
                marks.append(pytest.mark.slow)
            files = section_files(blocks, block)
            params.append(pytest.param(block, files, id=test_id, marks=marks))
    return params


@pytest.mark.parametrize(("block", "files"), _params())
def test_block_runs_as_written(block: Block, files: dict[str, str], tmp_path):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    script = tmp_path / ("block.py" if block.language == "python" else "block.sh")
    script.write_text(block.code)
    command = (
        [sys.executable, script.name] if block.language == "python" else ["bash", "-e", script.name]
    )
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    where = f"{block.document} line {block.line}"
    assert result.returncode == 0, f"{where} exited {result.returncode}:\n{result.stderr[-4000:]}"
    assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr[-4000:]}"
    if block.language == "python":
        assert "Warning" not in result.stderr, f"{where} warns:\n{result.stderr[-4000:]}"


SAMPLE = """\
# Title

## First part

<!-- readme-test: skip (needs a cluster) -->
```bash
dask scheduler
```

<!-- readme-test: file grid.toml -->
```toml
[grid]
```

<!-- readme-test: slow -->
<!-- readme-test: needs fashion-mnist -->
```python
print(1)
```

<!-- readme-test: slow -->

A paragraph between a directive and a fence cancels it.

```bash
echo hi
```

### Second part

```text
output
```
"""


def test_parse_reads_sections_languages_directives_and_ids():
    blocks = parse(SAMPLE)
    assert [(b.section, b.language, b.line) for b in blocks] == [
        ("first-part", "bash", 6),
        ("first-part", "toml", 11),
        ("first-part", "python", 17),
        ("first-part", "bash", 25),
        ("second-part", "text", 31),
    ]
    assert blocks[0].directive("skip") == "(needs a cluster)"
    assert blocks[1].directive("file") == "grid.toml" and blocks[1].code == "[grid]\n"
    assert blocks[2].directives == ["slow", "needs fashion-mnist"]
    assert blocks[2].directive("needs") == "fashion-mnist" and blocks[2].directive("skip") is None
    assert blocks[3].directives == []
    ids = [test_id for test_id, _ in runnable_blocks(blocks)]
    assert ids == ["first-part-1", "first-part-2", "first-part-3"]
    assert section_files(blocks, blocks[2]) == {"grid.toml": "[grid]\n"}
    assert section_files(blocks, blocks[4]) == {}


def test_an_unclosed_fence_is_an_error():
    with pytest.raises(ValueError, match="line 3 is never closed"):
        parse("# T\n\n```bash\necho\n")


def test_readme_ids_are_unique_and_every_skip_names_a_reason():
    params = _params()
    ids = [p.id for p in params]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert "a-30-second-tour-1" in ids and "sweeps-sweeps-1" in ids and "data-data-1" in ids
    for param in params:
        for mark in param.marks:
            if mark.name == "skip":
                assert len(mark.kwargs["reason"]) > 10, param.id


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _relative_links(text: str) -> list[str]:
    """Targets of the Markdown links in ``text`` that are paths (no scheme, no bare anchor)."""
    return [m.group(1) for m in LINK.finditer(text) if "://" not in m.group(1)]


def test_every_docs_page_is_in_the_mkdocs_nav():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)\s*$", config, flags=re.MULTILINE))
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert pages == nav, f"pages not in nav: {pages - nav}; nav entries, no page: {nav - pages}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_lead_to_files_that_exist(document: Path):
    missing = [
        target
        for target in _relative_links(document.read_text(encoding="utf-8"))
        if not (document.parent / target).exists()
    ]
    assert not missing, f"{document.relative_to(ROOT)} links to missing files: {missing}"


def test_a_missing_link_target_is_caught():
    assert _relative_links("[a](docs/nowhere.md#x) [b](https://x.org/y.md) [c](#here)") == [
        "docs/nowhere.md"
    ]


def test_changelog_releases_the_project_version_and_dates_the_removal():
    from mnistbench import kernels

    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE).group(1)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert releases and releases[0] == version, (releases, version)
    assert f"will be removed in {kernels.REMOVED_IN}" in changelog
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kernels.MLPClassifier  # noqa: B018 (the deprecated import path)
    assert any(f"removed in mnistbench {kernels.REMOVED_IN}" in str(w.message) for w in caught)


def test_the_layout_names_every_module():
    layout = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    modules = [
        path
        for folder in ("reference", "kernels", "mnistbench", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    ]
    missing = [str(path.relative_to(ROOT)) for path in modules if f"`{path.name}`" not in layout]
    assert not missing, f"docs/development.md's Layout does not name {missing}"
