"""The error format: a short, deterministic first line; long detail indented below it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.toolchain.otelcol import rejection

COMPONENTS = ["attributes", "batch", "filter", "memory_limiter", "resource", "topk", "transform"]


def test_detail_goes_below_the_first_line() -> None:
    exc = PhoenixError("E211", "the collector rejects it", where="x.yaml", fix="correct it",
                       detail=["valid values: a b"])
    assert exc.one_line() == "error[E211] x.yaml: the collector rejects it (fix: correct it)"
    assert exc.text() == exc.one_line() + "\n  valid values: a b"
    assert str(exc) == exc.text()
    assert str(PhoenixError("E1", "m")) == "error[E1] m"


@given(st.permutations(COMPONENTS))
def test_a_collector_list_of_valid_values_becomes_sorted_detail(order: list[str]) -> None:
    cause = (f"'processors' unknown type: \"memory_limitr\" for id: \"memory_limitr\" "
             f"(valid values: [{' '.join(order)}])")
    found = rejection(cause)
    assert found.message == "unknown processor \"memory_limitr\" (did you mean 'memory_limiter'?)"
    assert found.detail == (f"valid values: {' '.join(sorted(COMPONENTS))}",)
    assert str(found) == found.message


def test_an_id_other_than_the_type_is_kept_and_other_messages_pass_through() -> None:
    found = rejection("'exporters' unknown type: \"zzz\" for id: \"zzz/2\" (valid values: [otlp debug])")
    assert found.message == "unknown exporter \"zzz\" (in \"zzz/2\")" and found.detail == ("valid values: debug otlp",)
    plain = "processors::memory_limiter: 'limit_mib' expected type 'uint32', got unconvertible type 'string'"
    assert rejection(plain).message == plain and rejection(plain).detail == ()
