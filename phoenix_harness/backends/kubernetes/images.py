"""Container images for the test cluster's real node, built locally (no registry is reachable here).

Each image is a single-layer image tarball in the ``docker save`` layout (``manifest.json``, a config that
records ``linux``/``amd64``, one ``layer.tar``), which ``ctr -n k8s.io images import`` accepts. Pods use
them with ``imagePullPolicy: Never``. Tarballs are cached in ``CACHE/kube-images/<hash of the inputs>/``.

- ``pause``: the pod sandbox, a tiny static C program that waits for a signal and reaps children;
- ``otelcol``: the static collector built by ``make setup`` (``phoenix toolchain build``);
- ``prometheus``: the host's Prometheus binary with the shared libraries ``ldd`` lists.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.toolchain.otelcol import cache_dir

REGISTRY = "phoenix.local"
PAUSE_IMAGE = f"{REGISTRY}/pause:1"
COLLECTOR_IMAGE = f"{REGISTRY}/otelcol-phoenix:local"
PROMETHEUS_IMAGE = f"{REGISTRY}/prometheus:local"

PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_term(int s) { (void)s; _exit(0); }
static void on_chld(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, on_term); signal(SIGTERM, on_term); signal(SIGCHLD, on_chld);
    for (;;) pause();
}
"""


@dataclass(frozen=True, slots=True)
class ImageFile:
    """A file to put in the image: ``source`` on the host, copied to ``target`` (absolute) in the image."""

    source: Path
    target: str
    mode: int = 0o755


@dataclass(frozen=True, slots=True)
class BuiltImage:
    ref: str
    tarball: Path


