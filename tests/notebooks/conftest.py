"""Each module here checks one notebook (``NOTEBOOK = "01_conceitos"``) after it ran.

The notebook runs once per Python of :data:`nbkit.PYTHONS` (the ``notebook_run`` fixture,
scoped to the module and parametrized by Python); every ``check_*`` function of the module is
then one test per Python (the ``check`` parameter), see ``tests/nbkit.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nbkit import PYTHONS, Run, checks_of, run_notebook


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "notebook_run" in metafunc.fixturenames:
        metafunc.parametrize("notebook_run", PYTHONS, indirect=True, scope="module",
                             ids=[f"py-{v}" for v in PYTHONS])
    if "check" in metafunc.fixturenames:
        checks = checks_of(metafunc.module)
        metafunc.parametrize("check", checks, ids=[c.__name__ for c in checks])


@pytest.fixture(scope="module")
def notebook_run(request: pytest.FixtureRequest) -> Run:
    """The module's notebook, run with the module's checks in a kernel of one Python."""
    module: Any = request.module
    return run_notebook(module.NOTEBOOK, checks_of(module), request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A notebook's first test also runs the notebook (the module fixture): give it time."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.timeout(900))
