"""Repository-wide defaults: the catalog is found from here, and this repository's own pluggy plugins
(``plugins/``) are registered for every experiment run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from phoenix_harness.pytest_plugin.plugin import add_phoenix_plugin

ROOT = Path(__file__).parent


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(f"phoenix_local_plugins.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    for path in sorted((ROOT / "plugins").glob("*.py")):
        if not path.name.startswith("_"):
            add_phoenix_plugin(config, _load(path))
