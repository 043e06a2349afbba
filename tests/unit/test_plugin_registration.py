"""The plugin manager: built-in backends arrive through the entry points third parties use, and a
misspelled hook implementation is an error instead of being silently ignored."""

from __future__ import annotations

import pytest

from phoenix_harness.backends.base import BackendRegistry
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.engine.plugins import backend_registry, make_plugin_manager
from phoenix_harness.hookspecs import hookimpl


class _Typo:
    @hookimpl
    def phoenix_register_backend(self, registry: BackendRegistry) -> None:  # the hook is ..._backends
        raise AssertionError("never called")


class _Fine:
    @hookimpl
    def phoenix_register_backends(self, registry: BackendRegistry) -> None:
        return None


def test_the_built_in_backends_are_entry_points_like_any_plugin() -> None:
    pm = make_plugin_manager()
    assert {"local", "kubernetes", "docker"} <= {name for name, _ in pm.list_name_plugin()}
    assert {"local", "kubernetes", "docker"} <= set(backend_registry(pm).ids())


def test_a_misspelled_hook_implementation_is_an_error_naming_it() -> None:
    with pytest.raises(PhoenixError) as info:
        make_plugin_manager(extra=[_Typo()])
    assert info.value.code == "E180"
    assert "phoenix_register_backend" in str(info.value)


def test_a_correct_extra_plugin_is_accepted() -> None:
    pm = make_plugin_manager(extra=[_Fine()])
    assert "local" in backend_registry(pm).ids()
