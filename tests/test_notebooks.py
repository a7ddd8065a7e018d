"""Every notebook is stored clean, links to what exists, imports wschat, stays within the
teaching budgets, and has its module of checks in tests/notebooks/.

Running them is tests/notebooks/'s job: each notebook runs top to bottom in a fresh kernel,
offline, on this Python and on each of :data:`nbkit.EXTRA_PYTHONS`, and then its checks run
in that kernel (tests/nbkit.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbkit import EXTRA_PYTHONS, LINK, heading_anchors

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks() -> None:
    assert [p.name[:2] for p in PATHS][:2] == ["01", "02"]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_notebook_has_its_module_of_checks(path: Path) -> None:
    """A notebook without tests/notebooks/test_<name>.py would never run in the suite."""
    module = ROOT / "tests" / "notebooks" / f"test_{path.stem}.py"
    assert module.exists(), f"add {module.relative_to(ROOT)} (see tests/nbkit.py)"
    assert f'NOTEBOOK = "{path.stem}"' in module.read_text(encoding="utf-8")


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


# --------------------------------------------------------------------------- teaching budgets

#: What one notebook may hold for a reader: markdown words, visible ``assert`` lines. 01-03
#: answer the test (about an hour: 5,500 words together), 04-05 go deeper (4,000 together);
#: at most 70 visible asserts in all. Every other invariant lives in tests/notebooks/.
BUDGETS: dict[str, tuple[int, int]] = {
    "01": (2_100, 15),
    "02": (1_200, 10),
    "03": (2_200, 16),
    "04": (2_100, 15),
    "05": (1_900, 12),
}
MAX_MARKDOWN_CELL_WORDS = 300
MAX_CODE_CELL_LINES = 15
#: One longer code cell per notebook may hold up to this many lines (03's chat from zero).
MAX_LONG_CELL_LINES = 50


def words(text: str) -> int:
    """Words as the budget counts them: runs of word characters."""
    return len(re.findall(r"\w+", text))


def visible_asserts(cell: nbformat.NotebookNode) -> int:
    return len(re.findall(r"^\s*assert\b", cell.source, re.M))


def code_lines(cell: nbformat.NotebookNode) -> int:
    return len([line for line in cell.source.splitlines() if line.strip()])


def test_the_budgets_add_up_to_the_series_budget() -> None:
    assert sum(BUDGETS[n][0] for n in ("01", "02", "03")) <= 5_500
    assert sum(BUDGETS[n][0] for n in ("04", "05")) <= 4_000
    assert sum(asserts for _, asserts in BUDGETS.values()) <= 70
    assert sorted(BUDGETS) == [p.name[:2] for p in PATHS]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_stays_within_its_reading_budget(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    markdown = [c for c in cells if c.cell_type == "markdown"]
    code = [c for c in cells if c.cell_type == "code"]
    max_words, max_asserts = BUDGETS[path.name[:2]]
    assert sum(words(c.source) for c in markdown) <= max_words
    assert sum(visible_asserts(c) for c in code) <= max_asserts
    long_cells = [n for n in map(code_lines, code) if n > MAX_CODE_CELL_LINES]
    assert len(long_cells) <= 1 and all(n <= MAX_LONG_CELL_LINES for n in long_cells), long_cells
    heavy = [words(c.source) for c in markdown if words(c.source) > MAX_MARKDOWN_CELL_WORDS]
    assert heavy == []
