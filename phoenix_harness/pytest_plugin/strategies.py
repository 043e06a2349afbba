"""Hypothesis strategies for process populations and load profiles.

Use them to check a property against the *real* collector, e.g. "for every population, topk keeps all
critical processes and never more than K others"::

    from hypothesis import given
    from phoenix_harness import strategies as ps

    @given(ps.process_populations(critical_names=["postgres", "etcd"]))
    def test_topk(population): ...
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from phoenix_harness.loadsim.otlp import SimProcess
from phoenix_harness.spec import LoadProfile
from phoenix_harness.spec.parse import profile_from_mapping

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_"
_pids = itertools.count(20_000)


def process_names(max_len: int = 15) -> st.SearchStrategy[str]:
    """Kernel-style process names: 1..15 bytes, starting with a letter."""
    return st.builds(lambda head, tail: (head + tail)[:max_len], st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
                     st.text(_ALPHABET, max_size=max_len - 1))


@st.composite
def process_populations(draw: Any, *, critical_names: Sequence[str] = (), hosts: int | None = None,
                        min_size: int = 1, max_size: int = 30) -> list[SimProcess]:
    """Processes on one or more hosts, with distinct names per host, unique pids, distinct CPU rates
    (so a rank is well defined) and some of ``critical_names`` mixed in."""
    n_hosts = hosts or draw(st.integers(1, 3))
    now = time.time()
    out: list[SimProcess] = []
    for h in range(n_hosts):
        host = f"host-{next(_pids)}-{h}"
        pool = st.one_of(st.sampled_from(list(critical_names)), process_names()) if critical_names else process_names()
        names = draw(st.lists(pool, min_size=min_size, max_size=max_size, unique=True))
        rates = draw(st.lists(st.integers(1, 10_000), min_size=len(names), max_size=len(names), unique=True))
        memory = draw(st.lists(st.integers(1 << 20, 512 << 20), min_size=len(names), max_size=len(names)))
        out += [SimProcess(host=host, pid=next(_pids), name=n, critical=n in critical_names,
                           cpu_cores=r / 10_000, memory_bytes=m, start_time=now - 120)
                for n, r, m in zip(names, rates, memory, strict=True)]
    return out


@st.composite
def process_groups(draw: Any, index: int = 0) -> dict[str, Any]:
    prefix = draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6))
    group: dict[str, Any] = {
        "name": f"{prefix}{index}-{{i}}",
        "count": draw(st.integers(1, 20)),
        "critical": draw(st.booleans()),
        "cpu": {"pattern": draw(st.sampled_from(["steady", "spiky", "growing", "random", "idle"])),
                "cores": draw(st.floats(0, 0.05, allow_nan=False))},
        "memory": {"pattern": draw(st.sampled_from(["steady", "growing", "random"])),
                   "mb": draw(st.floats(0.5, 16, allow_nan=False))},
    }
    if draw(st.booleans()):
        group["lifetime"] = f"{draw(st.integers(2, 30))}s"
    if draw(st.booleans()):
        group["churn_per_minute"] = draw(st.floats(0, 30, allow_nan=False))
    return group


@st.composite
def load_profile_documents(draw: Any) -> dict[str, Any]:
    """Valid load-profile documents (as written in ``load-profiles/*.yaml``)."""
    groups = [draw(process_groups(i)) for i in range(draw(st.integers(1, 5)))]
    return {"name": "generated", "description": "drawn by hypothesis", "processes": groups}


def load_profiles() -> st.SearchStrategy[LoadProfile]:
    return load_profile_documents().map(lambda d: profile_from_mapping(d, source="<hypothesis>"))
