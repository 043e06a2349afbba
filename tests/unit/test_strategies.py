"""The public hypothesis strategies draw what they promise."""

from hypothesis import given, settings

from phoenix_harness import strategies as ps
from phoenix_harness.spec import LoadProfile


@settings(max_examples=50)
@given(ps.process_populations(critical_names=["postgres", "etcd"]))
def test_populations_have_unique_pids_and_distinct_rates_per_host(population) -> None:
    assert len({p.pid for p in population}) == len(population)
    for host in {p.host for p in population}:
        mine = [p for p in population if p.host == host]
        assert len({p.name for p in mine}) == len(mine)
        assert len({p.cpu_cores for p in mine}) == len(mine)
        assert all(len(p.name.encode()) <= 15 for p in mine)
        assert all(p.critical == (p.name in ("postgres", "etcd")) for p in mine)


@settings(max_examples=50)
@given(ps.load_profiles())
def test_drawn_profiles_are_valid(profile: LoadProfile) -> None:
    assert profile.process_count >= 1
    names = [n for g in profile.groups for n in g.names()]
    assert len(names) == len(set(names))
