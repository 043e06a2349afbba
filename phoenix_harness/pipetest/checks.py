"""Compare what a pipeline exported with a case's expectations; every mismatch becomes a diff line.

The output of a run is split per collection (by data point timestamp) and per host (by ``host.name``);
a *process resource* has ``process.pid``, anything else (e.g. a class aggregate) is a *group*.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phoenix_harness.measure.otlp_sink import ReceivedPoint, ReceivedResource
from phoenix_harness.pipetest.inputs import Sent, SentProcess, group_by_host
from phoenix_harness.pipetest.model import Expectation, ValueCheck, evaluate_expression

_OPS = {"==": lambda a, b: abs(a - b) < 1e-9, "<=": lambda a, b: a <= b + 1e-9, ">=": lambda a, b: a >= b - 1e-9,
        "<": lambda a, b: a < b, ">": lambda a, b: a > b}


@dataclass
class Scope:
    """One (collection, host) of one expectation block, and what went wrong there."""

    collection: int  # 1-based
    host: str
    line: int | None
    lines: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    scopes: list[Scope]
    checked: int

    @property
    def failed(self) -> bool:
        return any(s.lines for s in self.scopes)

    def diff(self) -> str:
        out = []
        for s in self.scopes:
            if s.lines:
                at = f" (expect at line {s.line})" if s.line else ""
                out.append(f"collection {s.collection}, host {s.host}{at}:")
                out += [f"  {line}" for line in s.lines]
        return "\n".join(out)


def matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def split_by_collection(resources: Sequence[ReceivedResource], sent: Sent) -> list[list[ReceivedResource]]:
    """A resource per collection its points belong to (nearest collection timestamp); no points, no resource."""
    out: list[list[ReceivedResource]] = [[] for _ in sent.times]
    t0, step = sent.times[0], sent.interval_s
    for r in resources:
        per: dict[int, dict[str, list[ReceivedPoint]]] = {}
        for metric, points in r.metrics.items():
            for p in points:
                c = min(max(round((p.time_unix_nano / 1e9 - t0) / step), 0), len(sent.times) - 1)
                per.setdefault(c, {}).setdefault(metric, []).append(p)
        for c, metrics in per.items():
            out[c].append(ReceivedResource(r.attributes, metrics, r.received_at))
    return out


def _name(r: ReceivedResource) -> str:
    return str(r.attributes.get("process.executable.name", f"pid {r.attributes.get('process.pid')}"))


def _total(r: ReceivedResource, metric: str, point: Mapping[str, Any]) -> float | None:
    points = [p for p in r.metrics.get(metric, []) if all(str(p.attributes.get(k)) == str(v) for k, v in point.items())]
    return float(sum(p.value for p in points)) if points else None


def _series(r: ReceivedResource) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(m, tuple(sorted((k, str(v)) for k, v in p.attributes.items()))): float(p.value)
            for m, points in r.metrics.items() for p in points}


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _attrs(a: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in a.items()) + "}"


def evaluate(expect: Sequence[Expectation], sent: Sent, output: Sequence[ReceivedResource], token: str,
             parameters: Mapping[str, float]) -> Outcome:
    per_collection = [group_by_host(rs, token) for rs in split_by_collection(output, sent)]
    hosts = list(sent.by[0]) if sent.by else []
    scopes: list[Scope] = []
    checked = 0
    for c, by_host in enumerate(per_collection):
        stray = sorted(set(by_host) - set(hosts))
        if stray:
            scope = Scope(c + 1, "(other)", None)
            scope.lines += [f"unexpected resource for host {h or '(no host.name)'}: "
                            f"{_attrs(by_host[h][0].attributes)}" for h in stray]
            scopes.append(scope)
    declared = any(e.groups is not None for e in expect)  # then blocks without groups leave groups alone
    for e in expect:
        for c in range(len(sent.times)):
            if e.collection is not None and e.collection != c + 1:
                continue
            for host in hosts:
                if e.host is not None and e.host != host:
                    continue
                scope = Scope(c + 1, host, e.line)
                checked += _check(e, sent.by[c][host], per_collection[c].get(host, []), parameters, scope, declared)
                scopes.append(scope)
    return Outcome(scopes, checked)


def _check(e: Expectation, sent: list[SentProcess], out: list[ReceivedResource], parameters: Mapping[str, float],
           scope: Scope, groups_declared: bool) -> int:
    procs = {_name(r): r for r in out if "process.pid" in r.attributes}
    groups = [r for r in out if "process.pid" not in r.attributes]
    names = {s.spec.name for s in sent}
    checked = 0
    if e.kept is not None:
        checked += 1
        expected = {n for n in names if matches(n, e.kept)}
        actual = set(procs)
        if expected != actual:
            scope.lines.append(f"kept: expected {len(expected)}, got {len(actual)}")
            for n in sorted(expected | actual):
                mark = "=" if n in expected and n in actual else "-" if n in expected else "+"
                why = {"=": "", "-": "  (expected, not kept)", "+": "  (kept, not expected)"}[mark]
                scope.lines.append(f"  {mark} {n}{why}")
    if e.dropped:
        checked += 1
        wrongly = sorted(n for n in procs if matches(n, e.dropped))
        if wrongly:
            scope.lines.append(f"dropped: expected dropped, but kept: {', '.join(wrongly)}")
    if e.keeps or e.keeps_critical:
        checked += 1
        for s in sent:
            if not ((e.keeps_critical and s.critical) or matches(s.spec.name, e.keeps)):
                continue
            why = "critical" if e.keeps_critical and s.critical else "keeps"
            got = procs.get(s.spec.name)
            if got is None:
                scope.lines.append(f"{why}: {s.spec.name} lost (every series missing)")
                continue
            for key in sorted(set(s.resource.attributes) | set(got.attributes)):
                if key != "host.name" and s.resource.attributes.get(key) != got.attributes.get(key):
                    scope.lines.append(f"{why}: {s.spec.name} attribute {key}: expected "
                                       f"{s.resource.attributes.get(key)!r}, got {got.attributes.get(key)!r}")
            want, have = _series(s.resource), _series(got)
            missing = sorted(k for k in want if k not in have)
            changed = sorted(k for k in want if k in have and not math.isclose(want[k], have[k], rel_tol=1e-9))
            for m, attrs in missing:
                scope.lines.append(f"{why}: {s.spec.name} lost series {m}{_attrs(dict(attrs))}")
            for k in changed:
                scope.lines.append(f"{why}: {s.spec.name} {k[0]}{_attrs(dict(k[1]))}: expected {_fmt(want[k])}, "
                                   f"got {_fmt(have[k])}")
    if e.count is not None:
        checked += 1
        op, expr = e.count
        env = {**parameters, "critical": float(sum(1 for s in sent if s.critical))}
        bound = evaluate_expression(expr, env)
        if not _OPS[op](float(len(procs)), bound):
            scope.lines.append(f"processes_per_host: got {len(procs)}, expected {op} {expr} = {_fmt(bound)}"
                               f" (kept: {', '.join(sorted(procs)) or 'none'})")
    if e.groups is not None:
        checked += 1
        unmatched = list(groups)
        for g in e.groups:
            found = [r for r in unmatched if _has(r, g)]
            if len(found) != 1:
                scope.lines.append(f"groups: expected one resource with {_attrs(g)}, got {len(found)}")
            for r in found[:1]:
                unmatched.remove(r)
        if e.nothing_else:
            scope.lines += [f"groups: unexpected resource {_attrs(r.attributes)}" for r in unmatched]
    elif e.nothing_else and groups and not groups_declared:
        checked += 1
        scope.lines += [f"unexpected resource {_attrs(r.attributes)} (not a process; list it under groups)"
                        for r in groups]
    for v in e.values:
        checked += 1
        _check_value(v, sent, procs, groups, scope)
    return checked


def _has(r: ReceivedResource, attrs: Mapping[str, Any]) -> bool:
    return all(k in r.attributes and str(r.attributes[k]) == str(v) for k, v in attrs.items())


def _check_value(v: ValueCheck, sent: list[SentProcess], procs: Mapping[str, ReceivedResource],
                 groups: list[ReceivedResource], scope: Scope) -> None:
    label = f"{v.metric}{_attrs(v.point) if v.point else ''} of " + (
        v.where if isinstance(v.where, str) else _attrs(v.where))
    if isinstance(v.where, str):
        found = [r for n, r in procs.items() if fnmatch.fnmatchcase(n, v.where)]
    else:
        found = [r for r in [*procs.values(), *groups] if _has(r, v.where)]
    if len(found) != 1:
        scope.lines.append(f"value {label}: expected one resource, got {len(found)}")
        return
    actual = _total(found[0], v.metric, v.point)
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    for p in found[0].metrics.get(v.metric, []):
        if all(str(p.attributes.get(k)) == str(x) for k, x in v.point.items()):
            key = tuple(sorted((k, str(x)) for k, x in p.attributes.items()))
            seen[key] = seen.get(key, 0) + 1
    for key, n in seen.items():
        if n > 1:
            scope.lines.append(f"value {label}: {n} points with attributes {_attrs(dict(key))}, expected one "
                               "(a value is one point per attribute set)")
    if isinstance(v.equals, float):
        expected, how = v.equals, ""
    else:
        members = [s for s in sent if matches(s.spec.name, v.equals)]
        totals = [_total(s.resource, v.metric, v.point) for s in members]
        expected = float(sum(t for t in totals if t is not None))
        how = f" (sum of {len(members)}: {', '.join(s.spec.name for s in members) or 'none'})"
    if actual is None:
        scope.lines.append(f"value {label}: expected {_fmt(expected)}{how}, got no such points")
    elif not math.isclose(actual, expected, rel_tol=v.tolerance, abs_tol=1e-9):
        scope.lines.append(f"value {label}: expected {_fmt(expected)}{how}, got {_fmt(actual)} "
                           f"(difference {_fmt(actual - expected)})")
