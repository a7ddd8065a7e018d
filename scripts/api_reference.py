"""Write docs/api.md, the reference of wschat's public API, from the code.

    .venv/bin/python scripts/api_reference.py            (writes docs/api.md)
    .venv/bin/python scripts/api_reference.py --check    (exit 1 if docs/api.md is stale)

Every name in ``wschat.__all__``, grouped by the part it belongs to, with its signature and its
docstring; for a class, its public methods and properties too. The code is read by griffe
(static analysis: nothing is imported or run), so the page is the same on every machine. A
comment ``#:`` above a constant (or after an enum member) is its docstring, as in Sphinx.

A class that has every method of an exported Protocol (the stores and :class:`Store`) is said
to implement it, and its methods without a docstring take that Protocol's. Anything public
still without a docstring is listed by :func:`undocumented`; tests/test_api_reference.py fails
on it, and on a docs/api.md that differs from :func:`render`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api.md"
REGENERATE = ".venv/bin/python scripts/api_reference.py"

#: The page's sections: a heading, and the modules (prefixes of ``wschat._WHERE``) it holds.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("The client", ("wschat.client",)),
    ("The server", ("wschat.server",)),
    ("The stores", ("wschat.store",)),
    ("Several processes on Redis", ("wschat.cluster",)),
    ("The teaching tools", ("wschat.teaching",)),
    ("Codes, errors and the version", ("wschat.core", "wschat")),
)

Obj = griffe.Object | griffe.Alias


def load() -> griffe.Module:
    """The ``wschat`` package of this source tree, as griffe reads it."""
    logging.getLogger("griffe").setLevel(logging.ERROR)  # aliases to the stdlib stay unresolved
    module = griffe.load(
        "wschat", search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False,
        docstring_parser=None,
    )
    assert isinstance(module, griffe.Module)
    return module


def public_names() -> list[tuple[str, str]]:
    """(name, module that defines it) of every name in ``wschat.__all__``, in its order
    (``__version__`` is wschat's own). Importing wschat loads only its lazy table."""
    import wschat

    return [(name, wschat._WHERE.get(name, "wschat")) for name in wschat.__all__]


# --------------------------------------------------------------------------- reading


def target(obj: Obj) -> griffe.Object:
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def comment_doc(obj: griffe.Object) -> str | None:
    """The ``#:`` comment of an attribute: the lines right above it, or the end of its line."""
    if obj.filepath is None or obj.lineno is None or isinstance(obj.filepath, list):
        return None
    lines = Path(obj.filepath).read_text(encoding="utf-8").splitlines()
    own = lines[obj.lineno - 1]
    if "#: " in own:
        return own.split("#: ", 1)[1].strip()
    above: list[str] = []
    number = obj.lineno - 2
    while number >= 0 and lines[number].strip().startswith("#:"):
        above.insert(0, lines[number].strip()[2:].strip())
        number -= 1
    return " ".join(above) or None


def docstring(obj: griffe.Object) -> str | None:
    if obj.docstring is not None and obj.docstring.value.strip():
        return obj.docstring.value
    if obj.is_attribute:
        return comment_doc(obj)
    return None


def is_protocol(cls: griffe.Object) -> bool:
    return isinstance(cls, griffe.Class) and any(str(b) in ("Protocol", "typing.Protocol")
                                                 for b in cls.bases)


def callables(cls: griffe.Class) -> Iterator[griffe.Object]:
    """Public methods and properties, the class's own first, then the inherited ones."""
    for members in (cls.members, cls.inherited_members):
        for name, member in members.items():
            obj = target(member)
            if name.startswith("_"):
                continue
            if obj.is_function or (obj.is_attribute and "property" in obj.labels):
                yield obj


def plain_attributes(cls: griffe.Class) -> list[str]:
    """Public data attributes of a class that is neither a dataclass nor an enum."""
    if "dataclass" in cls.labels or is_enum(cls):
        return []
    return [name for name, member in cls.all_members.items()
            if not name.startswith("_") and target(member).is_attribute
            and "property" not in target(member).labels]


def is_enum(cls: griffe.Class) -> bool:
    return any(str(b).startswith("enum.") for b in cls.bases)


def implemented(cls: griffe.Class, protocols: list[griffe.Class]) -> griffe.Class | None:
    """The exported Protocol whose every method ``cls`` has (structurally, as typing does)."""
    own = {obj.name for obj in callables(cls)}
    for protocol in protocols:
        wanted = {obj.name for obj in callables(protocol)}
        if protocol is not cls and wanted and wanted <= own:
            return protocol
    return None


def undocumented(package: griffe.Module | None = None) -> list[str]:
    """Every public name, method or property of the API that has no docstring."""
    package = package or load()
    found = []
    objects = [(name, target(package[name])) for name, _ in public_names()]
    protocols = [obj for _, obj in objects if isinstance(obj, griffe.Class) and is_protocol(obj)]
    for name, obj in objects:
        if name != "__version__" and docstring(obj) is None:
            found.append(name)
        if isinstance(obj, griffe.Class):
            protocol = implemented(obj, protocols)
            for member in callables(obj):
                if docstring(member) is None and not (
                    protocol is not None and member.name in protocol.members
                ):
                    found.append(f"{name}.{member.name}")
    return found


# --------------------------------------------------------------------------- writing

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`<]+?)(?: <([^`>]+)>)?`")


def markdown(text: str) -> str:
    """A docstring (reST as this project writes it) as Markdown: roles become code, ````x````
    becomes ``x``, a doctest becomes a fenced block."""

    def role(match: re.Match[str]) -> str:
        short, shown, _ = match.groups()
        return f"`{shown.rsplit('.', 1)[-1] if short else shown}`"

    text = ROLE.sub(role, text)
    text = re.sub(r"``(.+?)``", r"`\1`", text, flags=re.S)
    out: list[str] = []
    in_doctest = False
    for line in text.splitlines():
        starts = line.startswith((">>> ", "... ")) or line in (">>>", "...")
        if starts and not in_doctest:
            out.append("```pycon")
            in_doctest = True
        elif not starts and in_doctest:
            out.append("```")
            in_doctest = False
        out.append(line.rstrip()[:-1] if line.rstrip().endswith("::") else line.rstrip())
    if in_doctest:
        out.append("```")
    return "\n".join(out).strip()


