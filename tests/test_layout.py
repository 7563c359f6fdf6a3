"""The layout is the architecture: services stand on a shared layer and never import each other.

Pure and in-process: every module's imports (top-level and lazy ones inside functions) are read with `ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wyoming_xnai", "satellite")
# wyoming_xnai/<part>: services, the shared layer under them, and the entry points that wire services together
SERVICES = frozenset({"asr", "tts", "handle", "rag", "wake"})
SHARED = frozenset({"server", "text", "audio", "client", "index", "settings", "models", "errors", "vocabulary"})
ENTRY_POINTS = frozenset({"cli", "serve", "health", "__main__"})


def layer(module: str) -> str:
    """`service:<name>`, `shared` or `entry` for a dotted module name of ours; `outside` for any other."""
    parts = module.split(".")
    if parts[0] == "satellite":
        return "entry" if parts[1:] == ["__main__"] else "service:satellite"
    if parts[0] != "wyoming_xnai":
        return "outside"
    if len(parts) == 1 or parts[1] in SHARED or parts[1] == "__init__":
        return "shared"
    if parts[1] in SERVICES:
        return f"service:{parts[1]}"
    if parts[1] in ENTRY_POINTS:
        return "entry"
    raise AssertionError(f"{module}: not in any layer; add {parts[1]!r} to SERVICES, SHARED or ENTRY_POINTS")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module a source imports, with `from pkg import sub` counted as `pkg.sub` too."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if not alias.name.startswith("__"))
    return found


def violations(module: str, targets: set[str]) -> list[str]:
    source = layer(module)
    if source == "entry":
        return []
    wrong = []
    for target in sorted(targets):
        kind = layer(target) if target.split(".")[0] in PACKAGES else "outside"
        if kind in ("outside", "shared") or kind == source:
            continue
        wrong.append(f"{module} imports {target} ({source} -> {kind})")
    return wrong


def our_modules() -> dict[str, tuple[Path, bool]]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = (path, path.name == "__init__.py")
    return modules


def test_services_import_only_the_shared_layer() -> None:
    modules = our_modules()
    layers = {layer(name) for name in modules}
    assert {"shared", "entry", "service:satellite"} | {f"service:{s}" for s in SERVICES} <= layers
    problems = []
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        problems += violations(name, imported(tree, name, is_package))
    assert problems == []


def test_the_check_sees_every_kind_of_import() -> None:
    """A lazy import, a `from package import module` and a relative import across layers are all caught."""
    source = (
        "from wyoming_xnai import tts\n"
        "def f():\n"
        "    from wyoming_xnai.rag.ingest import ingest\n"
        "from ..server import queue\n"
        "from . import chain\n"
    )
    found = imported(ast.parse(source), "wyoming_xnai.handle.x", is_package=False)
    assert {"wyoming_xnai.tts", "wyoming_xnai.rag.ingest", "wyoming_xnai.server.queue", "wyoming_xnai.handle.chain"} <= found
    wrong = violations("wyoming_xnai.handle.x", found)
    assert "wyoming_xnai.handle.x imports wyoming_xnai.rag.ingest (service:handle -> service:rag)" in wrong
    assert "wyoming_xnai.handle.x imports wyoming_xnai.tts (service:handle -> service:tts)" in wrong
    assert not [line for line in wrong if "server" in line or "chain" in line]
    assert violations("wyoming_xnai.index.x", {"wyoming_xnai.handle.llm"}) != []
    assert violations("satellite.listen", {"wyoming_xnai.asr.endpoint"}) != []
    assert violations("wyoming_xnai.rag.ingest", {"wyoming_xnai.index.store", "numpy"}) == []
    assert violations("wyoming_xnai.serve", {"wyoming_xnai.asr.server"}) == []


MAX_FUNCTION_LINES = 60


def long_functions(tree: ast.AST, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """(name, line, length) of every function or method, nested ones too, longer than `limit` lines
    counted from its `def` to its last line."""
    return [
        (node.name, node.lineno, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


def test_no_function_over_60_lines() -> None:
    too_long = []
    for name, (path, _) in our_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        too_long += [f"{name}:{line} {function} has {length} lines" for function, line, length in long_functions(tree)]
    assert too_long == []


def test_the_length_check_counts_methods_and_nested_functions() -> None:
    body = "\n".join(f"        x = {i}" for i in range(60))
    source = f"class A:\n    async def m(self):\n{body}\n    def short(self):\n        def inner():\n            pass\n"
    assert long_functions(ast.parse(source)) == [("m", 2, 61)]
