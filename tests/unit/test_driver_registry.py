"""Load drivers come from a registry: the engine and backends ask a driver what it is, never its name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.engine.plugins import driver_registry, make_plugin_manager
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.loadsim.drivers import DriverRegistry, LoadDriver, OtlpFleetLoad, RunningLoad

PKG = Path(__file__).resolve().parents[2] / "phoenix_harness"


class _Replay(LoadDriver):
    id = "replay"
    sends_to_receivers = True
    measures = "a recorded fleet"

    def create(self, profile, *, runner=None, targets=(), hosts=1, interval_s=2.0) -> RunningLoad:  # type: ignore[no-untyped-def]
        raise NotImplementedError


class _ReplayPlugin:
    @hookimpl
    def phoenix_register_drivers(self, registry: DriverRegistry) -> None:
        registry.register(_Replay)


def test_built_in_drivers_register_through_the_hook() -> None:
    registry = driver_registry(make_plugin_manager())
    assert registry.ids() == ["otlp", "processes"]
    assert registry.get("processes").real_processes and not registry.get("processes").sends_to_receivers
    assert registry.get("otlp").sends_to_receivers and not registry.get("otlp").real_processes


def test_a_plugin_adds_a_driver() -> None:
    registry = driver_registry(make_plugin_manager(extra=[_ReplayPlugin()]))
    assert "replay" in registry.ids() and registry.get("replay").measures == "a recorded fleet"


def test_an_unknown_driver_is_e407_with_a_suggestion() -> None:
    with pytest.raises(PhoenixError) as info:
        DriverRegistry.builtin().get("otpl")
    assert info.value.code == "E407" and "did you mean 'otlp'" in str(info.value)


def test_the_otlp_driver_needs_targets() -> None:
    with pytest.raises(PhoenixError, match=r"OTLP receiver"):
        OtlpFleetLoad().create(None, targets=[])  # type: ignore[arg-type]


def _driver_name_comparisons(path: Path) -> list[str]:
    """``x == "otlp"`` / ``driver != "processes"`` style comparisons against a built-in driver's name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            names = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
            text = ast.unparse(node)
            if any(n in ("otlp", "processes") for n in names) and "driver" in text:
                found.append(f"{path.relative_to(PKG)}: {text}")
    return found


def test_no_driver_name_switch_outside_the_drivers() -> None:
    hits = [h for p in PKG.rglob("*.py") if p.parent.name != "loadsim" for h in _driver_name_comparisons(p)]
    assert hits == []