def parameters(function: griffe.Function, skip_self: bool) -> str:
    parts: list[str] = []
    star_done = False
    params = list(function.parameters)
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    for index, param in enumerate(params):
        kind = param.kind
        if kind is griffe.ParameterKind.keyword_only and not star_done:
            parts.append("*")
            star_done = True
        text = param.name
        if kind is griffe.ParameterKind.var_positional:
            text, star_done = "*" + text, True
        elif kind is griffe.ParameterKind.var_keyword:
            text = "**" + text
        if param.annotation is not None:
            text += f": {param.annotation}"
        if param.default is not None and kind not in (griffe.ParameterKind.var_positional,
                                                      griffe.ParameterKind.var_keyword):
            text += f" = {param.default}" if param.annotation is not None else f"={param.default}"
        parts.append(text)
        following = params[index + 1].kind if index + 1 < len(params) else None
        if kind is griffe.ParameterKind.positional_only and following is not kind:
            parts.append("/")
    return ", ".join(parts)


def signature(obj: griffe.Object, name: str) -> str:
    if isinstance(obj, griffe.Function):
        prefix = "async def" if "async" in obj.labels else "def"
        returns = f" -> {obj.returns}" if obj.returns is not None else ""
        return f"{prefix} {name}({parameters(obj, skip_self=obj.parent is not None and obj.parent.is_class)}){returns}"
    if isinstance(obj, griffe.Class):
        init = obj.all_members.get("__init__")
        if init is not None and isinstance(target(init), griffe.Function) and not is_enum(obj):
            function = target(init)
            assert isinstance(function, griffe.Function)
            return f"class {name}({parameters(function, skip_self=True)})"
        bases = ", ".join(str(b) for b in obj.bases)
        return f"class {name}({bases})" if bases else f"class {name}"
    assert isinstance(obj, griffe.Attribute)
    annotation = f": {obj.annotation}" if obj.annotation is not None else ""
    if "property" in obj.labels:
        return f"property {name}{annotation}"
    if name == "__version__":
        return "__version__: str"
    return f"{name}{annotation} = {obj.value}"


