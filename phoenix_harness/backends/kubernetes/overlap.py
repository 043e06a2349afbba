"""Experiments that would share nodes: found before a run starts, through one Lease per running experiment.

Two experiments on the same nodes disturb each other's measurements (both load simulations and both sets of
collectors compete for the same CPUs, and each collector sees the other's load processes). Every running
experiment holds a ``coordination.k8s.io`` Lease listing its nodes in an annotation, renewed while it runs;
an expired Lease (its run was killed) is ignored and removed. A new run computes how many of *its* nodes are
already in use:

- below 50 %: ``warning``, the run proceeds and says so;
- 50 % or more: ``error``, the run proceeds only with ``force``;
- 100 %: ``blocking``, the run never proceeds.

Checking and claiming happen under a lock Lease (created, or taken over when expired, with optimistic
concurrency on its resourceVersion), so two runs started together cannot both see the nodes free.
Leases live in the run's namespace; overlap is looked up in every namespace when the account may list
Leases cluster-wide, else in its own namespace only (the report says which).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes.client import Kube, Obj
from phoenix_harness.backends.kubernetes.manifests import lease
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.waits import wait_until

LOCK_NAME = "phoenix-harness-experiment-lock"
LOCK_DURATION_S = 15
LEASE_DURATION_S = 60
RENEW_EVERY_S = 15.0
ERROR_AT = 0.5
COMPONENT = "experiment-lease"


def _now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    text = text.replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def lease_expired(obj: Obj, now: float) -> bool:
    spec = obj.get("spec") or {}
    renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    return renewed + float(spec.get("leaseDurationSeconds") or 0) < now


@dataclass(frozen=True, slots=True)
class ExperimentClaim:
    """A running experiment, as its Lease describes it."""

    run: str
    experiment: str
    namespace: str
    nodes: tuple[str, ...]
    target: str


@dataclass(frozen=True, slots=True)
class Overlap:
    """How one other experiment shares our nodes."""

    other: ExperimentClaim
    nodes: tuple[str, ...]
    ratio: float

    @property
    def kind(self) -> str:
        return "complete" if self.ratio >= 1.0 else "partial"


@dataclass(frozen=True, slots=True)
class OverlapReport:
    """Our nodes against every other running experiment's; severity from the union of shared nodes."""

    nodes: tuple[str, ...]
    overlaps: tuple[Overlap, ...] = ()
    scope: str = "namespace"  # or "cluster": where other experiments were looked for
    forced: bool = False

    @property
    def affected(self) -> tuple[str, ...]:
        return tuple(sorted({n for o in self.overlaps for n in o.nodes}))

    @property
    def ratio(self) -> float:
        return len(self.affected) / len(self.nodes) if self.nodes else 0.0

    @property
    def kind(self) -> str:
        if not self.overlaps:
            return "none"
        return "complete" if self.ratio >= 1.0 else "partial"

    @property
    def severity(self) -> str:
        if not self.overlaps:
            return "none"
        if self.ratio >= 1.0:
            return "blocking"
        return "error" if self.ratio >= ERROR_AT else "warning"

    def describe(self) -> str:
        if not self.overlaps:
            return f"no other experiment runs on these {len(self.nodes)} node(s)"
        others = "; ".join(f"'{o.other.experiment}' (run {o.other.run}, {o.kind}: {', '.join(o.nodes)})"
                           for o in self.overlaps)
        return (f"{self.kind} overlap ({self.severity}): {len(self.affected)} of {len(self.nodes)} node(s) "
                f"({self.ratio:.0%}) already run another experiment: {others}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind, "severity": self.severity, "ratio": round(self.ratio, 4),
            "nodes": list(self.nodes), "affected_nodes": list(self.affected), "scope": self.scope,
            "forced": self.forced,
            "experiments": [{"experiment": o.other.experiment, "run": o.other.run, "namespace": o.other.namespace,
                             "type": o.kind, "nodes": list(o.nodes), "ratio": round(o.ratio, 4)}
                            for o in self.overlaps],
        }


def compare(nodes: Sequence[str], others: Sequence[ExperimentClaim], scope: str = "namespace") -> OverlapReport:
    ours = tuple(sorted(set(nodes)))
    overlaps = []
    for other in others:
        shared = tuple(sorted(set(ours) & set(other.nodes)))
        if shared:
            overlaps.append(Overlap(other, shared, len(shared) / len(ours)))
    return OverlapReport(ours, tuple(overlaps), scope)


