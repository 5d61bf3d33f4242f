"""The shape of `rag/`: packages by job, imports that only run downwards, no circles, no module
reaching into another's private names, and modules short enough to read (or saying why not).

Read from the source with `ast` (nothing is imported), so this runs in milliseconds. Run it as
`python tests/test_layout.py` to print the graph's figures."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rag"
MAX_LINES = 500
WHY_LONGER = "Longer than 500 lines because"  # said in the module docstring of a longer module

# Lowest first: a module may import from its own layer or any layer below it, never above.
LAYERS = [
    ("rag.config", "rag.errors", "rag.types", "rag.words", "rag.resources"),
    ("rag.models",),
    ("rag.ingest",),
    ("rag.stores",),
    ("rag.index",),
    ("rag.retrieval",),
    ("rag.answer",),
    ("rag.evaluation",),
    ("rag.serve",),  # the bot behind a server (MCP): over the answering library, under the CLI
    ("rag.cli",),
]
FACADE = "rag"  # rag/__init__.py re-exports the public API (lazily) from every layer


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in the file, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "rag"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "rag":
                continue
            names = []
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in known:  # `from rag.answer import prompts`: the submodule itself
                    out.append((sub, []))
                else:
                    names.append(a.name)
            if names:
                out.append((target, names))
    return out


def layer(name: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{name} is in no layer of tests/test_layout.py")


def graph() -> dict[str, dict[str, list[str]]]:
    known = modules()
    out: dict[str, dict[str, list[str]]] = {}
    for name, path in known.items():
        targets = out.setdefault(name, {})
        for target, names in imports(name, path, known):
            targets.setdefault(target, []).extend(names)
    return out


def cycles(g: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, {}):
            if w not in g or w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def upward(g: dict[str, dict[str, list[str]]]) -> list[str]:
    return [f"{a} -> {b}" for a, targets in g.items() if a != FACADE
            for b in targets if b in g and b != FACADE and layer(b) > layer(a)]


def private(g: dict[str, dict[str, list[str]]]) -> list[str]:
    return [f"{a}: from {b} import {n}" for a, targets in g.items() for b, names in targets.items()
            if b != a for n in names if n.startswith("_") and not n.startswith("__")]


def too_long() -> list[str]:
    out = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and WHY_LONGER not in doc:
            out.append(f"{name}: {n} lines")
    return out


def test_no_import_circles():
    assert cycles(graph()) == []


def test_imports_run_downwards():
    assert upward(graph()) == []


def test_no_module_imports_another_modules_private_names():
    assert private(graph()) == []


def test_every_package_is_installed():
    """A new package under rag/ is listed in pyproject.toml's packages, or the wheel lacks it."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages - listed == set()


def test_modules_are_short_or_say_why():
    assert too_long() == []


if __name__ == "__main__":
    g = graph()
    sizes = sorted(((p.read_text(encoding="utf-8").count("\n"), n) for n, p in modules().items()), reverse=True)
    print(f"{len(g)} modules, {sum(len(t) for t in g.values())} import edges")
    print(f"cycles: {cycles(g)}\nupward: {upward(g)}\nprivate: {private(g)}\ntoo long: {too_long()}")
    print("largest:", ", ".join(f"{n} ({lines})" for lines, n in sizes[:8]))
