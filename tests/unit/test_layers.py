"""ARCHITECTURE.md's import rules, checked: no module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "phoenix_harness"

LAYER = {
    "errors": 0, "secrets": 0, "procs": 0, "hookspecs": 0,
    "spec": 1, "catalog": 2, "toolchain": 3, "backends": 4, "kube": 4, "cli_kube": 9, "cli_common": 9,
    "loadsim": 4.5, "measure": 4.6,
    "analysis": 7, "events": 8.1, "reporting": 8.2, "engine": 8.3, "plugin_manager": 8.3, "probe": 8.3,
    "experiments": 8.3, "pipetest": 8.3, "pytest_pipetest": 9, "loadsim_service": 9,
    "options": 9, "pytest_plugin": 9, "cli": 9, "strategies": 9,
}
# Documented exceptions (ARCHITECTURE.md): backends run load drivers and share the scrape job name.
ALLOWED_UPWARD = {("backends", "loadsim"), ("backends", "measure"), ("plugin_manager", "backends"),
                  ("reporting", "analysis"), ("analysis", "loadsim"), ("analysis", "measure")}
ENGINE_FORBIDDEN = ("allure", "allure_commons", "kubernetes", "testcontainers", "docker")


def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "phoenix_harness" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, only under TYPE_CHECKING)"""
    tree = ast.parse(path.read_text())
    out: list[tuple[str, bool]] = []
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                type_only.add(id(sub))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in type_only) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, id(node) in type_only))
    return out


def test_no_module_imports_a_higher_layer() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for module, type_only in _imports(path):
            other = _top(module)
            if other is None or other == own or type_only:
                continue
            if LAYER.get(other, 0) > LAYER.get(own, 0) and (own, other) not in ALLOWED_UPWARD:
                problems.append(f"{rel} imports {module} (layer {LAYER.get(other)} > {LAYER.get(own)})")
    assert problems == []


def test_engine_never_imports_allure_kubernetes_or_docker() -> None:
    for name in ("engine.py", "plugin_manager.py"):
        for module, _ in _imports(PKG / name):
            assert not module.startswith(ENGINE_FORBIDDEN), f"{name} imports {module}"
    for layer in ("spec", "catalog", "toolchain", "loadsim", "measure", "analysis"):
        for path in (PKG / layer).rglob("*.py"):
            for module, _ in _imports(path):
                assert not module.startswith(ENGINE_FORBIDDEN), f"{path} imports {module}"