def images_dir() -> Path:
    return cache_dir() / "kube-images"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _layer(files: Sequence[ImageFile]) -> bytes:
    """An uncompressed tar of the files (and their parent folders), owned by root, fixed timestamps."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for f in files:
            parts = f.target.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            info = tarfile.TarInfo(f.target.strip("/"))
            data = f.source.read_bytes()
            info.size, info.mode, info.mtime = len(data), f.mode, 0
            tar.addfile(info, io.BytesIO(data))
        for d in ("tmp",):  # writable scratch for programs that expect it (an emptyDir can shadow it)
            if d not in dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777, 0
                tar.addfile(info)
    return buf.getvalue()


def write_image(path: Path, ref: str, files: Sequence[ImageFile], entrypoint: Sequence[str],
                env: Mapping[str, str] | None = None) -> None:
    """Write a one-layer image tarball (``docker save`` layout) for ``linux/amd64``."""
    layer = _layer(files)
    layer_id = _digest(layer)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "Env": [f"{k}={v}" for k, v in (env or {}).items()],
                   "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created_by": "phoenix-harness kube/images.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{_digest(config_bytes)}.json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [f"{layer_id}/layer.tar"]}]
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, mode="w") as tar:
        for name, data in ((config_name, config_bytes), (f"{layer_id}/layer.tar", layer),
                           ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)


def _cached(ref: str, inputs: Sequence[bytes], build: Callable[[Path], None]) -> BuiltImage:
    h = hashlib.sha256(ref.encode())
    for i in inputs:
        h.update(i)
    target = images_dir() / h.hexdigest()[:16] / (ref.split("/")[-1].replace(":", "_") + ".tar")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        build(target)
    return BuiltImage(ref, target)


def pause_image() -> BuiltImage:
    def build(target: Path) -> None:
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            raise PhoenixError("E465", "a C compiler is needed to build the pause image", fix="apt-get install gcc")
        with tempfile.TemporaryDirectory() as tmp:
            src, exe = Path(tmp) / "pause.c", Path(tmp) / "pause"
            src.write_text(PAUSE_C)
            proc = subprocess.run([cc, "-static", "-Os", "-s", "-o", str(exe), str(src)], capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                raise PhoenixError("E465", f"building the pause program failed: {proc.stderr.strip()[-300:]}",
                                   fix="install a C compiler with static libc (gcc, libc6-dev)")
            write_image(target, PAUSE_IMAGE, [ImageFile(exe, "/pause")], ["/pause"])

    return _cached(PAUSE_IMAGE, [PAUSE_C.encode()], build)


def collector_image(otelcol: Path) -> BuiltImage:
    """The collector image from the static binary ``make setup`` built (``otelcol-phoenix``)."""
    stat = otelcol.stat()

    def build(target: Path) -> None:
        write_image(target, COLLECTOR_IMAGE, [ImageFile(otelcol, "/otelcol-phoenix")], ["/otelcol-phoenix"])

    return _cached(COLLECTOR_IMAGE, [str(otelcol.resolve()).encode(), str(stat.st_size).encode(),
                                     str(stat.st_mtime_ns).encode()], build)


def _shared_libraries(binary: Path) -> list[Path]:
    ldd = shutil.which("ldd")
    if not ldd:
        return []
    proc = subprocess.run([ldd, str(binary)], capture_output=True, text=True)
    libs = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(Path(parts[2]))
        elif parts and parts[0].startswith("/"):
            libs.append(Path(parts[0]))
    return libs


def prometheus_image(prometheus: Path) -> BuiltImage:
    """Prometheus with the shared libraries it links (Debian's build needs libc)."""
    real = prometheus.resolve()
    stat = real.stat()

    def build(target: Path) -> None:
        files = [ImageFile(real, "/bin/prometheus")]
        files += [ImageFile(lib.resolve(), str(lib), 0o755) for lib in _shared_libraries(real)]
        write_image(target, PROMETHEUS_IMAGE, files, ["/bin/prometheus"])

    return _cached(PROMETHEUS_IMAGE, [str(real).encode(), str(stat.st_size).encode(),
                                      str(stat.st_mtime_ns).encode()], build)


LOAD_IMAGE = f"{REGISTRY}/load:local"
# Runs the load Job's entry point for a few seconds and records every file it loaded (modules, extensions).
_PROBE = r"""
import contextlib, io, json, os, signal, sys, threading
from pathlib import Path
profile, out = sys.argv[1], sys.argv[2]
threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
from phoenix_harness.backends.kubernetes.backend import _run_load
with contextlib.redirect_stdout(io.StringIO()):
    _run_load(["--profile", profile, "--driver", "processes"])
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
Path(out).write_text(json.dumps({"files": files, "path": [p for p in sys.path if p and os.path.isdir(p)],
                                 "base_prefix": sys.base_prefix}))
"""


def load_image(root: Path, profile: Path) -> BuiltImage:
    """The load Job's image: this machine's Python, exactly the modules and libraries the load Job loads (found by
    running it for a few seconds on ``profile``), the package's source and the built C worker, at the same paths."""
    import sys

    sources = [*sorted((root / "phoenix_harness").rglob("*.py")), root / "pyproject.toml"]
    key = [sys.version.encode(), sys.executable.encode()]
    key += [f"{p}:{p.stat().st_mtime_ns}".encode() for p in sources if p.is_file()]

    def build(target: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "probe.json"
            env = {**__import__("os").environ, "TMPDIR": tmp}
            proc = subprocess.run([sys.executable, "-c", _PROBE, str(profile), str(out)], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0 or not out.is_file():
                raise PhoenixError("E465", f"probing the load's files failed: {proc.stderr.strip()[-300:]}",
                                   fix="run the load locally first (phoenix run) to see the error")
            probe = json.loads(out.read_text())
        python = Path(sys.executable).resolve()
        paths = {Path(f).resolve() for f in probe["files"] if Path(f).is_file()}
        paths |= {p.resolve() for p in (cache_dir() / "worker").rglob("*") if p.is_file()}
        paths |= {p for p in (root / "phoenix_harness").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
        # whole third-party packages (their data files too: schemas, ...), not only the modules loaded
        for site in (Path(d) for d in probe["path"] if "-packages" in d):
            tops = {Path(f).relative_to(site).parts[0] for f in probe["files"] if Path(f).is_relative_to(site)}
            for top in tops:
                if (site / top).is_dir():
                    paths |= {p.resolve() for p in (site / top).rglob("*")
                              if p.is_file() and "__pycache__" not in p.parts}
        libs: set[Path] = set()
        for binary in [python, *paths]:
            if binary.suffix == ".so" or binary == python or binary.name == "phoenix-worker":
                libs |= set(_shared_libraries(binary))
        files = [ImageFile(python, "/usr/bin/python")]
        files += [ImageFile(p, str(p), 0o755 if p.suffix == ".so" or p.name == "phoenix-worker" else 0o644)
                  for p in sorted(paths)]
        files += [ImageFile(lib.resolve(), str(lib)) for lib in sorted(libs)]
        env_vars = {"PATH": "/usr/bin:/bin", "PYTHONHOME": probe["base_prefix"],
                    "PYTHONPATH": ":".join([str(root), *probe["path"]]), "PHOENIX_CACHE_DIR": str(cache_dir()),
                    "PYTHONDONTWRITEBYTECODE": "1"}
        write_image(target, LOAD_IMAGE, files, ["/usr/bin/python"], env_vars)

    return _cached(LOAD_IMAGE, key, build)
