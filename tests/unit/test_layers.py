"""ARCHITECTURE.md's import rules, checked with an explicit allowed-import set per package."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "phoenix_harness"

SHARED = frozenset({"errors", "secrets", "procs", "hookspecs"})  # layer 0
SPEC = SHARED | {"spec"}
CATALOG = SPEC | {"catalog"}
TOOLCHAIN = CATALOG | {"toolchain"}
LOADSIM = TOOLCHAIN | {"loadsim"}
MEASURE = CATALOG | {"measure"}
ANALYSIS = SPEC | {"analysis", "loadsim", "measure"}
BELOW_EVENTS = TOOLCHAIN | {"backends", "kube", "loadsim", "measure", "analysis"}
EVENTS = BELOW_EVENTS | {"events"}
ENGINE = EVENTS | {"engine", "plugin_manager", "probe", "experiments", "pipetest"}  # never reporting (8b)
FRONT_ENDS = None  # everything

# Explicit allowed-import sets per top-level package/module, from ARCHITECTURE.md's table.
ALLOWED: dict[str, frozenset[str] | None] = {
    **dict.fromkeys(SHARED, SHARED),
    "spec": SPEC, "catalog": CATALOG, "toolchain": TOOLCHAIN,
    # backends run load drivers (5) and share the scrape job name (6); kube/ is part of the backends layer
    "backends": TOOLCHAIN | {"backends", "kube", "loadsim", "measure"}, "kube": TOOLCHAIN | {"kube"},
    "loadsim": LOADSIM, "measure": MEASURE, "analysis": ANALYSIS,
    "events": EVENTS, "reporting": EVENTS | {"reporting"},
    "engine": ENGINE, "plugin_manager": ENGINE, "probe": ENGINE, "experiments": ENGINE, "pipetest": ENGINE,
    **dict.fromkeys(("cli", "cli_kube", "cli_common", "options", "pytest_plugin", "pytest_pipetest",
                     "loadsim_service", "strategies"), FRONT_ENDS),
}
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


def allowed(own: str, other: str) -> bool:
    rule = ALLOWED[own]
    return rule is None or other in rule


def test_every_package_has_an_explicit_rule() -> None:
    packages = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in PKG.glob("*")
                if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())} - {"__init__", "__main__"}
    assert packages - set(ALLOWED) == set()


def test_the_rules_forbid_what_architecture_md_forbids() -> None:
    assert not allowed("engine", "reporting")
    assert not allowed("loadsim", "backends") and not allowed("loadsim", "measure")
    assert not allowed("measure", "loadsim") and not allowed("spec", "catalog")
    assert not allowed("reporting", "engine") and not allowed("events", "reporting")
    assert not allowed("analysis", "backends") and not allowed("backends", "engine")


def test_no_module_imports_outside_its_allowed_set() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        own = rel.parts[0].removesuffix(".py")
        if own in ("__init__", "__main__"):
            continue
        for module, type_only in _imports(path):
            other = _top(module)
            if other is None or other == own or type_only:
                continue
            if not allowed(own, other):
                problems.append(f"{rel} imports {module} ({own} may import: {sorted(ALLOWED[own] or ())})")
    assert problems == []


def test_engine_never_imports_allure_kubernetes_or_docker() -> None:
    for name in ("engine.py", "plugin_manager.py"):
        for module, _ in _imports(PKG / name):
            assert not module.startswith(ENGINE_FORBIDDEN), f"{name} imports {module}"
    for layer in ("spec", "catalog", "toolchain", "loadsim", "measure", "analysis"):
        for path in (PKG / layer).rglob("*.py"):
            for module, _ in _imports(path):
                assert not module.startswith(ENGINE_FORBIDDEN), f"{path} imports {module}"
