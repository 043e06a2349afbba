"""Find the collector binary, or build the project's distribution with the Collector Builder.

Order: ``PHOENIX_OTELCOL`` (a path) > ``otelcol-contrib`` on PATH > the cached build of
``otel-configs/collector-manifest.yaml`` (keyed by the hash of the manifest and of the local Go modules it
builds) > build it now.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from phoenix_harness.core.errors import PhoenixError, did_you_mean

BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"


def cache_dir() -> Path:
    """Where builds and run records live, outside the repository."""
    base = os.environ.get("PHOENIX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "phoenix-harness"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class Collector:
    path: Path
    source: str  # "PHOENIX_OTELCOL", "PATH", "cache", "built"
    version: str = ""
    components: dict[str, list[str]] = field(default_factory=dict)

    def has(self, kind: str, name: str) -> bool:
        return name in self.components.get(kind, [])


_COMPONENT_KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")


def _local_replace(line: str) -> tuple[str, str] | None:
    """``module [version] => target`` from the manifest's ``replaces``: (left side, target) when the target is a
    local folder (Go's rule: it starts with ``./``, ``../`` or ``/``), else None."""
    left, sep, target = str(line).partition("=>")
    target = target.strip()
    if not sep or not target.startswith(("./", "../", "/")):
        return None
    return left.strip(), target


def local_modules(manifest: Path) -> list[Path]:
    """The local Go module folders the build uses: components included by ``path`` and the targets of local
    ``replaces`` (such as a shared module the components require)."""
    data = yaml.safe_load(manifest.read_text()) or {}
    found: list[Path] = []
    for kind in _COMPONENT_KINDS:
        for entry in data.get(kind) or []:
            if isinstance(entry, dict) and entry.get("path"):
                found.append((manifest.parent / entry["path"]).resolve())
    for line in data.get("replaces") or []:
        local = _local_replace(line)
        if local:
            found.append((manifest.parent / local[1]).resolve())
    return list(dict.fromkeys(found))


def manifest_hash(manifest: Path) -> str:
    """Hash of the manifest and of the sources of every local module the build uses (components included by path
    and local ``replaces`` targets), so a change to any of them builds anew instead of reusing a stale binary."""
    h = hashlib.sha256(manifest.read_bytes())
    for root in local_modules(manifest):
        h.update(os.path.relpath(root, manifest.parent.resolve()).encode())
        for f in sorted(root.rglob("*")):
            if f.is_file() and (f.suffix in (".go", ".mod", ".sum", ".yaml")):
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def render_manifest(manifest: Path, output_path: Path) -> dict[str, Any]:
    """The manifest as the builder gets it: the distribution built into ``output_path``, and local paths (component
    ``path`` and local ``replaces`` targets, written relative to the manifest's folder) made absolute, since the
    builder resolves them from its output folder."""
    data = yaml.safe_load(manifest.read_text()) or {}
    data.setdefault("dist", {})["output_path"] = str(output_path)
    for kind in _COMPONENT_KINDS:
        for entry in data.get(kind) or []:
            if isinstance(entry, dict) and entry.get("path"):
                entry["path"] = str((manifest.parent / entry["path"]).resolve())
    replaces = []
    for line in data.get("replaces") or []:
        local = _local_replace(line)
        replaces.append(f"{local[0]} => {(manifest.parent / local[1]).resolve()}" if local else line)
    if replaces:
        data["replaces"] = replaces
    return data


def builder_version(manifest: Path) -> str:
    data = yaml.safe_load(manifest.read_text()) or {}
    version = str((data.get("dist") or {}).get("version") or "")
    if not version:
        raise PhoenixError("E301", "manifest has no dist.version", where=str(manifest),
                           fix="set dist.version to the pinned collector core version, e.g. 0.155.0")
    return version


def _binary_info(path: Path) -> tuple[str, dict[str, list[str]]]:
    try:
        out = subprocess.run([str(path), "components"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PhoenixError("E302", f"collector at {path} does not run: {exc}", where=str(path),
                           fix="point PHOENIX_OTELCOL at a working collector, or unset it to build one") from None
    data = yaml.safe_load(out.stdout) or {}
    components = {
        kind: sorted(str(c.get("name")) for c in (data.get(kind) or []) if isinstance(c, dict))
        for kind in ("receivers", "processors", "exporters", "extensions", "connectors")
    }
    version = str((data.get("buildinfo") or {}).get("version", ""))
    return version, components


@cache
def _described(path: str, source: str) -> Collector:
    version, components = _binary_info(Path(path))
    return Collector(Path(path), source, version, components)


def cached_binary(manifest: Path) -> Path:
    name = (yaml.safe_load(manifest.read_text()) or {}).get("dist", {}).get("name", "otelcol-phoenix")
    return cache_dir() / "otelcol" / manifest_hash(manifest) / str(name)


def locate_collector(manifest: Path | None, *, build: bool = True,
                     progress: Callable[[str], None] | None = None) -> Collector:
    """Return the collector to use, building it if needed and allowed."""
    env = os.environ.get("PHOENIX_OTELCOL")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise PhoenixError("E303", f"PHOENIX_OTELCOL={env} is not an executable file", where="environment",
                               fix="set PHOENIX_OTELCOL to a collector binary, or unset it")
        return _described(str(path), "PHOENIX_OTELCOL")
    on_path = shutil.which("otelcol-contrib")
    if on_path:
        return _described(on_path, "PATH")
    if manifest is None:
        raise PhoenixError("E304", "no collector found", fix="run 'make setup' or set PHOENIX_OTELCOL")
    if not manifest.is_file():
        raise PhoenixError("E304", "no collector found: the collector manifest is missing", where=str(manifest),
                           fix="run inside the repository (or pass --root REPO), or set PHOENIX_OTELCOL")
    binary = cached_binary(manifest)
    if binary.is_file():
        return _described(str(binary), "cache")
    if not build:
        raise PhoenixError("E304", f"collector not built yet (expected {binary})",
                           fix="run 'phoenix toolchain build' or 'make setup', or set PHOENIX_OTELCOL")
    build_collector(manifest, progress=progress)
    return _described(str(binary), "built")


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise PhoenixError("E305", "Go is not installed, so the collector cannot be built",
                           fix="install Go (https://go.dev/dl) or set PHOENIX_OTELCOL to a collector binary")
    return go


def ensure_builder(version: str) -> Path:
    """Install the Collector Builder at exactly ``version`` into the cache (idempotent)."""
    gobin = cache_dir() / "builder" / version
    builder = gobin / "builder"
    if builder.is_file():
        return builder
    gobin.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(gobin), "GOFLAGS": "-buildvcs=false"}
    proc = subprocess.run([_go(), "install", f"{BUILDER_MODULE}@v{version}"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PhoenixError("E306", f"installing the collector builder v{version} failed: {tail}",
                           fix="check that the Go module proxy is reachable (go env GOPROXY)")
    return builder


def build_collector(manifest: Path, *, progress: Callable[[str], None] | None = None) -> Path:
    """Build the distribution into the cache; return the binary. Atomic: a half build is never used."""
    say = progress or (lambda _m: None)
    target = cached_binary(manifest)
    if target.is_file():
        return target
    version = builder_version(manifest)
    builder = ensure_builder(version)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir()))
    data = render_manifest(manifest, work / "src")
    rendered = work / "manifest.yaml"
    rendered.write_text(yaml.safe_dump(data, sort_keys=False))
    say(f"building collector {version} from {manifest} (first build takes a few minutes)")
    started = time.monotonic()
    log = work / "build.log"
    with log.open("w") as fh:
        proc = subprocess.run([str(builder), "--config", str(rendered)], stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, "GOFLAGS": "-buildvcs=false"})
    if proc.returncode != 0:
        lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
        reason = next((ln.strip() for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "?")
        raise PhoenixError("E307", f"collector build failed: {reason[:300]}", where=str(log),
                           fix="read the build log; check component versions in the manifest")
    name = str(data["dist"].get("name", "otelcol-phoenix"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copy2(work / "src" / name, tmp)
    os.replace(tmp, target)
    (target.parent / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n")
    shutil.rmtree(work, ignore_errors=True)
    say(f"collector built in {time.monotonic() - started:.0f}s: {target}")
    return target


_VALIDATE_NOISE = re.compile(r"^\d{4}-\d\d-\d\dT\S+\s+")
# "'processors' unknown type: "x" for id: "x/a" (valid values: [b a ...])": the values come in Go's map
# order, a different one each run.
_UNKNOWN_TYPE = re.compile(r"'(?P<kind>\w+)' unknown type: \"(?P<type>[^\"]*)\" for id: \"(?P<id>[^\"]*)\"")
_VALID_VALUES = re.compile(r"\s*\(valid values: \[(?P<values>[^\]]*)\]\)")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the collector refused a config: ``message`` is short and the same each run (it reads as the
    message itself in an f-string); ``detail`` holds what is long, sorted, for the lines below it."""

    message: str
    detail: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message


def rejection(cause: str) -> Rejection:
    """A collector's message made short and deterministic: the valid values move, sorted, to the detail."""
    listed = _VALID_VALUES.search(cause)
    if listed is None:
        return Rejection(cause)
    values = sorted(set(listed.group("values").split()))
    message = cause[:listed.start()] + cause[listed.end():]
    unknown = _UNKNOWN_TYPE.search(message)
    if unknown is not None:
        kind, type_, id_ = unknown.group("kind", "type", "id")
        short = f"unknown {kind.removesuffix('s')} \"{type_}\"" + (f" (in \"{id_}\")" if id_ != type_ else "")
        message = message[:unknown.start()] + short + did_you_mean(type_, values) + message[unknown.end():]
    return Rejection(message, (f"valid values: {' '.join(values)}",))


def validate_config(collector: Collector, config: Path) -> Rejection | None:
    """Run ``otelcol validate``; return None when valid, else the collector's own message (one line, with
    long lists as detail)."""
    proc = subprocess.run([str(collector.path), "validate", f"--config={config}"], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode == 0:
        return None
    text = (proc.stderr or proc.stdout).strip()
    lines = [_VALIDATE_NOISE.sub("", ln).strip() for ln in text.splitlines() if ln.strip()]
    # The collector nests causes ("... due to the following error(s):" then the cause): keep the
    # innermost cause, prefixed with the component it concerns.
    useful = [ln for ln in lines if not ln.rstrip().endswith("error(s):")]
    if not useful:
        return rejection(lines[-1] if lines else "collector rejected the config")
    context = [ln.split(" error reading configuration for ")[1].split(":")[0]
               for ln in lines if " error reading configuration for " in ln]
    cause = useful[-1].removeprefix("Error: ")
    return rejection(f"{context[-1]}: {cause}" if context else cause)
