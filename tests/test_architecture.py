"""The layout's rules, kept by the suite: the core is pure, no package imports "upward", no
import cycle, no module grows past ~400 lines unnoticed, and no two tracked paths differ only
in letter case (a clone on macOS or Windows would lose one of them)."""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wschat"

#: Each subpackage and the wschat subpackages it may import (itself included). The top-level
#: modules (``__init__``, ``__main__``, ``cli``) sit above all of them and may import any.
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "store": {"core", "store"},
    "server": {"core", "store", "server"},
    "cluster": {"core", "store", "server", "cluster"},
    "client": {"core", "client"},
    "teaching": {"core", "store", "server", "client", "teaching"},
}

#: What the pure core never imports: I/O, event loops, threads, databases.
IO_MODULES = {"asyncio", "websockets", "websocket", "sqlite3", "redis", "threading", "socket",
              "ssl", "subprocess", "selectors"}

#: Modules allowed past the size bound, and why: a reason a reviewer accepts, not "it grew".
#: An exemption goes once its module is back under the bound (checked below).
LONG_MODULES = {
    "wschat/core/wire.py": "RFC 6455's wire format in the order of the RFC (handshake §4, frames"
                           " §5, close §7), read top to bottom beside notebook 01 as one text;"
                           " every part is pure and shares the one Opcode/Frame vocabulary",
    "wschat/store/sqlite.py": "one SQL schema and the queries that depend on it: a column change"
                              " must be seen with every statement that reads it",
    "wschat/cluster/redis_store.py": "the Redis key layout and every command that reads or writes"
                                     " it, one schema in one place like sqlite.py",
}
MAX_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(("wschat", *parts)).removesuffix(".__init__"), path


def imports(path: Path, module: str) -> Iterator[str]:
    """Everything ``path`` imports, absolute, at any depth (imports inside functions too):
    ``module`` for ``import module``, ``source.name`` for ``from source import name``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                assert node.module is not None
                source = node.module
            # "from P import n": n may be a module of P or a name in P: keep both steps
            yield from (f"{source}.{alias.name}" for alias in node.names)


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_subpackage_has_a_rule() -> None:
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert found == set(ALLOWED)


@pytest.mark.parametrize(("module", "path"), list(modules()), ids=lambda v: str(v))
def test_no_package_imports_upward_and_the_core_imports_no_io(module: str, path: Path) -> None:
    own = layer(module)
    if own is None:
        return  # the top level may use every layer
    for imported in imports(path, module):
        top = imported.split(".")[0]
        if own == "core":
            assert top not in IO_MODULES, f"{module} imports {imported}: the core does no I/O"
        if top == "wschat":
            other = layer(imported)
            assert other in ALLOWED[own], f"{module} imports {imported} ({other} is above {own})"


def test_there_is_no_import_cycle() -> None:
    known = dict(modules())
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        graph[module] = set()
        for imported in imports(path, module):
            # "from wschat.core import frames" names a module; "from wschat.x import Name" its module
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target in known and target != module and not target.startswith(module + "."):
                graph[module].add(target)
    # A package's __init__ re-exports its modules: an edge from a module to its own package's
    # __init__ is not a cycle of code, so packages count only when imported from outside.
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


def test_the_checks_above_can_fail(tmp_path: Path) -> None:
    """The import scan sees relative, absolute and function-level imports alike."""
    path = tmp_path / "mod.py"
    path.write_text("from ..server import app\ndef f():\n    import asyncio\n    from . import x\n")
    found = list(imports(path, "wschat.core.mod"))
    assert found == ["wschat.server.app", "asyncio", "wschat.core.x"]
    assert layer("wschat.server.app") == "server" and layer("wschat.cli") is None


def test_no_module_is_long_without_a_reason() -> None:
    for _, path in modules():
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if name in LONG_MODULES:
            assert lines > MAX_LINES, f"{name} has {lines} lines: drop its LONG_MODULES exemption"
            continue
        assert lines <= MAX_LINES, f"{name} has {lines} lines; split it or say why in LONG_MODULES"


def test_every_exemption_names_a_module_that_exists() -> None:
    missing = [name for name in LONG_MODULES if not (ROOT / name).is_file()]
    assert not missing, f"LONG_MODULES names modules that are gone: {missing}"


def test_no_two_tracked_paths_differ_only_in_case() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    seen: dict[str, str] = {}
    for path in tracked:
        for i in range(1, path.count("/") + 2):
            prefix = "/".join(path.split("/")[:i])
            other = seen.setdefault(prefix.casefold(), prefix)
            assert other == prefix, f"{other!r} and {prefix!r} differ only in letter case"


def test_no_two_modules_share_a_basename() -> None:
    """A name says which side it is on: ``cluster/redis_bus`` beside ``server/bus``, never two
    ``bus`` modules (a traceback, an import or a search for ``bus.py`` would be ambiguous).
    Packages count by their folder's name (``cluster/redis_store.py`` would repeat ``store/``)."""
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "__init__.py":
            where.setdefault(path.stem, []).append(path.relative_to(ROOT).as_posix())
    for init in sorted(PACKAGE.rglob("__init__.py")):
        if init.parent != PACKAGE:
            where.setdefault(init.parent.name, []).append(init.parent.relative_to(ROOT).as_posix() + "/")
    repeated = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not repeated, f"modules that share a basename (rename one to say its side): {repeated}"
