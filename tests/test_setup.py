"""The setup contract: the README's two commands, CI and conda all install the same thing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_installs_the_same_extras_as_make() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "wschat"
    deps = env["dependencies"]
    python = next(str(d) for d in deps if str(d).startswith("python"))
    assert python in ("python>=3.11", "python=3.11", "python=3.12"), python
    pip_part = next(d["pip"] for d in deps if isinstance(d, dict))
    # conda users get everything `make test` installs (the notebooks and the test tools)
    installs = re.findall(r"pip install --quiet -e '([^']+)'", (ROOT / "Makefile").read_text())
    assert ".[notebooks,test]" in installs
    assert pip_part == ["-e .[notebooks,test]"]


def test_make_lab_installs_the_notebooks_needs_only() -> None:
    """`make lab` installs the notebook extra alone; the test tools come with `make test`."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: \$\(LAB_STAMP\) \$\(FANOUT_STAMP\)$", makefile, re.M)
    lab_rule = makefile.split("$(LAB_STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "pip install --quiet -e '.[notebooks]'" in lab_rule
    assert "test" not in lab_rule.replace("MAKECMDGOALS", "")


@pytest.mark.parametrize("changed", ["wschat/server/_fanout.c", "setup.py"])
@pytest.mark.parametrize("goal", ["install", "test", "lab"])
def test_make_rebuilds_the_compiled_fanout_when_its_sources_change(goal: str, changed: str) -> None:
    """A stale wschat/server/_fanout*.so must not go on being tested: with ``changed`` newer
    than everything (make -W), `make GOAL` drops the built module and reinstalls, which
    compiles it again. (make -n: nothing is run.)"""
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine: the Makefile's rules were not checked")
    done = subprocess.run([make, "-n", "-W", changed, goal], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    plan = done.stdout
    drop = plan.find("rm -f wschat/server/_fanout*.so")
    assert drop >= 0, plan
    assert plan.find("pip install --quiet --no-deps -e .", drop) > drop, plan


def test_python_floor_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    names = {re.split(r"[<>=]", d)[0] for d in project["dependencies"]}
    assert {"websockets", "websocket-client"} <= names
    assert all(">=" in d for d in project["dependencies"]), "pin lower bounds"


def test_nest_asyncio_comes_with_the_notebooks_not_the_package() -> None:
    """No wschat module imports nest_asyncio: it is for a reader in Jupyter
    (docs/jupyter-and-asyncio.md) and notebook 02's checks, so the kernel extra (which `make
    lab`, environment.yml and the extra venvs install) brings it, and the core does not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=; ]", r)[0] for r in requirements}

    assert "nest-asyncio" not in names(project["dependencies"])
    assert "nest-asyncio" in names(project["optional-dependencies"]["kernel"])
    assert "wschat[kernel]" in project["optional-dependencies"]["notebooks"]
    importers = [path for path in (ROOT / "wschat").rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+nest_asyncio", path.read_text(), re.M)]
    assert importers == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == "exec make test"
    assert "make test" in readme and "make lab" in readme


def test_package_is_typed() -> None:
    assert (ROOT / "wschat" / "py.typed").exists()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_every_test_the_guarantees_table_names_exists() -> None:
    """Each row of docs/guarantees.md's faults table names the test that proves it; a renamed
    or deleted test must not leave the table pointing at nothing."""
    page = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    section = page.split("| fault, input or load |", 1)[1]
    named = re.findall(r"`(tests/(?:\w+/)?test_\w+\.py)(?:::(\w+))?`", section)
    assert len(named) >= 10, named
    for path, name in named:
        source = (ROOT / path).read_text()
        assert not name or re.search(rf"^(async )?def {name}\(", source, re.M), f"{path}::{name}"


def test_the_contract_copy_in_docs_is_the_shared_one() -> None:
    copy = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    assert copy.startswith("# wschat wire protocol")
    shared = ROOT.parent / "shared" / "PROTOCOL.md"
    if not shared.exists():  # a clone on its own: the copy is all there is
        pytest.skip("no ../shared/PROTOCOL.md beside this clone to compare docs/PROTOCOL.md with")
    assert copy == shared.read_text(encoding="utf-8"), "copy ../shared/PROTOCOL.md to docs/"


def test_the_ten_lines_of_the_operations_page_run_offline_and_print_the_greeting() -> None:
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = page[page.index("## Ten lines"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("\n```", start)]
    assert len(code.strip().splitlines()) <= 10
    env = {**os.environ, "WSCHAT_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("test server not reached: WSCHAT_OFFLINE=1"), lines
    assert lines[-1] == "Olá mundo! LTIS 2025"


def test_no_tracked_file_names_a_package_registry_host() -> None:
    # Installs go through pip, npm and apt with their own configuration; a registry's host name
    # written into the project (a link, a lock file's "resolved" URL) would tie it to one mirror.
    hosts = [".".join(parts) for parts in (("pypi", "org"), ("files", "pythonhosted", "org"),
                                           ("registry", "npmjs", "org"), ("deb", "debian", "org"))]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".png", ".db"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{name}: {host}" for host in hosts if host in text]
    assert not found, found
