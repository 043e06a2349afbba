"""Pure logic of the test cluster's real node and of single-node (host network) manifests."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.backends.kubernetes.images import ImageFile, write_image
from phoenix_harness.backends.kubernetes.node import _cni_config, _containerd_config, _shim_socket


def spec(**kw: object) -> M.CollectorSpec:
    base: dict[str, object] = {"name": "c", "namespace": "ns", "image": "phoenix.local/otelcol-phoenix:local",
                               "config_map": "c-config", "config_hash": "h", "labels": {}, "node_selector": {},
                               "health_port": 13133}
    return M.CollectorSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_local_images_are_never_pulled_and_others_keep_the_cluster_default() -> None:
    assert M.pull_policy("phoenix.local/pause:1") == {"imagePullPolicy": "Never"}
    assert M.pull_policy(M.DEFAULT_COLLECTOR_IMAGE) == {}
    container = M.daemon_set(spec())["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Never"


def test_every_harness_pod_tolerates_the_real_node_taint() -> None:
    pod = M.daemon_set(spec())["spec"]["template"]["spec"]
    assert {"key": L.REAL_NODE, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    prom = next(o for o in M.prometheus_objects("p", "ns", {}, {}) if o["kind"] == "Deployment")
    assert M.REAL_NODE_TOLERATION in prom["spec"]["template"]["spec"]["tolerations"]


def test_host_network_collector_uses_its_own_ports_and_probes_loopback() -> None:
    ds = M.daemon_set(spec(host_network=True, telemetry_port=24567))
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["host"] == "127.0.0.1"
    assert {"name": "telemetry", "containerPort": 24567, "protocol": "TCP"} in container["ports"]
    assert ds["spec"]["template"]["metadata"]["annotations"][L.SCRAPE_PORT] == "24567"
    assert "hostNetwork" not in M.daemon_set(spec())["spec"]["template"]["spec"]


def test_host_network_prometheus_listens_on_loopback_and_scrapes_static_targets() -> None:
    cfg = M.prometheus_static_config("self", {"baseline": 21000, "candidate": 21001})
    targets = cfg["scrape_configs"][0]["static_configs"]
    assert targets == [{"targets": ["127.0.0.1:21000"], "labels": {"variant": "baseline"}},
                       {"targets": ["127.0.0.1:21001"], "labels": {"variant": "candidate"}}]
    dep = next(o for o in M.prometheus_objects("p", "ns", {}, cfg, host_port=22000, node_selector={"a": "b"})
               if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["nodeSelector"]["a"] == "b"
    assert "--web.listen-address=127.0.0.1:22000" in pod["containers"][0]["args"]
    assert pod["containers"][0]["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": 22000,
                                                                 "host": "127.0.0.1"}


def test_image_tarball_records_platform_and_layer_digest(tmp_path: Path) -> None:
    exe = tmp_path / "prog"
    exe.write_bytes(b"\x7fELF fake")
    out = tmp_path / "img.tar"
    write_image(out, "phoenix.local/x:1", [ImageFile(exe, "/bin/prog")], ["/bin/prog"])
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["phoenix.local/x:1"]
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    with tarfile.open(fileobj=__import__("io").BytesIO(layer)) as inner:
        assert inner.getmember("bin/prog").mode == 0o755


def test_containerd_and_cni_stay_inside_the_node_folder(tmp_path: Path) -> None:
    text = _containerd_config(tmp_path)
    for key in ("root", "state"):
        assert f'{key} = "{tmp_path}/containerd/{key}"' in text
    assert "restrict_oom_score_adj = true" in text and "SystemdCgroup = false" in text
    assert f'Root = "{tmp_path}/runc"' in text
    cni = _cni_config(tmp_path)
    assert cni["plugins"][0]["ipMasq"] is False
    assert cni["plugins"][0]["ipam"]["dataDir"] == str(tmp_path / "cni-ipam")


def test_shim_socket_path_is_containerds() -> None:
    # containerd 1.6 runtime/v2/shim.SocketAddress: sha256 of "<grpc address>/<namespace>/<id>" under /run/containerd/s
    got = _shim_socket("/x/containerd.sock", "k8s.io", "abc")
    assert got == Path("/run/containerd/s") / hashlib.sha256(b"/x/containerd.sock/k8s.io/abc").hexdigest()
