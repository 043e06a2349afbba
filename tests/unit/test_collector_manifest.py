"""The collector build's cache key and rendered manifest: local modules (components and local replaces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_harness.toolchain.otelcol import local_modules, manifest_hash, render_manifest

REPO = Path(__file__).resolve().parents[2]
MANIFEST = """\
dist:
  name: otelcol-test
  version: 0.155.0
  output_path: ./build
processors:
  - gomod: example.dev/otelcol/aprocessor v0.0.0
    path: ./components/aprocessor
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v0.155.0
replaces:
  - example.dev/otelcol/shared => ./components/shared
  - example.dev/remote v1.0.0 => example.dev/fork v1.0.1
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    for module in ("aprocessor", "shared"):
        folder = tmp_path / "components" / module
        folder.mkdir(parents=True)
        (folder / "go.mod").write_text(f"module example.dev/otelcol/{module}\n")
        (folder / f"{module}.go").write_text(f"package {module}\n")
    path = tmp_path / "collector-manifest.yaml"
    path.write_text(MANIFEST)
    return path


def test_local_modules_are_component_paths_and_local_replace_targets(manifest: Path) -> None:
    root = manifest.parent.resolve()
    assert local_modules(manifest) == [root / "components" / "aprocessor", root / "components" / "shared"]


@pytest.mark.parametrize("changed", ["components/aprocessor/aprocessor.go", "components/shared/shared.go",
                                     "components/shared/go.mod"])
def test_a_source_change_in_any_local_module_changes_the_cache_key(manifest: Path, changed: str) -> None:
    before = manifest_hash(manifest)
    file = manifest.parent / changed
    file.write_text(file.read_text() + "// changed\n")
    assert manifest_hash(manifest) != before


def test_a_new_source_file_in_a_replaced_module_changes_the_cache_key(manifest: Path) -> None:
    before = manifest_hash(manifest)
    (manifest.parent / "components" / "shared" / "more.go").write_text("package shared\n")
    assert manifest_hash(manifest) != before


def test_files_outside_the_local_modules_leave_the_cache_key(manifest: Path) -> None:
    before = manifest_hash(manifest)
    (manifest.parent / "components" / "shared" / "README.md").write_text("notes\n")
    unrelated = manifest.parent / "components" / "unused"
    unrelated.mkdir()
    (unrelated / "unused.go").write_text("package unused\n")
    assert manifest_hash(manifest) == before


def test_rendered_manifest_makes_local_paths_absolute(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "src"
    data = render_manifest(manifest, out)
    root = manifest.parent.resolve()
    assert data["dist"]["output_path"] == str(out)
    assert data["processors"][0]["path"] == str(root / "components" / "aprocessor")
    assert "path" not in data["processors"][1]
    assert data["replaces"] == [f"example.dev/otelcol/shared => {root / 'components' / 'shared'}",
                                "example.dev/remote v1.0.0 => example.dev/fork v1.0.1"]


def test_the_project_manifest_builds_the_shared_process_module() -> None:
    """Both processors require processstate; the builder resolves it only through the manifest's replaces."""
    modules = {p.name for p in local_modules(REPO / "otel-configs" / "collector-manifest.yaml")}
    assert {"topkprocessor", "adaptivefilterprocessor", "processstate"} <= modules
