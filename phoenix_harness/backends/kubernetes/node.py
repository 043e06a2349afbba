"""One real node for the test cluster: the upstream kubelet on a private containerd + runc (Debian's).

Everything lives under one folder per node (``NODE_BASE/<id>/``: containerd's root, state and socket, runc's
state, the kubelet's root, certificates and pod logs, the CNI config and IPAM data) and one cgroup
(``CGROUP_ROOT``, in every cgroup v1 hierarchy). The node changes the host in a few more places, each
recorded in ``state.json`` *before* anything starts, so that :func:`cleanup` restores the host after a normal
stop and, when the run was killed (SIGKILL), at the next start (:func:`reap_dead_nodes`):

- sysctls the kubelet sets (``vm.overcommit_memory``, ``kernel.panic``, ``kernel.panic_on_oops``, ...): put back;
- iptables chains the kubelet or the CNI plugins add (``KUBE-*``, ``CNI-*``): jumps to them removed, then the
  chains flushed and deleted (only chains that did not exist before);
- the CNI bridge (``BRIDGE``) and the network namespaces made for pods: deleted;
- mounts under the node's folder (overlay root filesystems, shm, projected volumes): unmounted;
- the cgroup tree: its processes (containers, pause, shims) killed, the folders removed.

One real node runs at a time on a host (a host-wide lock, held while it runs; the kernel drops it when the
owner dies). The node is tainted ``TAINT`` so that pods land on it only when they tolerate it (the simulated
kwok nodes keep the rest of the tests' pods).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil
import yaml

from phoenix_harness.backends.kubernetes import images as I
from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.backends.kubernetes.images import images_dir
from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.procs import Child, ProcessRunner, free_port
from phoenix_harness.core.waits import wait_until

NODE_BASE = Path(os.environ.get("PHOENIX_KUBE_NODE_DIR", "/var/lib/phoenix-harness/kube-node"))
CGROUP_ROOT = "phoenix-harness-kube"
BRIDGE = "phxkube0"
POD_SUBNET = "10.213.0.0/24"
CNI_NETWORK = "phoenix-kube"
TAINT_KEY = L.REAL_NODE
TAINT = dict(M.REAL_NODE_TOLERATION)
REAL_NODE_LABEL = L.REAL_NODE
# What the kubelet sets at start (pkg/kubelet/cm: setupKernelTunables), plus forwarding for the CNI bridge.
SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
           "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward")
IPTABLES = ("iptables", "ip6tables")
TABLES = ("filter", "nat", "mangle")
OWNED_CHAIN = re.compile(r"^(KUBE-|CNI-)")
NETNS_DIR = Path("/var/run/netns")
CONTAINER_LOGS = Path("/var/log/containers")
CNI_RESULTS = Path("/var/lib/cni/results")
SHIM_SOCKETS = Path("/run/containerd/s")
LOCK_WAIT_S = 900.0
NODE_HINT = "the real node needs root, Debian's containerd, runc and containernetworking-plugins " \
            "(apt-get install containerd runc containernetworking-plugins)"


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key


def read_sysctls() -> dict[str, str]:
    values = {}
    for key in SYSCTLS:
        with contextlib.suppress(OSError):
            values[key] = _sysctl_path(key).read_text().strip()
    return values


def iptables_chains() -> dict[str, dict[str, list[str]]]:
    """Chains per command and table, as ``iptables -S`` lists them (absent commands/tables: empty)."""
    found: dict[str, dict[str, list[str]]] = {}
    for cmd in IPTABLES:
        exe = shutil.which(cmd)
        found[cmd] = {}
        for table in TABLES:
            if not exe:
                found[cmd][table] = []
                continue
            proc = subprocess.run([exe, "-w", "5", "-t", table, "-S"], capture_output=True, text=True)
            found[cmd][table] = [line.split()[1] for line in proc.stdout.splitlines()
                                 if line.startswith(("-N ", "-P ")) and len(line.split()) > 1]
    return found


def _netns() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob("*")) if NETNS_DIR.is_dir() else []


def cgroup_mounts() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers and the v2 unified one)."""
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] in ("cgroup", "cgroup2"):
            mounts.append(Path(parts[1]))
    return mounts


