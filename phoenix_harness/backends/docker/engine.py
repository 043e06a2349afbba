"""A private Docker engine for the ``docker`` backend and its tests, and the images it runs, built locally.

No registry is needed: the collector image holds the collector this project built (``make setup``), the
Prometheus image holds the Prometheus binary found on this machine plus the shared libraries it links.

The engine is Debian's ``dockerd`` with its own socket, exec-root and pidfile under ``RUN`` (default
``/run/phoenix-harness/docker``), its data root (images, kept between runs as a cache) under
``CACHE/docker/data``, ``--iptables=false --ip-forward=false --ip-masq=false`` (the host firewall and sysctls
are left alone), its own bridge ``phx-docker0`` (created here) and address pool, and every container in the
cgroup parent ``phoenix-harness-docker``. Published ports are bound to 127.0.0.1 by the backend.

One engine user at a time (a host-wide lock); others wait. :meth:`DockerEngine.stop` removes every
container and network, stops the engine and undoes what it did to the host: container processes, mounts
under its roots, its bridges, its cgroups, the files ``dockerd``/``containerd`` create outside their roots.
After a SIGKILL of the run (the engine dies with it, its containers do not) the next start does the same
first (:func:`cleanup_host`), and ``python -m phoenix_harness.backends.docker.engine down`` does it on demand.

``python -m phoenix_harness.backends.docker.engine prepare`` (what ``make docker-engine`` runs) installs
``docker.io`` when missing and builds the images; ``... up`` starts the engine and prints its ``DOCKER_HOST``
until Ctrl-C; ``... status`` says what is there.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import io
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.procs import Child, ProcessRunner
from phoenix_harness.core.waits import wait_until
from phoenix_harness.toolchain import cache_dir

BRIDGE = "phx-docker0"
BRIDGE_ADDRESS = "172.29.0.1/24"
ADDRESS_POOL = "172.29.64.0/18"  # user-defined networks (one per run), /24 each
CGROUP_PARENT = "phoenix-harness-docker"
LABEL = "org.phoenix-harness"  # every image, network and container the project makes carries it
IMAGE_REPO = "phoenix-harness"
# Files and directories dockerd or its containerd create outside their roots; removed at teardown when they
# were not there before the engine started.
HOST_FILES = (Path("/etc/docker/key.json"), Path("/opt/containerd"), Path("/run/docker"), Path("/run/containerd"))
# Kernel settings dockerd may write (forwarding, key quotas it raises, bridge netfilter): saved at start,
# restored at teardown (also by the next start after a SIGKILL).
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/all/route_localnet",
           "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/bridge/bridge-nf-call-iptables",
           "net/bridge/bridge-nf-call-ip6tables")
INSTALL_HINT = "run 'make docker-engine' (installs Debian's docker.io and builds the images)"
_MNT_DETACH = 2


@dataclass(frozen=True, slots=True)
class EnginePaths:
    home: Path  # data root (images cache), state, lock and log
    run: Path  # socket, exec root, pidfile (short paths: unix sockets live here)

    @property
    def data_root(self) -> Path:
        return self.home / "data"

    @property
    def exec_root(self) -> Path:
        return self.run / "exec"

    @property
    def socket(self) -> Path:
        return self.run / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.run / "docker.pid"

    @property
    def state(self) -> Path:
        return self.home / "state.json"

    @property
    def lock(self) -> Path:
        return self.home / "engine.lock"

    @property
    def config(self) -> Path:
        return self.home / "daemon.json"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def default_paths() -> EnginePaths:
    run = os.environ.get("PHOENIX_DOCKER_RUN_DIR") or (
        "/run/phoenix-harness/docker" if os.geteuid() == 0 else str(cache_dir() / "docker" / "run"))
    return EnginePaths(cache_dir() / "docker", Path(run))


# --- installing ----------------------------------------------------------------------------------

def dockerd_path() -> str | None:
    return shutil.which("dockerd") or next((p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd")
                                            if os.access(p, os.X_OK)), None)


def install(say: Callable[[str], None] = print) -> str:
    """Debian's ``docker.io`` (dockerd, containerd, runc), installed with apt-get when missing. Idempotent."""
    found = dockerd_path()
    if found:
        return found
    apt = shutil.which("apt-get")
    if not apt:
        raise PhoenixError("E474", "dockerd is not installed and apt-get is not available",
                           fix="install Docker Engine (dockerd) with your system's package manager")
    say("installing Docker Engine from Debian's packages (docker.io)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([*sudo, apt, "update", "-qq"],
                 [*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", "docker.io"]):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise PhoenixError("E474", f"{' '.join(argv[-3:])} failed: {proc.stderr.strip()[-300:]}",
                               fix="install docker.io by hand, then re-run")
    found = dockerd_path()
    if not found:
        raise PhoenixError("E474", "docker.io was installed but dockerd is not on PATH", fix=INSTALL_HINT)
    return found


def dockerd_version(path: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"version ([^,\s]+)", out)
        if m:
            return m.group(1)
    return "unknown"


# --- host clean-up (also after a SIGKILL of the run) -------------------------------------------

def _cgroup_dirs() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    found = [root / CGROUP_PARENT] + [d / CGROUP_PARENT for d in root.glob("*") if d.is_dir()]
    return [d for d in found if d.is_dir()]


def _cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in procs.read_text().split()}
    return pids