def code(text: str) -> list[str]:
    return ["```py", text, "```"]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def class_body(name: str, cls: griffe.Class, protocols: list[griffe.Class]) -> list[str]:
    lines: list[str] = []
    bases = [str(b) for b in cls.bases if str(b) not in ("Protocol", "typing.Protocol")]
    if bases and cls.all_members.get("__init__") is not None and not is_enum(cls):
        lines += ["", "Bases: " + ", ".join(f"`{b}`" for b in bases) + "."]
    if is_enum(cls):
        lines += ["", "| member | value | meaning |", "| --- | --- | --- |"]
        for member_name, member in cls.members.items():
            obj = target(member)
            if isinstance(obj, griffe.Attribute) and not member_name.startswith("_"):
                lines.append(f"| `{member_name}` | `{obj.value}` | {markdown(docstring(obj) or '')} |")
    attributes = plain_attributes(cls)
    if attributes:
        lines += ["", "Attributes: " + ", ".join(f"`{a}`" for a in attributes) + "."]
    protocol = implemented(cls, protocols)
    if protocol is not None:
        shared = [m.name for m in callables(cls) if m.name in protocol.members]
        lines += ["", f"Implements [`{protocol.name}`](#{anchor(protocol.name)}): "
                  + ", ".join(f"`{n}`" for n in shared) + f" do what `{protocol.name}` says."]
    for member in callables(cls):
        if protocol is not None and member.name in protocol.members and docstring(member) is None:
            continue
        lines += ["", f"#### `{name}.{member.name}`", "", *code(signature(member, member.name))]
        text = docstring(member)
        if text:
            lines += ["", markdown(text)]
    return lines


def render(package: griffe.Module | None = None) -> str:
    """The whole of docs/api.md."""
    package = package or load()
    names = public_names()
    objects = {name: target(package[name]) for name, _ in names}
    protocols = [o for o in objects.values() if isinstance(o, griffe.Class) and is_protocol(o)]
    grouped: dict[str, list[str]] = {heading: [] for heading, _ in SECTIONS}
    for name, module in names:
        heading = next(h for h, prefixes in SECTIONS
                       if any(module == p or module.startswith(p + ".") for p in prefixes))
        grouped[heading].append(name)
    out = [
        "# wschat's public API",
        "",
        f"<!-- Generated from the code by scripts/api_reference.py: do not edit by hand. "
        f"Regenerate with `{REGENERATE}`. -->",
        "",
        "Every name that `import wschat` offers (`wschat.__all__`), with its signature and its "
        "docstring, read from the source by griffe. Import them from the package, as in a "
        "notebook of your own:",
        "",
        *code("from wschat import ChatClient, ServerThread"),
        "",
        "Nothing below needs the server, redis-py or websocket-client until you use it: the "
        "package imports each name on first use. Every exception derives from `WschatError`; "
        "the whole tree is drawn in the docstring of `wschat.core.errors`. The wire protocol "
        "is [PROTOCOL.md](PROTOCOL.md).",
        "",
    ]
    for heading, members in grouped.items():
        out.append(f"- [{heading}](#{anchor(heading)}): "
                   + ", ".join(f"[`{n}`](#{anchor(n)})" for n in members))
    for heading, members in grouped.items():
        out += ["", f"## {heading}"]
        for name in members:
            obj = objects[name]
            module = dict(names)[name]
            out += ["", f"### `{name}`", "", *code(signature(obj, name)), "",
                    f"From `{obj.module.path}`" + (f", exported by `{module}`" if module not in
                                                   (obj.module.path, "wschat") else "") + "."]
            text = docstring(obj)
            if text:
                out += ["", markdown(text)]
            if isinstance(obj, griffe.Class):
                out += class_body(name, obj, protocols)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    package = load()
    missing = undocumented(package)
    if missing:
        print("public names without a docstring: " + ", ".join(missing), file=sys.stderr)
        return 1
    text = render(package)
    if argv[1:] == ["--check"]:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"docs/api.md is stale: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
