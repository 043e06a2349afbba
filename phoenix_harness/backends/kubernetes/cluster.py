"""A throwaway Kubernetes control plane on 127.0.0.1, for testing the Kubernetes backend against a real API server.

No cluster can be downloaded where the harness is developed, but Go modules can: ``otel-configs/kube/cluster``
is a Go module whose commands are the upstream etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok (simulated nodes: they report pods Running without running containers). They are built once with
``go build`` and cached in ``CACHE/kube/<hash of the module>/``; :class:`LocalCluster` starts them on free
loopback ports with fresh certificates and an admin kubeconfig, and stops them all.

``python -m phoenix_harness.backends.kubernetes.cluster build`` builds (what ``make kube-cluster`` runs);
``... up`` starts a
cluster and prints its kubeconfig until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from phoenix_harness.backends.kubernetes.images import BuiltImage
from phoenix_harness.backends.kubernetes.node import RealNode
from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.procs import Child, ProcessRunner, free_port
from phoenix_harness.core.waits import wait_until
from phoenix_harness.toolchain import cache_dir

WRAPPER = Path("otel-configs") / "kube" / "cluster"
STAGES = Path("otel-configs") / "kube" / "kwok-stages.yaml"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubelet")
HOST = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
BUILD_HINT = "run 'make kube-cluster' (builds the test cluster's binaries with Go, once, cached)"


@dataclass(frozen=True, slots=True)
class FakeNode:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


# Labels chosen so that selectors overlap by known fractions: role=edge is {edge-1, edge-2}; zone=a shares
# one of two nodes with it (50 %), pool=mixed one of four (25 %).
DEFAULT_NODES = (
    FakeNode("edge-1", {"role": "edge", "zone": "a"}),
    FakeNode("edge-2", {"role": "edge", "zone": "b", "pool": "mixed"}),
    FakeNode("core-1", {"role": "core", "zone": "a", "pool": "mixed"}),
    FakeNode("core-2", {"role": "core", "zone": "b", "pool": "mixed"}),
    FakeNode("core-3", {"role": "core", "zone": "c", "pool": "mixed"}),
)


@dataclass(frozen=True, slots=True)
class ClusterBinaries:
    directory: Path
    kubernetes_version: str

    def path(self, name: str) -> Path:
        return self.directory / name


# --- building ------------------------------------------------------------------------------------

def _kubernetes_version(wrapper: Path) -> str:
    match = re.search(r"^\s*k8s\.io/kubernetes\s+(v\S+)", (wrapper / "go.mod").read_text(), re.MULTILINE)
    if not match:
        raise PhoenixError("E461", "the cluster module does not require k8s.io/kubernetes",
                           where=str(wrapper / "go.mod"), fix="restore otel-configs/kube/cluster/go.mod")
    return match.group(1)


def _ldflags(version: str) -> str:
    """Strip symbols; stamp the version the binaries would report if built by the Kubernetes release tooling."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                  f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return " ".join(flags)


def wrapper_hash(wrapper: Path) -> str:
    """Hash of what the binaries are built from: go.mod, go.sum, every main, and the build flags."""
    h = hashlib.sha256()
    files = [wrapper / "go.mod", wrapper / "go.sum", *sorted((wrapper / "cmd").rglob("*.go"))]
    for f in files:
        h.update(str(f.relative_to(wrapper)).encode())
        h.update(f.read_bytes())
    h.update(_ldflags(_kubernetes_version(wrapper)).encode())
    return h.hexdigest()[:16]


def binaries_dir(root: Path) -> Path:
    return cache_dir() / "kube" / wrapper_hash(root / WRAPPER)


def locate_binaries(root: Path) -> ClusterBinaries | None:
    """The cached build for this checkout, or None when ``make kube-cluster`` has not run yet."""
    directory = binaries_dir(root)
    if all((directory / b).is_file() for b in BINARIES):
        return ClusterBinaries(directory, _kubernetes_version(root / WRAPPER))
    return None