def engine_processes(paths: EnginePaths) -> list[psutil.Process]:
    """dockerd, its containerd and shims (found by the engine's own paths), and every container process."""
    marker = str(paths.run) + "/"
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(marker in arg for arg in proc.info["cmdline"] or []):
                found[proc.pid] = proc
    for pid in _cgroup_pids():
        with contextlib.suppress(psutil.Error):
            found[pid] = psutil.Process(pid)
    found.pop(os.getpid(), None)
    return list(found.values())


def _other_containerd(paths: EnginePaths) -> bool:
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if "containerd" in (proc.info["name"] or "") and str(paths.run) not in " ".join(proc.info["cmdline"] or []):
                return True
    return False


def _listening_sockets(procs: Sequence[psutil.Process]) -> list[str]:
    found = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            found += [str(c.laddr) for c in p.net_connections(kind="unix")
                      if isinstance(c.laddr, str) and c.laddr.startswith("/")]
    return found


def _mounts_under(roots: Sequence[Path]) -> list[str]:
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) < 5:
                continue
            point = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if any(point == str(r) or point.startswith(str(r) + "/") for r in roots):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def _umount(point: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(point.encode(), _MNT_DETACH)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return subprocess.run([ip, *args], capture_output=True, text=True)


def engine_links() -> list[str]:
    """The engine's bridge and the bridges of its networks (addresses in the engine's pool)."""
    out = _ip("-j", "addr", "show", "type", "bridge")
    if out.returncode != 0:
        return []
    pool = ipaddress.ip_network(ADDRESS_POOL)
    names = []
    for link in json.loads(out.stdout or "[]"):
        name = str(link.get("ifname", ""))
        addrs = [a.get("local", "") for a in link.get("addr_info", []) if a.get("family") == "inet"]
        if name == BRIDGE or (name.startswith("br-") and any(ipaddress.ip_address(a) in pool for a in addrs)):
            names.append(name)
    return names


def read_sysctls() -> dict[str, str]:
    found = {}
    for key in SYSCTLS:
        with contextlib.suppress(OSError):
            found[key] = (Path("/proc/sys") / key).read_text().strip()
    return found


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    done = []
    now = read_sysctls()
    for key, value in saved.items():
        if key in now and now[key] != value:
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / key).write_text(value + "\n")
                done.append(f"restored {key.replace('/', '.')} = {value} (was {now[key]})")
    return done


def cleanup_host(paths: EnginePaths, created: Sequence[str] = (), sysctls: dict[str, str] | None = None) -> list[str]:
    """Undo everything an engine (running or killed) did to this host. Returns what was done."""
    done: list[str] = []
    procs = engine_processes(paths)
    sockets = _listening_sockets(procs)  # a killed shim leaves its socket in /run/containerd/s
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    gone, alive = psutil.wait_procs(procs, timeout=10)
    if procs:
        done.append(f"killed {len(gone)} engine/container process(es)"
                    + (f", {len(alive)} did not die: {[p.pid for p in alive]}" if alive else ""))
    for sock in sockets:
        Path(sock).unlink(missing_ok=True)
    for point in _mounts_under([paths.data_root, paths.run]):
        _umount(point)
        done.append(f"unmounted {point}")
    for link in engine_links():
        if _ip("link", "delete", link).returncode == 0:
            done.append(f"deleted bridge {link}")
    for top in _cgroup_dirs():
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
            done.append(f"removed cgroup {top}")
    shared = _other_containerd(paths)  # another containerd (e.g. a kubelet's) uses /run/containerd too
    for name in created:
        path = Path(name)
        if shared and "containerd" in path.name:
            continue
        if path.is_file():
            path.unlink(missing_ok=True)
            done.append(f"removed {path}")
        elif path.is_dir() and all(f.is_dir() and not f.is_symlink() for f in path.rglob("*")):  # nothing but dirs
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path}")
    done += restore_sysctls(sysctls or {})
    if paths.run.exists():
        shutil.rmtree(paths.run, ignore_errors=True)
        with contextlib.suppress(OSError):
            paths.run.parent.rmdir()  # /run/phoenix-harness when nothing else is in it
    paths.state.unlink(missing_ok=True)
    return done


