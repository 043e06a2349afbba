"""A local port that reaches a pod's port through the API server, as ``kubectl port-forward`` does.

The harness reads the run's in-cluster Prometheus this way, so it needs no Service exposure, no
Ingress and no network route to pod IPs, only the API access it already has.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from phoenix_harness.backends.kubernetes.client import Kube
from phoenix_harness.core.errors import InfrastructureError

HOST = "127.0.0.1"


class PortForward:
    """``127.0.0.1:local_port`` -> ``pod:port``; one API-server stream per accepted connection."""

    def __init__(self, kube: Kube, pod: str, port: int) -> None:
        self.kube = kube
        self.pod = pod
        self.port = port
        self.local_port = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.local_port}"

    def start(self) -> str:
        self._check_reachable()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(16)
        listener.settimeout(0.5)
        self._listener = listener
        self.local_port = int(listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name=f"port-forward-{self.pod}", daemon=True)
        self._thread.start()
        return self.url

    def _open(self) -> Any:
        from kubernetes.client import CoreV1Api
        from kubernetes.stream import portforward

        api = CoreV1Api(self.kube.api)
        return portforward(api.connect_get_namespaced_pod_portforward, self.pod, self.kube.namespace,
                           ports=str(self.port))

    def _check_reachable(self) -> None:
        """Open one stream now, so a node that cannot forward fails here with a reason, not at the first query."""
        try:
            pf = self._open()
            pf.close()
        except Exception as exc:  # noqa: BLE001 - any transport failure means the same thing to the user
            raise InfrastructureError(
                "E449", f"cannot port-forward to {self.pod}:{self.port}: {' '.join(str(exc).split())[:300]}",
                where=f"pod {self.kube.namespace}/{self.pod}",
                fix="the account needs create on pods/portforward in the namespace, and the node's kubelet must "
                "be reachable from the API server") from None

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            pf = self._open()
            remote = pf.socket(self.port)
            remote.setblocking(True)
        except Exception as exc:  # noqa: BLE001 - recorded; the caller's HTTP request fails and says so
            self.errors.append(" ".join(str(exc).split())[:300])
            conn.close()
            return
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while not done.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            done.set()
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

        threads = [threading.Thread(target=pump, args=(conn, remote), daemon=True),
                   threading.Thread(target=pump, args=(remote, conn), daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with contextlib.suppress(Exception):
            pf.close()
        conn.close()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