def require_binaries(root: Path) -> ClusterBinaries:
    found = locate_binaries(root)
    if found is None:
        raise PhoenixError("E462", f"the test cluster's binaries are not built (expected in {binaries_dir(root)})",
                           fix=BUILD_HINT)
    return found


def build_binaries(root: Path, say: Callable[[str], None] = print) -> ClusterBinaries:
    """Build every binary into the cache (once; concurrent callers wait for each other)."""
    wrapper = root / WRAPPER
    if not (wrapper / "go.mod").is_file():
        raise PhoenixError("E461", "the cluster's Go module is missing", where=str(wrapper),
                           fix="run from the repository root")
    found = locate_binaries(root)
    if found:
        return found
    go = shutil.which("go")
    if not go:
        raise PhoenixError("E460", "Go is needed to build the test cluster (kube-apiserver, etcd, kwok)",
                           fix="install Go 1.26 or newer (https://go.dev/dl) and re-run 'make kube-cluster'")
    target = binaries_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    version = _kubernetes_version(wrapper)
    with (target.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = locate_binaries(root)
        if found:
            return found
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        log = target.parent / f"{target.name}.build.log"
        env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        argv = [go, "build", "-trimpath", f"-ldflags={_ldflags(version)}", "-o", str(tmp) + "/", "./cmd/..."]
        say(f"building the test cluster (Kubernetes {version}: {', '.join(BINARIES)}) with Go; the first build "
            f"takes several minutes, later runs use {target}")
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.run(argv, cwd=wrapper, env=env, stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
            raise PhoenixError("E461", f"building the test cluster failed: {tail[-600:]}", where=str(log),
                               fix="see the build log; the Go module proxy must serve every module in go.sum")
        missing = [b for b in BINARIES if not (tmp / b).is_file()]
        if missing:
            shutil.rmtree(tmp, ignore_errors=True)
            raise PhoenixError("E461", f"the build produced no {', '.join(missing)}", where=str(wrapper / "cmd"),
                               fix="every binary needs a main package under cmd/")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        (target / "BUILD_SECONDS").write_text(f"{time.monotonic() - started:.1f}\n")
        say(f"built in {time.monotonic() - started:.0f}s: {target}")
    return ClusterBinaries(target, version)


# --- certificates --------------------------------------------------------------------------------

def _openssl(args: Sequence[str], cwd: Path) -> None:
    exe = shutil.which("openssl")
    if not exe:
        raise PhoenixError("E464", "openssl is needed to make the test cluster's certificates",
                           fix="apt-get install openssl")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PhoenixError("E464", f"openssl {args[0]} failed: {proc.stderr.strip()[-300:]}", where=str(cwd),
                           fix="check the openssl installation")


def _leaf(pki: Path, name: str, subject: str, extensions: str) -> None:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(["req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject], pki)
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", f"{name}.crt", "-days", "7", "-extfile", f"{name}.ext"], pki)


def make_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate, an admin client certificate, the service-account key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-subj", "/CN=phoenix-harness-test-ca",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
             pki)
    _leaf(pki, "apiserver", "/CN=kube-apiserver",
          "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
          "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
          "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _leaf(pki, "admin", "/O=system:masters/CN=phoenix-harness-admin",
          "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")
    _openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key"], pki)
    _openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Path, context: str = "phoenix-test") -> None:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server,
                                                   "certificate-authority-data": _b64(pki / "ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": _b64(pki / "admin.crt"),
                                             "client-key-data": _b64(pki / "admin.key")}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "admin"}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


# --- running -------------------------------------------------------------------------------------

class LocalCluster:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok, all on 127.0.0.1; ``stop()`` ends them."""

    def __init__(self, binaries: ClusterBinaries, work_dir: Path, stages: Path, *,
                 nodes: Sequence[FakeNode] = DEFAULT_NODES, say: Callable[[str], None] = lambda _m: None,
                 real_node: bool = False, node_images: Sequence[BuiltImage] = ()) -> None:
        self.binaries = binaries
        self.work = work_dir
        self.stages = stages
        self.nodes = tuple(nodes)
        self.say = say
        self.pki = work_dir / "pki"
        self.kubeconfig = work_dir / "kubeconfig"
        self.runner = ProcessRunner(work_dir)
        self.children: dict[str, Child] = {}
        self.ports: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self.real_node = real_node
        self.node_images = tuple(node_images)
        self.node: RealNode | None = None

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.ports['apiserver']}"

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _mark(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.timings[phase] = round(now - since, 2)
        return now

    def start(self, timeout: float = 120.0) -> None:
        reap_stale_work_dirs()
        self.work.mkdir(parents=True, exist_ok=True)
        t0 = t = time.monotonic()
        deadline = t0 + timeout
        try:
            make_pki(self.pki)
            t = self._mark("certificates_s", t)
            for name in ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok"):
                self.ports[name] = free_port(HOST)
            self._start_etcd()
            self._wait_http(f"http://{HOST}:{self.ports['etcd']}/health", "etcd", deadline, tls=False)
            t = self._mark("etcd_s", t)
            self._start_apiserver()
            self._wait_http(f"{self.server}/readyz", "kube-apiserver", deadline)
            write_kubeconfig(self.kubeconfig, self.server, self.pki)
            t = self._mark("apiserver_s", t)
            self._start_controllers()
            self._register_nodes(deadline)
            for role in ("controller_manager", "scheduler"):
                self._wait_http(f"https://{HOST}:{self.ports[role]}/healthz", role.replace("_", "-"), deadline,
                                verify=False)
            self._wait_default_service_account(deadline)
            t = self._mark("controllers_and_nodes_s", t)
            if self.real_node:
                self.start_real_node(self.node_images, timeout=max(30.0, deadline - time.monotonic()))
                self._mark("real_node_s", t)
            self._mark("total_s", t0)
        except BaseException:
            self.stop()
            raise

    def start_real_node(self, images: Sequence[BuiltImage] = (), timeout: float = 120.0) -> RealNode:
        """Join one real node (kubelet + private containerd) to the running control plane."""
        if self.node is None:
            node = RealNode(self.binaries.path("kubelet"), self.kubeconfig, self.pki, images=images, say=self.say)
            node.start(timeout=timeout)
            self.node = node
            self.timings.update(node.timings)
        return self.node

    def stop_real_node(self) -> list[str]:
        """Stop the real node (if any) and restore the host; the control plane keeps running."""
        node, self.node = self.node, None
        if node is None:
            return []
        from phoenix_harness.backends.kubernetes.client import Kube

        def delete_node(name: str) -> None:
            Kube(kubeconfig=str(self.kubeconfig)).delete("v1", "Node", name)

        return node.stop(delete_node if self.alive() else None)

    def _start(self, role: str, argv: Sequence[str | Path]) -> None:
        self.children[role] = self.runner.start(role, [str(a) for a in argv], log_name=f"{role}.log")

    def _start_etcd(self) -> None:
        client = f"http://{HOST}:{self.ports['etcd']}"
        peer = f"http://{HOST}:{self.ports['etcd_peer']}"
        self._start("etcd", [
            self.binaries.path("etcd"), "--name=phoenix", f"--data-dir={self.work / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=phoenix={peer}", "--unsafe-no-fsync", "--log-level=warn",
            "--quota-backend-bytes=1073741824",
        ])

    def _start_apiserver(self) -> None:
        pki = self.pki
        self._start("kube-apiserver", [
            self.binaries.path("kube-apiserver"),
            f"--etcd-servers=http://{HOST}:{self.ports['etcd']}",
            f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC", "--allow-privileged=true", "--profiling=false",
            f"--kubelet-client-certificate={pki / 'admin.crt'}", f"--kubelet-client-key={pki / 'admin.key'}",
            f"--cert-dir={self.work / 'apiserver-certs'}",
        ])

    def _component_kubeconfig_args(self) -> list[str]:
        k = str(self.kubeconfig)
        return [f"--kubeconfig={k}", f"--authentication-kubeconfig={k}", f"--authorization-kubeconfig={k}"]

    def _start_controllers(self) -> None:
        self._start("kube-controller-manager", [
            self.binaries.path("kube-controller-manager"), *self._component_kubeconfig_args(),
            f"--bind-address={HOST}", f"--secure-port={self.ports['controller_manager']}", "--leader-elect=false",
            f"--service-account-private-key-file={self.pki / 'sa.key'}", f"--root-ca-file={self.pki / 'ca.crt'}",
            "--use-service-account-credentials=false", f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--cert-dir={self.work / 'controller-manager-certs'}",
        ])
        self._start("kube-scheduler", [
            self.binaries.path("kube-scheduler"), *self._component_kubeconfig_args(),
            f"--bind-address={HOST}", f"--secure-port={self.ports['scheduler']}", "--leader-elect=false",
            f"--cert-dir={self.work / 'scheduler-certs'}",
        ])
        self._start("kwok", [
            self.binaries.path("kwok"), f"--kubeconfig={self.kubeconfig}", f"--config={self.stages}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            "--cidr=10.244.0.0/16", "--node-ip=10.0.0.1", "--node-lease-duration-seconds=40",
            f"--server-address={HOST}:{self.ports['kwok']}",
        ])

    def _register_nodes(self, deadline: float) -> None:
        from phoenix_harness.backends.kubernetes.client import Kube

        kube = Kube(kubeconfig=str(self.kubeconfig))
        for node in self.nodes:
            kube.apply({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {
                    "name": node.name,
                    "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
                               "kubernetes.io/arch": "amd64", "type": "kwok", **node.labels},
                },
            })
        names = {n.name for n in self.nodes}
        ready: set[str] = set()

        def all_ready() -> bool:
            self._check_alive()
            ready.clear()
            ready.update(n["metadata"]["name"] for n in kube.list_objects("v1", "Node")
                         if any(c.get("type") == "Ready" and c.get("status") == "True"
                                for c in (n.get("status") or {}).get("conditions") or []))
            return names <= ready

        wait_until(all_ready, interval_s=0.2, deadline=deadline,
                   error=lambda: InfrastructureError("E463", f"simulated nodes not Ready: {sorted(names - ready)}",
                                                     where=str(self.work / "kwok.log"), fix="see kwok.log"))

    def _wait_default_service_account(self, deadline: float) -> None:
        """The controller-manager works once it has made the ``default`` service account (pods need one)."""
        from phoenix_harness.backends.kubernetes.client import Kube

        kube = Kube(kubeconfig=str(self.kubeconfig), namespace="default")
        wait_until(lambda: kube.get("v1", "ServiceAccount", "default") is not None, interval_s=0.2,
                   deadline=deadline, check=self._check_alive,
                   error=InfrastructureError("E463", "the controller-manager made no default service account in time",
                                             where=str(self.work / "kube-controller-manager.log"),
                                             fix="see kube-controller-manager.log"))

    def _ssl_context(self, verify: bool) -> ssl.SSLContext:
        if not verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _wait_http(self, url: str, what: str, deadline: float, *, tls: bool = True, verify: bool = True) -> None:
        ctx = self._ssl_context(verify) if tls else None

        def ready() -> bool:
            self._check_alive()
            with urllib.request.urlopen(url, timeout=2.0, context=ctx) as resp:  # noqa: S310 - loopback only
                return bool(resp.status == 200)

        wait_until(ready, interval_s=0.1, deadline=deadline, retry_on=(urllib.error.URLError, OSError, ValueError),
                   error=InfrastructureError("E463", f"{what} did not become ready in time", where=url,
                                             fix=f"see the logs in {self.work}"))

    def _check_alive(self) -> None:
        for role, child in self.children.items():
            if not child.alive():
                raise InfrastructureError("E463", f"{role} exited with code {child.popen.returncode}: "
                                          f"{child.log_tail(3)}", where=str(child.log_path),
                                          fix=f"see {child.log_path}")

    def alive(self) -> bool:
        return bool(self.children) and all(c.alive() for c in self.children.values())

    def stop(self) -> None:
        """Stop the components, API consumers first, so nothing logs errors about a vanished server."""
        self.stop_real_node()
        order = ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
        for role in order:
            child = self.children.get(role)
            if child is not None:
                self.runner.stop_many([child], timeout=10.0)
        self.runner.stop_all()
        self.children.clear()


UP_PREFIX = "phoenix-kube-"


def reap_stale_work_dirs() -> list[str]:
    """Remove the work folders of ``... cluster up`` runs that were killed (their owner recorded in owner.json)."""
    from phoenix_harness.backends.kubernetes.node import _owner_alive

    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{UP_PREFIX}*"):
        try:
            data = json.loads((folder / "owner.json").read_text())
        except (OSError, ValueError):
            continue
        if not _owner_alive(data):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def node_images(root: Path) -> tuple[BuiltImage, ...]:
    """The images a real node gets besides pause: the built collector, the host's Prometheus and the load Job's
    image (this machine's Python with the package), when they can be built."""
    from phoenix_harness.backends.kubernetes import images as I
    from phoenix_harness.toolchain import locate_collector, locate_prometheus

    found: list[BuiltImage] = []
    manifest = root / "otel-configs" / "collector-manifest.yaml"
    with contextlib.suppress(PhoenixError):
        found.append(I.collector_image(locate_collector(manifest if manifest.is_file() else None, build=False).path))
    with contextlib.suppress(PhoenixError):
        found.append(I.prometheus_image(locate_prometheus().path))
    profile = root / "load-profiles" / "realistic.yaml"
    if profile.is_file():
        with contextlib.suppress(PhoenixError):
            found.append(I.load_image(root, profile))
    return tuple(found)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phoenix_harness.backends.kubernetes.cluster",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "path", "up", "reap"])
    parser.add_argument("--root", default=".", help="repository root")
    parser.add_argument("--real-node", action="store_true",
                        help="with up: also start one real node (kubelet on a private containerd; needs root)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    try:
        if args.command == "build":
            bins = build_binaries(root, say=lambda m: print(m, flush=True))
            print(f"test cluster binaries (Kubernetes {bins.kubernetes_version}): {bins.directory}")
        elif args.command == "reap":
            from phoenix_harness.backends.kubernetes.node import NODE_BASE, reap_dead_nodes

            for line in reap_dead_nodes(NODE_BASE):
                print(line)
            for folder in reap_stale_work_dirs():
                print(f"removed the work folder of a killed run: {folder}")
        elif args.command == "path":
            print(require_binaries(root).directory)
        else:
            def interrupt(signum: int, frame: object) -> None:
                raise KeyboardInterrupt

            signal.signal(signal.SIGTERM, interrupt)
            signal.signal(signal.SIGINT, interrupt)  # also when started in the background (SIGINT ignored)
            reap_stale_work_dirs()
            work = Path(tempfile.mkdtemp(prefix=UP_PREFIX))
            (work / "owner.json").write_text(json.dumps({"owner_pid": os.getpid(),
                                                         "owner_create_time": psutil.Process().create_time()}))
            images = node_images(root) if args.real_node else ()
            with LocalCluster(require_binaries(root), work, root / STAGES, real_node=args.real_node,
                              node_images=images, say=lambda m: print(m, flush=True)) as cluster:
                node = f"; real node {cluster.node.name} Ready" if cluster.node else ""
                print(f"export KUBECONFIG={cluster.kubeconfig}   # started in {cluster.timings['total_s']}s{node}; "
                      "Ctrl-C stops it", flush=True)
                if cluster.node:
                    from phoenix_harness.backends.kubernetes import images as I
                    from phoenix_harness.backends.kubernetes.labels import REAL_NODE

                    print(f"export PHOENIX_KUBE_TARGET={REAL_NODE}=true PHOENIX_KUBE_IMAGE={I.COLLECTOR_IMAGE} "
                          f"PHOENIX_KUBE_PROMETHEUS_IMAGE={I.PROMETHEUS_IMAGE} PHOENIX_KUBE_HOST_NETWORK=true "
                          "PHOENIX_KUBE_LOAD_ON_HOST=true   # experiments on the real node: --phoenix-backend "
                          "kubernetes", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while cluster.alive():
                        time.sleep(1)
            shutil.rmtree(work, ignore_errors=True)
    except PhoenixError as exc:
        print(exc.text(), file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_main())