def _mounts_under(base: Path) -> list[str]:
    prefix = str(base).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix) or point == str(base):
            found.append(point)
    return found


# --- state and cleanup ---------------------------------------------------------------------------

@dataclass(slots=True)
class HostSnapshot:
    """What the host looked like before the node started: what :func:`cleanup` puts back."""

    sysctls: dict[str, str]
    chains: dict[str, dict[str, list[str]]]
    netns: list[str]

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(read_sysctls(), iptables_chains(), _netns())


def write_state(folder: Path, snapshot: HostSnapshot, extra: dict[str, Any] | None = None) -> None:
    data = {"owner_pid": os.getpid(), "owner_create_time": psutil.Process().create_time(),
            "sysctls": snapshot.sysctls, "chains": snapshot.chains, "netns": snapshot.netns, **(extra or {})}
    tmp = folder / "state.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, folder / "state.json")


def _owner_alive(data: dict[str, Any]) -> bool:
    try:
        owner = psutil.Process(int(data["owner_pid"]))
        return abs(owner.create_time() - float(data["owner_create_time"])) <= 1.0
    except (psutil.Error, KeyError, ValueError, TypeError):
        return False


def _kill_cgroup_tree(say: Callable[[str], None]) -> int:
    """SIGKILL every process in the node's cgroup (all hierarchies), then remove its folders bottom-up."""
    killed: set[int] = set()
    for _attempt in range(20):
        pids: set[int] = set()
        for mount in cgroup_mounts():
            root = mount / CGROUP_ROOT
            if not root.is_dir():
                continue
            for procs in root.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids |= {int(p) for p in procs.read_text().split()}
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= pids
        time.sleep(0.1)
    for mount in cgroup_mounts():
        root = mount / CGROUP_ROOT
        if not root.is_dir():
            continue
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()
        if root.exists():
            say(f"cgroup {root} could not be removed")
    return len(killed)


def _kill_shims(socket_path: str) -> list[str]:
    """containerd's shims outlive containerd (their own session): kill those serving this node's containerd.
    Returns their sandbox/container ids."""
    ids = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if any(a == socket_path for a in cmd) and any("containerd-shim" in a for a in cmd[:1]):
            with contextlib.suppress(psutil.Error):
                proc.kill()
                if "-id" in cmd[:-1]:
                    ids.append(cmd[cmd.index("-id") + 1])
    return ids


def _shim_socket(socket_path: str, namespace: str, task_id: str) -> Path:
    """Where containerd 1.6 puts a shim's socket (``runtime/v2/shim.SocketAddress``): outside the node's folder."""
    digest = hashlib.sha256(f"{socket_path}/{namespace}/{task_id}".encode()).hexdigest()
    return SHIM_SOCKETS / digest


def _umount(point: str) -> None:
    subprocess.run(["umount", "-l", point], capture_output=True)


def _remove_chains(chains_before: dict[str, dict[str, list[str]]], say: Callable[[str], None]) -> list[str]:
    removed = []
    now = iptables_chains()
    for cmd, tables in now.items():
        exe = shutil.which(cmd)
        if not exe:
            continue
        for table, chains in tables.items():
            before = set(chains_before.get(cmd, {}).get(table, []))
            new = [c for c in chains if c not in before and OWNED_CHAIN.match(c)]
            if not new:
                continue
            rules = subprocess.run([exe, "-w", "5", "-t", table, "-S"], capture_output=True, text=True).stdout
            for line in rules.splitlines():
                parts = line.split()
                if len(parts) > 2 and parts[0] == "-A" and "-j" in parts and parts[parts.index("-j") + 1] in new \
                        and parts[1] not in new:
                    subprocess.run([exe, "-w", "5", "-t", table, "-D", *parts[1:]], capture_output=True)
            for chain in new:
                subprocess.run([exe, "-w", "5", "-t", table, "-F", chain], capture_output=True)
            for chain in new:
                proc = subprocess.run([exe, "-w", "5", "-t", table, "-X", chain], capture_output=True, text=True)
                if proc.returncode == 0:
                    removed.append(f"{cmd}/{table}/{chain}")
                else:
                    say(f"{cmd} -t {table} -X {chain}: {proc.stderr.strip()}")
    return removed


