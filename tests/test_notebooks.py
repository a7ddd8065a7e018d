"""Every notebook runs top to bottom in a fresh kernel, offline, and is stored clean.

The notebooks end their claim cells with ``assert``, so running them checks the lessons.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


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
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []


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
