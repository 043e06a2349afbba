"""ARCHITECTURE.md's import rules, checked with an explicit allowed-import set per package."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "phoenix_harness"

# One explicit allowed-import set per package, exactly ARCHITECTURE.md's table. An entry is a package
# ("spec") or one module of a package ("engine.events": reporting handles the engine's events, nothing else
# of the engine). Imports under TYPE_CHECKING are types only and not checked. None: a front end, everything.
ALLOWED: dict[str, frozenset[str] | None] = {
    "core": frozenset(),
    "hookspecs": frozenset({"core"}),
    "spec": frozenset({"core"}),
    "catalog": frozenset({"core", "spec"}),
    "toolchain": frozenset({"core", "spec", "catalog"}),
    "loadsim": frozenset({"core", "spec", "catalog", "toolchain", "hookspecs"}),
    "measure": frozenset({"core", "spec", "catalog"}),
    # a backend runs the load (it decides where processes live) and shares the scrape job with measure
    "backends": frozenset({"core", "spec", "catalog", "toolchain", "loadsim", "measure", "hookspecs"}),
    "analysis": frozenset({"core", "spec", "loadsim", "measure"}),
    "pipetest": frozenset({"core", "spec", "catalog", "toolchain", "loadsim", "measure"}),
    # the engine knows backends only through their base class and registry (concrete ones are plugins)
    "engine": frozenset({"core", "spec", "catalog", "toolchain", "backends.base", "loadsim", "measure",
                         "analysis", "hookspecs"}),
    "reporting": frozenset({"core", "spec", "catalog", "toolchain", "analysis", "engine.events", "hookspecs"}),
    "cli": None,
    "pytest_plugin": None,
}
ENGINE_FORBIDDEN = ("allure", "allure_commons", "kubernetes", "testcontainers", "docker", "matplotlib", "rich")


def _top(module: str) -> str | None:
    """``phoenix_harness.engine.events`` -> ``engine.events``; None outside the package."""
    parts = module.split(".")
    if parts[0] != "phoenix_harness" or len(parts) < 2:
        return None
    return ".".join(parts[1:3])


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
    """May package ``own`` import ``other`` (``pkg`` or ``pkg.module``)?"""
    rule = ALLOWED[own]
    package = other.split(".")[0]
    return rule is None or package == own or package in rule or other in rule


def test_every_package_has_an_explicit_rule() -> None:
    packages = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in PKG.glob("*")
                if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())} - {"__init__", "__main__"}
    assert packages - set(ALLOWED) == set()


def test_the_rules_forbid_what_architecture_md_forbids() -> None:
    assert not allowed("engine", "reporting") and not allowed("engine", "reporting.console")
    assert not allowed("engine", "backends.kubernetes") and not allowed("engine", "backends.docker")
    assert not allowed("engine", "cli") and not allowed("engine", "pytest_plugin")
    assert not allowed("loadsim", "backends") and not allowed("loadsim", "measure")
    assert not allowed("measure", "loadsim") and not allowed("spec", "catalog")
    assert not allowed("reporting", "engine.run") and not allowed("reporting", "engine")
    assert allowed("reporting", "engine.events") and allowed("engine", "backends.base")
    assert not allowed("analysis", "backends") and not allowed("backends", "engine")
    assert not allowed("core", "spec") and not allowed("pipetest", "engine")


def test_no_module_imports_outside_its_allowed_set() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        own = rel.parts[0].removesuffix(".py")
        if own in ("__init__", "__main__"):
            continue
        for module, type_only in _imports(path):
            other = _top(module)
            if other is None or type_only:
                continue
            if not allowed(own, other):
                problems.append(f"{rel} imports {module} ({own} may import: {sorted(ALLOWED[own] or ())})")
    assert problems == []


def test_engine_never_imports_allure_kubernetes_or_docker() -> None:
    for layer in ("core", "spec", "catalog", "toolchain", "loadsim", "measure", "analysis", "engine", "pipetest"):
        for path in (PKG / layer).rglob("*.py"):
            for module, _ in _imports(path):
                assert not module.startswith(ENGINE_FORBIDDEN), f"{path} imports {module}"


def test_the_package_root_holds_only_the_public_api_and_the_hook_specifications() -> None:
    assert sorted(p.name for p in PKG.glob("*.py")) == ["__init__.py", "hookspecs.py"]


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    """The checker itself sees an engine -> reporting import (the rule is only as good as this)."""
    module = tmp_path / "run.py"
    module.write_text("from phoenix_harness.reporting.console import ConsoleReporter\n")
    imported = [m for m, type_only in _imports(module) if not type_only]
    assert imported == ["phoenix_harness.reporting.console"]
    assert not allowed("engine", _top(imported[0]) or "")