def cleanup(folder: Path, say: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Undo everything a node recorded in ``folder/state.json`` changed, then remove the folder."""
    done: list[str] = []
    try:
        data = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        data = {}
    sock = str(folder / "containerd" / "containerd.sock")
    # 1. processes: the kubelet and containerd are gone with their owner (or stopped by it); shims and
    # containers are not.
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if cmd and Path(cmd[0]).name in ("kubelet", "containerd") and any(str(folder) in a for a in cmd):
            with contextlib.suppress(psutil.Error):
                proc.kill()
                done.append(f"killed {Path(cmd[0]).name} {proc.pid}")
    shims = _kill_shims(sock)
    pods = _kill_cgroup_tree(say)
    if shims or pods:
        done.append(f"killed {len(shims)} shim(s) and {pods} container process(es)")
    task_dir = folder / "containerd" / "state" / "io.containerd.runtime.v2.task" / "k8s.io"
    ids = set(shims) | ({p.name for p in task_dir.iterdir()} if task_dir.is_dir() else set())
    for task_id in ids:
        with contextlib.suppress(OSError):
            _shim_socket(sock, "k8s.io", task_id).unlink()
        if CNI_RESULTS.is_dir():
            for f in CNI_RESULTS.glob(f"*-{task_id}-*"):
                with contextlib.suppress(OSError):
                    f.unlink()
    # 2. network: pod namespaces made while the node ran, the bridge, CNI results.
    for name in sorted(set(_netns()) - set(data.get("netns", _netns()))):
        if name.startswith("cni-"):
            _umount(str(NETNS_DIR / name))
            with contextlib.suppress(OSError):
                (NETNS_DIR / name).unlink()
                done.append(f"removed netns {name}")
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        done.append(f"removed bridge {BRIDGE}")
    if CNI_RESULTS.is_dir():  # ours, and loopback results written while the node ran (only its pods use CNI)
        since = float(data.get("started_at") or time.time())
        for f in CNI_RESULTS.iterdir():
            with contextlib.suppress(OSError):
                if f.name.startswith(f"{CNI_NETWORK}-") or \
                        (f.name.startswith("cni-loopback-") and f.stat().st_mtime >= since - 1):
                    f.unlink()
    if not data.get("cni_dir_existed", True):
        for d in (CNI_RESULTS, CNI_RESULTS.parent):
            with contextlib.suppress(OSError):
                d.rmdir()
    if CONTAINER_LOGS.is_dir():
        for link in CONTAINER_LOGS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(str(folder)):
                    link.unlink()
    # 3. mounts under the node's folder, deepest first.
    mounts = sorted(_mounts_under(folder), key=len, reverse=True)
    for point in mounts:
        _umount(point)
    if mounts:
        done.append(f"unmounted {len(mounts)} mount(s)")
    # 4. iptables chains and sysctls.
    if "chains" in data:
        chains = _remove_chains(data["chains"], say)
        if chains:
            done.append(f"removed iptables chains {', '.join(chains)}")
    for key, value in (data.get("sysctls") or {}).items():
        with contextlib.suppress(OSError):
            if _sysctl_path(key).read_text().strip() != value:
                _sysctl_path(key).write_text(value)
                done.append(f"restored {key.replace('/', '.')}={value}")
    left = _mounts_under(folder)
    if left:
        say(f"still mounted under {folder}: {left[:3]}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return done


def reap_dead_nodes(base: Path = NODE_BASE, say: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Clean up after nodes whose owner died (SIGKILL): call with the host lock held."""
    done: list[str] = []
    if not base.is_dir():
        return done
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            data = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            data = {}
        if data and _owner_alive(data):
            continue
        steps = cleanup(folder, say)
        done.append(f"cleaned up after node {folder.name}: {'; '.join(steps) or 'nothing left'}")
    return done


# --- the node ------------------------------------------------------------------------------------

def _containerd_config(folder: Path) -> str:
    c = folder / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{c / 'root'}"
state = "{c / 'state'}"
oom_score = 0
[grpc]
  address = "{c / 'containerd.sock'}"
[ttrpc]
  address = "{c / 'containerd.sock.ttrpc'}"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{c / 'opt'}"
[{cri}]
  sandbox_image = "{I.PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{folder / 'runc'}"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{folder / 'cni'}"
"""


def _cni_config(folder: Path) -> dict[str, Any]:
    return {
        "cniVersion": "0.4.0", "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(folder / "cni-ipam"),
                      "ranges": [[{"subnet": POD_SUBNET}]], "routes": [{"dst": POD_SUBNET}]}},
            {"type": "loopback"},
        ],
    }


def _create_cgroup_root() -> None:
    """The kubelet requires its cgroup root to exist in every hierarchy; cpuset needs cpus/mems set."""
    for mount in cgroup_mounts():
        root = mount / CGROUP_ROOT
        root.mkdir(exist_ok=True)
        for key in ("cpuset.cpus", "cpuset.mems"):
            if (mount / key).is_file() and not (root / key).read_text().strip():
                (root / key).write_text((mount / key).read_text())


@dataclass(frozen=True, slots=True)
class NodeImages:
    refs: tuple[str, ...]
    import_s: float


class RealNode:
    """containerd + kubelet registered to the cluster at ``server``; ``stop()`` restores the host."""

    def __init__(self, kubelet: Path, kubeconfig: Path, pki: Path, *, images: Sequence[I.BuiltImage] = (),
                 base: Path = NODE_BASE, say: Callable[[str], None] = lambda _m: None) -> None:
        self.kubelet_bin = kubelet
        self.admin_kubeconfig = kubeconfig
        self.pki = pki
        self.images = [I.pause_image(), *images]
        self.base = base
        self.say = say
        self.name = socket.gethostname()
        self.folder = base / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.runner: ProcessRunner | None = None
        self.children: dict[str, Child] = {}
        self.timings: dict[str, float] = {}
        self.reaped: list[str] = []
        self._lock: IO[str] | None = None
        self.ports: dict[str, int] = {}

    @property
    def socket(self) -> Path:
        return self.folder / "containerd" / "containerd.sock"

    @staticmethod
    def check_host() -> None:
        if os.geteuid() != 0:
            raise PhoenixError("E466", "the test cluster's real node needs root (containerd, cgroups, mounts)",
                               fix="run as root, or use the simulated nodes only")
        missing = [b for b in ("containerd", "runc", "ctr", "iptables", "ip", "umount") if not shutil.which(b)]
        if not Path("/usr/lib/cni/bridge").is_file():
            missing.append("/usr/lib/cni/bridge")
        if missing:
            raise PhoenixError("E466", f"the real node needs {', '.join(missing)}", fix=NODE_HINT)
        try:
            socket.gethostbyname(socket.gethostname())
        except OSError:
            raise PhoenixError("E466", f"the node name {socket.gethostname()!r} does not resolve", where="/etc/hosts",
                               fix="add the hostname to /etc/hosts (the API server reaches the kubelet by it)") \
                from None

    def start(self, timeout: float = 120.0) -> None:
        self.check_host()
        t0 = time.monotonic()
        deadline = t0 + timeout
        self.base.mkdir(parents=True, exist_ok=True)
        self._lock = (self.base / ".lock").open("w")
        self._take_lock(self._lock, LOCK_WAIT_S)
        try:
            self.reaped = reap_dead_nodes(self.base, self.say)
            for line in self.reaped:
                self.say(line)
            self.folder.mkdir(parents=True)
            write_state(self.folder, HostSnapshot.take(),
                        {"name": self.name, "cni_dir_existed": CNI_RESULTS.parent.exists(),
                         "started_at": time.time()})
            self.timings["snapshot_s"] = round(time.monotonic() - t0, 2)
            self.runner = ProcessRunner(self.folder)
            _create_cgroup_root()
            self._start_containerd(deadline)
            t = time.monotonic()
            self._import_images()
            self.timings["images_s"] = round(time.monotonic() - t, 2)
            t = time.monotonic()
            self._start_kubelet()
            self._wait_ready(deadline)
            self.timings["kubelet_ready_s"] = round(time.monotonic() - t, 2)
            self.timings["node_total_s"] = round(time.monotonic() - t0, 2)
        except BaseException:
            self.stop()
            raise

    def _take_lock(self, lock: IO[str], wait_s: float) -> None:
        said = [False]

        def locked() -> bool:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not said[0]:
                    self.say("another real node runs on this host; waiting for it to stop")
                    said[0] = True
                return False

        def held() -> InfrastructureError:
            lock.close()
            self._lock = None
            return InfrastructureError("E469", f"another real node held {self.base / '.lock'} for {wait_s:.0f}s",
                                       where=str(self.base),
                                       fix="stop the other test run's cluster (one real node per host)")

        wait_until(locked, interval_s=0.5, timeout_s=wait_s, error=held)

    def _ctr(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
                              capture_output=True, text=True, timeout=timeout)

    def _start_containerd(self, deadline: float) -> None:
        assert self.runner is not None
        c = self.folder / "containerd"
        c.mkdir(parents=True)
        cni = self.folder / "cni"
        cni.mkdir()
        (cni / "10-phoenix.conflist").write_text(json.dumps(_cni_config(self.folder), indent=1))
        (c / "config.toml").write_text(_containerd_config(self.folder))
        self.children["containerd"] = self.runner.start(
            "containerd", ["containerd", "--config", str(c / "config.toml")], log_name="containerd.log")
        wait_until(lambda: self.socket.exists() and self._ctr("version", timeout=5).returncode == 0,
                   interval_s=0.1, deadline=deadline, check=self._check_alive,
                   error=InfrastructureError("E467", "containerd did not answer in time",
                                             where=str(self.folder / "containerd.log"), fix="see containerd.log"))

    def _import_images(self) -> None:
        for image in self.images:
            proc = self._ctr("images", "import", "--no-unpack", str(image.tarball))
            if proc.returncode != 0:
                raise InfrastructureError("E467", f"importing {image.ref} failed: {proc.stderr.strip()[-300:]}",
                                          where=str(image.tarball), fix="delete the tarball to rebuild it")

    def image_refs(self) -> list[str]:
        proc = self._ctr("images", "list", "-q", timeout=10)
        return [r for r in proc.stdout.split() if not r.startswith("sha256:")]

    def _start_kubelet(self) -> None:
        assert self.runner is not None
        k = self.folder / "kubelet"
        (k / "pods-logs").mkdir(parents=True)
        (k / "volume-plugins").mkdir()
        for name in ("kubelet", "healthz"):
            self.ports[name] = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1", "port": self.ports["kubelet"], "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": self.ports["healthz"],
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{CGROUP_ROOT}",
            "cgroupsPerQOS": True, "failSwapOn": False,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(self.pki / "ca.crt")}},
            "authorization": {"mode": "AlwaysAllow"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "podLogsDir": str(k / "pods-logs"), "volumePluginDir": str(k / "volume-plugins"),
            "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False, "resolvConf": "/etc/resolv.conf", "maxPods": 50,
            "nodeStatusReportFrequency": "10s", "syncFrequency": "5s", "fileCheckFrequency": "5s",
            "enableServer": True, "protectKernelDefaults": False, "makeIPTablesUtilChains": False,
        }
        (k / "config.yaml").write_text(yaml.safe_dump(config))
        self.children["kubelet"] = self.runner.start("kubelet", [
            str(self.kubelet_bin), f"--config={k / 'config.yaml'}", f"--kubeconfig={self.admin_kubeconfig}",
            f"--root-dir={k / 'root'}", f"--cert-dir={k / 'pki'}", f"--hostname-override={self.name}",
            f"--node-labels={REAL_NODE_LABEL}=true", "--v=1",
        ], log_name="kubelet.log")

    def _wait_ready(self, deadline: float) -> None:
        from phoenix_harness.backends.kubernetes.client import Kube

        kube = Kube(kubeconfig=str(self.admin_kubeconfig))
        conditions: list[dict[str, Any]] = []

        def ready() -> bool:
            self._check_alive()
            node = kube.get("v1", "Node", self.name)
            conditions[:] = ((node or {}).get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

        def not_ready() -> InfrastructureError:
            reason = "; ".join(f"{c.get('type')}={c.get('status')} {c.get('message', '')}" for c in conditions)[:400]
            return InfrastructureError("E468", f"node {self.name} not Ready in time: {reason or 'not registered'}",
                                       where=str(self.folder / "kubelet.log"), fix="see kubelet.log")

        wait_until(ready, interval_s=0.2, deadline=deadline, error=not_ready)

    def _check_alive(self) -> None:
        for role, child in self.children.items():
            if not child.alive():
                raise InfrastructureError("E468", f"{role} exited with code {child.popen.returncode}: "
                                          f"{child.log_tail(3)}", where=str(child.log_path),
                                          fix=f"see {child.log_path}")

    def alive(self) -> bool:
        return bool(self.children) and all(c.alive() for c in self.children.values())

    def stop(self, delete_node: Callable[[str], None] | None = None) -> list[str]:
        """Stop the kubelet, then containerd; kill what they ran; restore the host; release the lock."""
        done: list[str] = []
        try:
            if self.runner is not None:
                kubelet = self.children.pop("kubelet", None)
                if kubelet is not None:
                    self.runner.stop_many([kubelet], timeout=10.0)
                if delete_node is not None:
                    with contextlib.suppress(Exception):
                        delete_node(self.name)
                self.runner.stop_all(timeout=10.0)
                self.children.clear()
            if self.folder.exists():
                done = cleanup(self.folder, self.say)
        finally:
            if self._lock is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
                self._lock = None
        return done


def logs(folder: Path) -> Iterable[Path]:
    return sorted(folder.glob("*.log"))


def host_footprint(base: Path = NODE_BASE) -> dict[str, Any]:
    """What a real node changes on the host, as comparable data: equal before a start and after a cleanup."""
    return {
        "sysctls": read_sysctls(),
        "chains": iptables_chains(),
        "netns": _netns(),
        "bridge": Path(f"/sys/class/net/{BRIDGE}").exists(),
        "mounts": _mounts_under(base),
        "cgroups": sorted(str(m / CGROUP_ROOT) for m in cgroup_mounts() if (m / CGROUP_ROOT).exists()),
        "processes": sorted(p.pid for p in psutil.process_iter(["cmdline"])
                            if any(str(base) in a for a in (p.info.get("cmdline") or []))),
        "node_folders": sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else [],
        "cni_results": sorted(p.name for p in CNI_RESULTS.iterdir()) if CNI_RESULTS.is_dir() else None,
        "shim_sockets": sorted(p.name for p in SHIM_SOCKETS.iterdir()) if SHIM_SOCKETS.is_dir() else None,
    }


def doctor_lines(root: Path) -> list[str]:
    """What ``phoenix doctor`` says about the test cluster's real node: tools, binaries, images, leftovers."""
    from phoenix_harness.backends.kubernetes.cluster import binaries_dir, locate_binaries

    lines = []
    bins = locate_binaries(root)
    lines.append(f"kube test cluster: {bins.directory} (Kubernetes {bins.kubernetes_version}, with kubelet)"
                 if bins else f"kube test cluster: not built ({binaries_dir(root)}; fix: make kube-cluster)")
    for tool in ("containerd", "runc", "ctr"):
        path = shutil.which(tool)
        lines.append(f"  {tool + ':':12}{path or 'not found; fix: ' + NODE_HINT}")
    cni = Path("/usr/lib/cni/bridge")
    lines.append(f"  {'cni:':12}{cni.parent if cni.is_file() else 'not found; fix: ' + NODE_HINT}")
    cached = sorted(images_dir().glob("*/*.tar"), key=lambda p: p.stat().st_mtime) if images_dir().is_dir() else []
    by_name = {p.name: p for p in cached}  # the newest build of each image
    for ref in (I.PAUSE_IMAGE, I.COLLECTOR_IMAGE, I.PROMETHEUS_IMAGE):
        name = ref.split("/")[-1].replace(":", "_") + ".tar"
        found = by_name.get(name)
        lines.append(f"  image {ref}: " + (f"{found} ({found.stat().st_size // 1_000_000} MB)" if found else
                                          "not built yet (built and imported when the real node starts)"))
    footprint = host_footprint()
    if footprint["processes"] or footprint["mounts"] or footprint["bridge"] or footprint["cgroups"]:
        lines.append(f"  a real node is running or was killed: {len(footprint['processes'])} process(es), "
                     f"{len(footprint['mounts'])} mount(s) (clean up a killed one: "
                     "python -m phoenix_harness.backends.kubernetes.cluster reap)")
    return lines