@dataclass(slots=True)
class ExperimentLeases:
    """Claims nodes for a run, refusing overlap as the severity rules say; renews and releases the claim."""

    kube: Kube
    lease_s: int = LEASE_DURATION_S
    lock_timeout_s: float = 30.0
    clock: Callable[[], float] = time.time
    _renewed: dict[str, float] = field(default_factory=dict)
    _claims: dict[str, Obj] = field(default_factory=dict)

    @staticmethod
    def lease_name(run: str) -> str:
        return f"phx-exp-{run}"[:63].rstrip("-")

    def running(self, *, exclude_run: str | None = None) -> tuple[list[ExperimentClaim], str]:
        """Experiments holding an unexpired Lease, and where they were looked for."""
        sel = L.selector(L.managed(**{L.COMPONENT: COMPONENT}))
        scope = "cluster"
        try:
            leases = self.kube.list_objects("coordination.k8s.io/v1", "Lease", label_selector=sel, all_namespaces=True)
        except PhoenixError as exc:
            if exc.code != "E431":
                raise
            scope = "namespace"
            leases = self.kube.list_objects("coordination.k8s.io/v1", "Lease", label_selector=sel)
        now = self.clock()
        out = []
        for obj in leases:
            meta = obj.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            run = str((meta.get("labels") or {}).get(L.RUN, ""))
            if run == exclude_run:
                continue
            if lease_expired(obj, now):
                self._remove_stale(meta)
                continue
            nodes = tuple(n for n in str(annotations.get(L.NODES, "")).split(",") if n)
            out.append(ExperimentClaim(run, str(annotations.get(L.EXPERIMENT, run)), str(meta.get("namespace", "")),
                                       nodes, str(annotations.get(L.TARGET, ""))))
        return out, scope

    def _remove_stale(self, meta: Obj) -> None:
        """A killed run's Lease: remove it if allowed (another namespace may not be ours to clean)."""
        from kubernetes.dynamic.exceptions import ConflictError

        with contextlib.suppress(PhoenixError, ConflictError):
            self.kube.delete("coordination.k8s.io/v1", "Lease", str(meta.get("name")),
                             namespace=meta.get("namespace"), resource_version=meta.get("resourceVersion"))

    def check(self, nodes: Sequence[str], *, exclude_run: str | None = None) -> OverlapReport:
        others, scope = self.running(exclude_run=exclude_run)
        return compare(nodes, others, scope)

    def claim(self, run: str, experiment: str, nodes: Sequence[str], *, target: str = "", force: bool = False,
              say: Callable[[str], None] = lambda _m: None) -> OverlapReport:
        """Check overlap and, when allowed, record this run's Lease, atomically with respect to other runs."""
        with self._lock(run):
            report = self.check(nodes, exclude_run=run)
            where = f"Leases in {'all namespaces' if report.scope == 'cluster' else 'namespace ' + self.kube.namespace}"
            if report.severity == "blocking":
                raise PhoenixError("E446", f"experiment '{experiment}' cannot start: {report.describe()}",
                                   where=where, fix="wait for that experiment to finish, or pick other nodes "
                                   "(a different --target / target option); force does not override 100 %")
            if report.severity == "error" and not force:
                raise PhoenixError("E445", f"experiment '{experiment}' not started: {report.describe()}",
                                   where=where, fix="wait, pick other nodes, or pass force=true to run anyway "
                                   "(measurements will be disturbed)")
            if report.overlaps:
                say(("forced despite " if report.severity == "error" else "") + report.describe())
            now = self.clock()
            annotations = {L.NODES: ",".join(sorted(set(nodes))), L.EXPERIMENT: experiment, L.TARGET: target}
            if force and report.overlaps:
                annotations[L.FORCED] = "true"
            body = lease(self.lease_name(run), self.kube.namespace, L.managed(**{L.COMPONENT: COMPONENT, L.RUN: run}),
                         annotations, holder=run, duration_s=self.lease_s, now_iso=_now_iso(now))
            self.kube.apply(body)
            self._claims[run] = body
            self._renewed[run] = now
        return OverlapReport(report.nodes, report.overlaps, report.scope, force and bool(report.overlaps))

    def renew(self, run: str, *, every_s: float = RENEW_EVERY_S) -> None:
        """Keep the claim alive (call often; it writes at most every ``every_s``).

        The whole Lease is applied again: a server-side apply without a field would remove it.
        """
        now = self.clock()
        body = self._claims.get(run)
        if body is None or now - self._renewed.get(run, 0.0) < every_s:
            return
        body["spec"]["renewTime"] = _now_iso(now)
        self.kube.apply(body)
        self._renewed[run] = now

    def release(self, run: str) -> None:
        self.kube.delete("coordination.k8s.io/v1", "Lease", self.lease_name(run))
        self._claims.pop(run, None)
        self._renewed.pop(run, None)

    @contextmanager
    def _lock(self, run: str) -> Iterator[None]:
        from kubernetes.dynamic.exceptions import ConflictError

        labels = L.managed(**{L.COMPONENT: "experiment-lock"})
        held: list[Obj | None] = [None]  # the lock's Lease as last seen: who holds it

        def taken() -> bool:
            now = self.clock()
            body = lease(LOCK_NAME, self.kube.namespace, labels, {}, holder=run, duration_s=LOCK_DURATION_S,
                         now_iso=_now_iso(now))
            try:
                self.kube.create(body)
                return True
            except ConflictError:
                pass
            current = held[0] = self.kube.get("coordination.k8s.io/v1", "Lease", LOCK_NAME)
            if current is not None and lease_expired(current, now):
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                try:
                    self.kube.replace(body)
                    return True
                except ConflictError:
                    pass
            return False

        def held_by_another() -> PhoenixError:
            holder = ((held[0] or {}).get("spec") or {}).get("holderIdentity", "?")
            return PhoenixError("E447", f"another run ({holder}) holds the experiment lock", where=LOCK_NAME,
                                fix=f"retry in a moment; a crashed run's lock expires after {LOCK_DURATION_S}s")

        wait_until(taken, interval_s=0.1, timeout_s=self.lock_timeout_s, error=held_by_another)
        try:
            yield
        finally:
            current = self.kube.get("coordination.k8s.io/v1", "Lease", LOCK_NAME)
            if current is not None and (current.get("spec") or {}).get("holderIdentity") == run:
                try:
                    self.kube.delete("coordination.k8s.io/v1", "Lease", LOCK_NAME,
                                     resource_version=current["metadata"]["resourceVersion"])
                except ConflictError:
                    pass
