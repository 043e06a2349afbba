"""Bad catalog metadata (wrong types, missing fields, unknown keys, huge numbers, unicode, empty files)
is refused with a PhoenixError: never another exception, never a hang."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_harness.catalog import Catalog, Wiring, render_pipeline
from phoenix_harness.core.errors import PhoenixError

REPO = Path(__file__).resolve().parents[2]

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)


def _wiring() -> Wiring:
    ports = iter(range(20000, 30000))
    return Wiring(variant="v", remote_write_endpoint="http://127.0.0.1:1/w", telemetry_port=1,
                  allocate_port=lambda: next(ports))


def _exercise(root: Path) -> None:
    catalog = Catalog(root)
    for name in catalog.names():
        render_pipeline(catalog.get(name), _wiring())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "otel-configs" / "pipelines", tmp_path / "pipelines")
    return tmp_path


@settings(max_examples=150, deadline=2000, suppress_health_check=list(HealthCheck))
@given(entry=values, name=st.text(min_size=1, max_size=20))
def test_garbage_pipeline_entries_are_refused_cleanly(root: Path, entry: object, name: str) -> None:
    (root / "catalog.yaml").write_text(yaml.safe_dump({"pipelines": {name: entry}}, allow_unicode=True))
    try:
        _exercise(root)
    except PhoenixError as exc:
        assert exc.code.startswith("E2")


@settings(max_examples=100, deadline=2000, suppress_health_check=list(HealthCheck))
@given(param=values, default=values)
def test_garbage_parameters_are_refused_cleanly(root: Path, param: object, default: object) -> None:
    doc = {"pipelines": {"p": {"file": "pipelines/process-priority-filter-v1.yaml",
                               "parameters": {"critical_pattern": param, "high_pattern": {"default": default}}}}}
    (root / "catalog.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        _exercise(root)
    except PhoenixError as exc:
        assert exc.code.startswith("E2")


@pytest.mark.parametrize("text", ["", "\n", "[]", "pipelines: 3", "pipelines:\n  x: {file: 1}", "\u2603: [",
                                  "pipelines:\n  x:\n    file: pipelines/nope.yaml", "pipelines: {x: {file: ''}}"])
def test_odd_catalog_files(root: Path, text: str) -> None:
    (root / "catalog.yaml").write_text(text)
    try:
        _exercise(root)
    except PhoenixError as exc:
        assert exc.code.startswith("E2") or exc.code.startswith("E10")