def leftovers(paths: EnginePaths) -> list[str]:
    """What an engine left on this host (empty after a clean stop)."""
    found = [f"process {p.pid} {' '.join(p.cmdline())[:80]}" for p in engine_processes(paths) if p.is_running()]
    found += [f"mount {m}" for m in _mounts_under([paths.data_root, paths.run])]
    found += [f"bridge {link}" for link in engine_links()]
    found += [f"cgroup {d}" for d in _cgroup_dirs()]
    if paths.socket.exists():
        found.append(f"socket {paths.socket}")
    return found


def _read_state(paths: EnginePaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.state.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


# --- images --------------------------------------------------------------------------------------

def _linked_libraries(binary: Path) -> list[Path]:
    """The shared libraries ``binary`` loads (empty for a static binary), from ``ldd``."""
    ldd = shutil.which("ldd")
    if not ldd:
        return []
    out = subprocess.run([ldd, str(binary)], capture_output=True, text=True)
    libs = []
    for line in out.stdout.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _content_key(files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """A ``FROM scratch`` image of one binary (and the libraries it links), tagged by their content."""

    name: str  # "otelcol" or "prometheus"
    binary: Path
    target: str  # path of the binary inside the image
    libraries: tuple[Path, ...]
    dirs: tuple[str, ...] = ("tmp",)

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPO}/{self.name}:{_content_key([self.binary, *self.libraries])}"

    def context(self, out: IO[bytes]) -> None:
        dockerfile = (f'FROM scratch\nCOPY rootfs/ /\nLABEL {LABEL}="{self.name}"\n'
                      f'ENTRYPOINT ["{self.target}"]\n').encode()
        with tarfile.open(fileobj=out, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
            for d in self.dirs:
                info = tarfile.TarInfo(f"rootfs/{d}")
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
                tar.addfile(info)
            tar.add(str(self.binary), f"rootfs{self.target}")
            for lib in self.libraries:
                tar.add(str(lib.resolve()), f"rootfs{lib}")


def image_plans(collector: Path, prometheus: Path) -> tuple[ImagePlan, ImagePlan]:
    return (ImagePlan("otelcol", collector, "/otelcol", tuple(_linked_libraries(collector))),
            ImagePlan("prometheus", prometheus, "/bin/prometheus", tuple(_linked_libraries(prometheus)),
                      ("tmp", "prometheus")))


def ensure_image(client: Any, plan: ImagePlan, say: Callable[[str], None] = lambda _m: None) -> str:
    """The image for ``plan`` in the engine behind ``client``: found by its tag, or built now (seconds)."""
    import docker.errors

    tag = plan.tag
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    say(f"building image {tag} from {plan.binary}")
    with tempfile.TemporaryFile() as ctx:
        plan.context(ctx)
        ctx.seek(0)
        try:
            client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True, forcerm=True,
                                labels={LABEL: plan.name})
        except docker.errors.DockerException as exc:
            raise InfrastructureError("E475", f"building image {tag} failed: {str(exc)[:300]}",
                                      where=str(plan.binary), fix="see the engine's log") from None
    for old in client.images.list(name=f"{IMAGE_REPO}/{plan.name}"):
        if tag not in old.tags:
            with contextlib.suppress(docker.errors.DockerException):
                client.images.remove(old.id, force=True)
    return tag


def stored_images(paths: EnginePaths) -> list[str]:
    """Tags of the project's images in the engine's data root (readable without a running engine)."""
    repos = paths.data_root / "image" / "overlay2" / "repositories.json"
    try:
        data = json.loads(repos.read_text()).get("Repositories", {})
    except (OSError, ValueError):
        return []
    return sorted(tag for repo, tags in data.items() if repo.startswith(IMAGE_REPO + "/") for tag in tags
                  if "@" not in tag)


# --- the engine ----------------------------------------------------------------------------------

class DockerEngine:
    """Start (after cleaning up what a killed run left), use, and stop the private engine."""

    def __init__(self, paths: EnginePaths | None = None, say: Callable[[str], None] = lambda _m: None) -> None:
        self.paths = paths or default_paths()
        self.say = say
        self.runner = ProcessRunner(self.paths.home, record=self.paths.home / "children.json")
        self.child: Child | None = None
        self.timings: dict[str, float] = {}
        self.cleaned: list[str] = []
        self._lock: IO[str] | None = None
        self._client: Any = None

    @property
    def url(self) -> str:
        return self.paths.url

    def client(self) -> Any:
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.url, timeout=120)
        return self._client

    def __enter__(self) -> DockerEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _acquire(self, timeout_s: float) -> None:
        self.paths.home.mkdir(parents=True, exist_ok=True)
        fh = self.paths.lock.open("a+")
        told = [False]

        def locked() -> bool:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not told[0] and timeout_s > 0:
                    fh.seek(0)
                    self.say(f"the private Docker engine is in use by {fh.read().strip() or 'another run'}; "
                             f"waiting (up to {timeout_s:.0f}s)")
                    told[0] = True
                return False

        def still_in_use() -> InfrastructureError:
            fh.close()
            return InfrastructureError("E476", "the private Docker engine is still in use by another run",
                                       where=str(self.paths.lock),
                                       fix="wait for it, or set DOCKER_HOST to another engine")

        wait_until(locked, interval_s=0.5, timeout_s=timeout_s, error=still_in_use)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._lock = fh

    def _release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def start(self, timeout: float = 60.0) -> None:
        dockerd = dockerd_path()
        if dockerd is None:
            raise PhoenixError("E474", "dockerd is not installed", fix=INSTALL_HINT)
        self._acquire(float(os.environ.get("PHOENIX_LOCK_TIMEOUT_S", "1800")))
        t0 = time.monotonic()
        try:
            previous = _read_state(self.paths)
            self.cleaned = cleanup_host(self.paths, previous.get("created", []), previous.get("sysctls"))
            for note in self.cleaned:
                self.say(f"docker engine left by an earlier run: {note}")
            self.timings["cleanup_s"] = round(time.monotonic() - t0, 2)
            created = [str(p) for p in HOST_FILES if not p.exists()]
            self.paths.run.mkdir(parents=True, exist_ok=True)
            self.paths.data_root.mkdir(parents=True, exist_ok=True)
            self.paths.config.write_text("{}\n")
            self.paths.state.write_text(json.dumps({"owner_pid": os.getpid(), "created": created,
                                                    "sysctls": read_sysctls(), "socket": str(self.paths.socket)}))
            self._make_bridge()
            self.child = self.runner.start("dockerd", [
                dockerd, f"--config-file={self.paths.config}", f"--host={self.url}",
                f"--data-root={self.paths.data_root}", f"--exec-root={self.paths.exec_root}",
                f"--pidfile={self.paths.pidfile}", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
                f"--bridge={BRIDGE}", f"--default-address-pool=base={ADDRESS_POOL},size=24",
                f"--cgroup-parent={CGROUP_PARENT}", "--exec-opt=native.cgroupdriver=cgroupfs",
                "--storage-driver=overlay2", "--log-level=warn",
            ], log_name="dockerd.log")
            self._wait_ready(t0 + timeout)
            self.timings["ready_s"] = round(time.monotonic() - t0, 2)
            self.remove_all()  # containers and networks a killed run left in the data root
        except BaseException:
            self.stop()
            raise

    def _make_bridge(self) -> None:
        if BRIDGE not in {str(link.get("ifname")) for link in json.loads(_ip("-j", "link").stdout or "[]")}:
            for args in (("link", "add", BRIDGE, "type", "bridge"), ("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE),
                         ("link", "set", BRIDGE, "up")):
                out = _ip(*args)
                if out.returncode != 0:
                    raise InfrastructureError("E477", f"ip {' '.join(args)} failed: {out.stderr.strip()}",
                                              fix="the private engine needs root (CAP_NET_ADMIN) for its bridge")

    def _wait_ready(self, deadline: float) -> None:
        import docker

        def answers() -> bool:
            if self.child is not None and not self.child.alive():
                raise InfrastructureError("E477", f"dockerd exited at start: {self.child.log_tail(3)}",
                                          where=str(self.child.log_path), fix="see dockerd.log")
            return self.paths.socket.exists() and bool(docker.DockerClient(base_url=self.url, timeout=5).ping())

        wait_until(answers, interval_s=0.1, deadline=deadline, retry_on=(docker.errors.DockerException, OSError),
                   error=InfrastructureError("E477", "dockerd did not answer in time", where=self.url,
                                             fix=f"see {self.paths.home / 'dockerd.log'}"))

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def remove_all(self) -> None:
        """Every container and user network of the private engine (it only ever runs this project's)."""
        import docker.errors

        client = self.client()
        for c in client.containers.list(all=True):
            with contextlib.suppress(docker.errors.DockerException):
                c.remove(force=True, v=True)
        for n in client.networks.list():
            if n.name not in ("bridge", "host", "none"):
                with contextlib.suppress(docker.errors.DockerException):
                    n.remove()

    def images(self, collector: Path, prometheus: Path) -> tuple[str, str]:
        t = time.monotonic()
        col, prom = image_plans(collector, prometheus)
        tags = ensure_image(self.client(), col, self.say), ensure_image(self.client(), prom, self.say)
        self.timings["images_s"] = round(time.monotonic() - t, 2)
        return tags

    def stop(self) -> None:
        try:
            if self.alive():
                with contextlib.suppress(Exception):
                    self.remove_all()
                if self._client is not None:
                    with contextlib.suppress(Exception):
                        self._client.close()
                    self._client = None
            self.runner.stop_all(timeout=20.0)
            self.child = None
            state = _read_state(self.paths)
            cleanup_host(self.paths, state.get("created", []), state.get("sysctls"))
        finally:
            self._release()


@contextlib.contextmanager
def environment(engine: DockerEngine, collector_image: str, prometheus_image: str) -> Iterator[None]:
    """``DOCKER_HOST`` and the backend's image variables pointing at ``engine`` for the ``with`` block."""
    keys = {"DOCKER_HOST": engine.url, "PHOENIX_DOCKER_COLLECTOR_IMAGE": collector_image,
            "PHOENIX_DOCKER_PROMETHEUS_IMAGE": prometheus_image}
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def running_engine_url(paths: EnginePaths | None = None) -> str | None:
    """The private engine's ``DOCKER_HOST`` when one is running (``... up`` or a test session)."""
    paths = paths or default_paths()
    try:
        pid = int(paths.pidfile.read_text().strip())
        alive = psutil.Process(pid).name() == "dockerd"
    except (OSError, ValueError, psutil.Error):
        return None
    return paths.url if alive and paths.socket.exists() else None


def status(paths: EnginePaths | None = None) -> dict[str, Any]:
    paths = paths or default_paths()
    dockerd = dockerd_path()
    return {"dockerd": dockerd, "version": dockerd_version(dockerd) if dockerd else None,
            "running": running_engine_url(paths), "data_root": str(paths.data_root),
            "images": stored_images(paths), "leftovers": leftovers(paths) if not running_engine_url(paths) else []}


def _toolchain(root: Path) -> tuple[Path, Path]:
    from phoenix_harness.toolchain import locate_collector, locate_prometheus

    manifest = root / "otel-configs" / "collector-manifest.yaml"
    return locate_collector(manifest, build=False).path, locate_prometheus().path


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phoenix_harness.backends.docker.engine",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("command", choices=["install", "prepare", "up", "down", "status"])
    parser.add_argument("--root", default=".", help="repository root")
    args = parser.parse_args(argv)
    say = lambda m: print(m, flush=True)  # noqa: E731
    try:
        if args.command == "status":
            print(json.dumps(status(), indent=2))
            return 0
        if args.command == "down":
            paths = default_paths()
            engine = DockerEngine(paths, say)
            engine._acquire(0.0)
            try:
                state = _read_state(paths)
                done = cleanup_host(paths, state.get("created", []), state.get("sysctls"))
            finally:
                engine._release()
            print("\n".join(done) or "nothing to clean up")
            return 0
        install(say)
        if args.command == "install":
            return 0
        root = Path(args.root).resolve()
        collector, prometheus = _toolchain(root)
        engine = DockerEngine(say=say)
        if args.command == "prepare":
            with engine:
                col, prom = engine.images(collector, prometheus)
            print(f"docker engine {dockerd_version(str(dockerd_path()))}: images {col}, {prom} "
                  f"({engine.timings})")
            return 0

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGINT, interrupt)
        with engine:
            col, prom = engine.images(collector, prometheus)
            print(f"export DOCKER_HOST={engine.url} PHOENIX_DOCKER_COLLECTOR_IMAGE={col} "
                  f"PHOENIX_DOCKER_PROMETHEUS_IMAGE={prom}   # Ctrl-C stops it", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while engine.alive():
                    time.sleep(1)
    except PhoenixError as exc:
        print(exc.text(), file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_main())
