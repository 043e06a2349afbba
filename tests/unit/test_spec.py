"""Spec layer: durations, thresholds, experiment files and load profiles (pure parsing, no I/O beyond tmp files)."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.spec import (
    ExperimentSpec,
    PipelineRef,
    Threshold,
    load_experiment_file,
    load_profile_file,
    parse_duration,
    parse_threshold,
    spec_from_mapping,
)
from phoenix_harness.spec.parse import KPI_NAMES, MAX_DURATION_S, PERCENT_KPIS, profile_from_mapping

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"name": "exp", "baseline": "process-baseline-v1", "candidate": "process-priority-filter-v1",
           "load": "realistic"}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# --- parse_duration -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("60s", 60.0), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0), ("1h1m1s", 3661.0), ("1.5m", 90.0),
    ("0.5s", 0.5), (" 90s ", 90.0), ("24h", MAX_DURATION_S), (45, 45.0), (2.5, 2.5), (86400, 86400.0),
])
def test_parse_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", [
    "", "   ", "abc", "60", "s", "m", "60x", "1d", "-5s", "1h-5m", "500ms", "60 seconds",
    0, 0.0, "0s", "0m0s", -1, -0.5, "-1m", 86400.001, "24h1s", "25h", 10**9,
    True, False, None, [], {}, ["60s"], math.nan, math.inf, -math.inf,
])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(PhoenixError) as err:
        parse_duration(bad, where="exp.yaml:3")
    assert err.value.code == "E101"
    assert err.value.where == "exp.yaml:3"
    assert err.value.fix


@given(h=st.integers(0, 24), m=st.integers(0, 120), s=st.integers(0, 7200))
@FAST
def test_parse_duration_round_trips_hms(h: int, m: int, s: int) -> None:
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    text = "".join(parts)
    expected = h * 3600 + m * 60 + s
    if not text or not 0 < expected <= MAX_DURATION_S:
        with pytest.raises(PhoenixError):
            parse_duration(text or "0s")
    else:
        assert parse_duration(text) == expected


@given(st.floats(min_value=1e-3, max_value=MAX_DURATION_S, allow_nan=False))
@FAST
def test_parse_duration_numbers_are_seconds(seconds: float) -> None:
    assert parse_duration(seconds) == seconds
    assert parse_duration(f"{seconds!r}s") == pytest.approx(seconds)


@given(st.integers(min_value=1, max_value=int(MAX_DURATION_S)))
@FAST
def test_parse_duration_int_and_string_agree(seconds: int) -> None:
    assert parse_duration(seconds) == parse_duration(f"{seconds}s") == float(seconds)
    if seconds % 60 == 0:
        assert parse_duration(f"{seconds // 60}m") == float(seconds)


@given(st.one_of(st.integers(max_value=0), st.floats(max_value=0.0, allow_nan=False),
                 st.floats(min_value=MAX_DURATION_S, exclude_min=True)))
@FAST
def test_parse_duration_rejects_out_of_range_numbers(value: float) -> None:
    with pytest.raises(PhoenixError, match=r"E101"):
        parse_duration(value)


@given(st.text(max_size=12))
@FAST
def test_parse_duration_never_raises_anything_else(text: str) -> None:
    try:
        result = parse_duration(text)
    except PhoenixError as exc:
        assert exc.code == "E101"
    else:
        assert 0 < result <= MAX_DURATION_S


@given(st.one_of(st.integers(min_value=2**1024, max_value=2**3000), st.integers(min_value=-(2**3000),
                                                                                max_value=-(2**1024))))
@settings(max_examples=5, deadline=None)
def test_parse_duration_huge_int_is_a_user_error(value: int) -> None:
    with pytest.raises(PhoenixError, match=r"E101"):
        parse_duration(value)


# --- parse_threshold ------------------------------------------------------------------------------

@pytest.mark.parametrize(("kpi", "text", "op", "value"), [
    ("cost_reduction", ">= 40%", ">=", 0.40),
    ("cost_reduction", ">=40%", ">=", 0.40),
    ("critical_retention", "== 100%", "==", 1.0),
    ("critical_fidelity", "> 0.9", ">", 0.9),
    ("cardinality_reduction", "!= 0", "!=", 0.0),
    ("cost_reduction", ">= -5%", ">=", -0.05),
    ("cost_reduction", ">= 100%", ">=", 1.0),
    ("candidate.cpu_cores", "< 0.05", "<", 0.05),
    ("baseline.series", "<= 1e3", "<=", 1000.0),
    ("candidate.memory_rss_bytes", "< 150%", "<", 1.5),  # percent is allowed above 100% on non-ratio KPIs
    ("cost_reduction", 0.5, "==", 0.5),
    ("critical_retention", 1, "==", 1.0),
    ("baseline.series", 250, "==", 250.0),
])
def test_parse_threshold_accepts(kpi: str, text: object, op: str, value: float) -> None:
    t = parse_threshold(kpi, text)
    assert (t.kpi, t.op) == (kpi, op)
    assert t.value == pytest.approx(value)


def test_parse_threshold_keeps_text_for_reports() -> None:
    t = parse_threshold("cost_reduction", "  >= 40%  ")
    assert t.text == ">= 40%"
    assert t.describe() == "cost_reduction >= 40%"


def test_parse_threshold_unknown_kpi_suggests() -> None:
    with pytest.raises(PhoenixError) as err:
        parse_threshold("cost_reducton", ">= 40%", where="exp.yaml:9")
    assert err.value.code == "E102"
    assert "did you mean 'cost_reduction'" in str(err.value)
    assert "exp.yaml:9" in str(err.value)


@pytest.mark.parametrize("text", [">= 150%", "== 101%", "> 100%", "> 1", ">= 1.5", 2, "== 1e3"])
@pytest.mark.parametrize("kpi", sorted(PERCENT_KPIS))
def test_parse_threshold_impossible_is_e104(kpi: str, text: object) -> None:
    with pytest.raises(PhoenixError) as err:
        parse_threshold(kpi, text)
    assert err.value.code == "E104"


@pytest.mark.parametrize("text", ["40%", ">=", "at least 40%", ">= 40 %%", "=> 40%", ">= forty", "", "== inf",
                                  math.inf, math.nan])
def test_parse_threshold_unreadable_is_e103(text: object) -> None:
    with pytest.raises(PhoenixError) as err:
        parse_threshold("cost_reduction", text)
    assert err.value.code == "E103"


@pytest.mark.parametrize("text", [True, False, None, [">= 1"], {"op": ">="}])
def test_parse_threshold_wrong_type_is_e103(text: object) -> None:
    with pytest.raises(PhoenixError) as err:
        parse_threshold("cost_reduction", text)
    assert err.value.code == "E103"


@given(op=st.sampled_from([">=", "<=", ">", "<", "==", "!="]), hundredths=st.integers(0, 10_000),
       kpi=st.sampled_from(KPI_NAMES), spaces=st.sampled_from(["", " ", "  "]))
@FAST
def test_parse_threshold_percent_round_trip(op: str, hundredths: int, kpi: str, spaces: str) -> None:
    number = hundredths / 100  # 0 .. 100.00 percent
    text = f"{op}{spaces}{number}%"
    if kpi in PERCENT_KPIS and op == ">" and number >= 100:
        with pytest.raises(PhoenixError) as err:  # "more than 100 %" of a share can never be met
            parse_threshold(kpi, text)
        assert err.value.code == "E104"
        return
    t = parse_threshold(kpi, text)
    assert t.op == op
    assert t.value == pytest.approx(number / 100)
    assert t.kpi == kpi


@given(kpi=st.sampled_from(KPI_NAMES), text=st.one_of(st.text(max_size=15), st.integers(), st.floats()))
@FAST
def test_parse_threshold_never_raises_anything_else(kpi: str, text: object) -> None:
    try:
        t = parse_threshold(kpi, text)
    except PhoenixError as exc:
        assert exc.code in {"E103", "E104"}
    else:
        assert isinstance(t, Threshold)


def test_threshold_check_semantics() -> None:
    assert parse_threshold("critical_retention", "== 100%").check(1.0)
    assert not parse_threshold("critical_retention", "== 100%").check(0.999)
    assert parse_threshold("cost_reduction", ">= 40%").check(0.4)
    assert not parse_threshold("cost_reduction", "> 40%").check(0.4)
    assert parse_threshold("candidate.cpu_cores", "< 0.05").check(0.01)
    assert parse_threshold("cardinality_reduction", "!= 0").check(0.2)
    assert not parse_threshold("cardinality_reduction", "!= 0").check(0.0)


# --- experiments from mappings ---------------------------------------------------------------------

def test_minimal_mapping_gets_defaults() -> None:
    spec = spec_from_mapping(MINIMAL)
    assert spec.baseline == PipelineRef("process-baseline-v1")
    assert spec.candidate == PipelineRef("process-priority-filter-v1")
    assert (spec.duration_s, spec.warmup_s, spec.collection_interval_s) == (60.0, 10.0, 2.0)
    assert spec.driver == "processes"
    assert spec.thresholds == ()
    assert spec.source == "<marker>"


def test_too_few_intervals_is_e106() -> None:
    with pytest.raises(PhoenixError) as err:
        spec_from_mapping({**MINIMAL, "duration": "10s", "collection_interval": "5s"})
    assert err.value.code == "E106"


@pytest.mark.parametrize(("extra", "needle"), [
    ({"driver": "ssh"}, "driver"),
    ({"name": "has space"}, "name"),
    ({"name": ""}, "name"),
    ({"baseline": 5}, "baseline"),
    ({"baseline": {"parameters": {}}}, "baseline"),
    ({"baseline": {"name": "x", "paramters": {}}}, "paramters"),
    ({"duration": [60]}, "duration"),
    ({"expect": ["cost_reduction >= 40%"]}, "expect"),
    ({"parameters": "k=5"}, "parameters"),
    ({"durration": "60s"}, "durration"),
])
def test_schema_errors_name_the_field(extra: dict[str, object], needle: str) -> None:
    with pytest.raises(PhoenixError) as err:
        spec_from_mapping({**MINIMAL, **extra})
    assert err.value.code == "E110"
    assert needle in err.value.message


@pytest.mark.parametrize("missing", ["name", "baseline", "candidate", "load"])
def test_missing_required_field(missing: str) -> None:
    data = {k: v for k, v in MINIMAL.items() if k != missing}
    with pytest.raises(PhoenixError) as err:
        spec_from_mapping(data)
    assert err.value.code == "E110"
    assert f"missing required field '{missing}'" in err.value.message


KEYS = ["name", "description", "baseline", "candidate", "load", "driver", "duration", "warmup",
        "collection_interval", "parameters", "expect"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["60s", "2m", "1m30s", "0s", "-5s", "25h", "abc", ">= 40%", "== 100%", ">= 150%", "< 0.05",
                     "processes", "otlp", "cost_reduction", "critical_retention", "baseline.series", "ünïcødé ✓"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from([*KEYS, *KPI_NAMES]), st.text(max_size=10)), inner, max_size=4),
    ),
    max_leaves=12,
)
DOCS = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), VALUES, max_size=8)


@given(doc=DOCS, complete=st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_garbage_mappings_raise_only_phoenix_errors(doc: dict[str, object], complete: bool) -> None:
    data = {**MINIMAL, **doc} if complete else doc
    try:
        spec = spec_from_mapping(data)
    except PhoenixError as exc:
        assert exc.code.startswith("E1")
        assert str(exc).startswith(f"error[{exc.code}]")
    else:
        assert isinstance(spec, ExperimentSpec)
        assert 0 < spec.collection_interval_s * 5 <= spec.duration_s <= MAX_DURATION_S


@given(key=st.sampled_from(["duration", "warmup", "collection_interval"]),
       value=st.integers(min_value=2**1024, max_value=2**2000))
@settings(max_examples=5, deadline=None)
def test_huge_int_duration_in_mapping_is_a_user_error(key: str, value: int) -> None:
    with pytest.raises(PhoenixError):
        spec_from_mapping({**MINIMAL, key: value})


# --- experiment files --------------------------------------------------------------------------------

VALID = """
    # priority filter against the baseline
    name: priority_filter
    description: keep critical processes
    baseline: process-baseline-v1
    candidate:
      name: process-priority-filter-v1
      parameters:
        high_pattern: "^api$"
    load: realistic
    driver: processes
    duration: 2m
    warmup: 15s
    collection_interval: 1s
    parameters: {seed: 3}
    expect:
      cost_reduction: ">= 40%"
      critical_retention: "== 100%"
      candidate.cpu_cores: "< 0.05"
"""


def test_valid_file_builds_spec(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", VALID)
    spec = load_experiment_file(path)
    assert spec == ExperimentSpec(
        name="priority_filter",
        baseline=PipelineRef("process-baseline-v1"),
        candidate=PipelineRef("process-priority-filter-v1", {"high_pattern": "^api$"}),
        load="realistic",
        duration_s=120.0,
        warmup_s=15.0,
        collection_interval_s=1.0,
        driver="processes",
        parameters={"seed": 3},
        thresholds=(
            Threshold("cost_reduction", ">=", 0.40, ">= 40%"),
            Threshold("critical_retention", "==", 1.0, "== 100%"),
            Threshold("candidate.cpu_cores", "<", 0.05, "< 0.05"),
        ),
        source=str(path),
    )


def test_empty_file_is_e107(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n", "---\n"):
        path = write(tmp_path / "exp.yaml", text)
        with pytest.raises(PhoenixError) as err:
            load_experiment_file(path)
        assert err.value.code == "E107"
        assert "empty" in err.value.message


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just a string\n", "str"), ("42\n", "int")])
def test_non_mapping_file_is_e107(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path / "exp.yaml", text)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E107"
    assert kind in err.value.message


def test_missing_file_is_e100(tmp_path: Path) -> None:
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(tmp_path / "nope.yaml")
    assert err.value.code == "E100"


def test_non_utf8_file_is_e100(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E100"


def test_yaml_syntax_error_reports_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", """
        name: x
        baseline: a
          candidate: b
        load: realistic
    """)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E105"
    assert err.value.where == f"{path}:3"
    assert str(err.value).startswith(f"error[E105] {path}:3:")


def test_unclosed_flow_is_e105(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", "name: x\nexpect: {cost_reduction: '>= 40%'\n")
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E105"
    assert err.value.where is not None and err.value.where.startswith(f"{path}:")


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", """
        name: x
        baseline: a
        candidate: b
        load: realistic
        durration: 60s
    """)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E110"
    assert "unknown field 'durration'" in err.value.message
    assert "did you mean 'duration'" in err.value.message
    assert err.value.where is not None and err.value.where.startswith(f"{path}:")


def test_unknown_field_reports_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", """
        # a comment first
        name: x
        baseline: a
        candidate: b
        load: realistic
        durration: 60s
    """)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.where == f"{path}:6"


def test_nested_unknown_field_reports_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", """
        name: x
        baseline:
          name: a
          paramters: {}
        candidate: b
        load: realistic
    """)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert "did you mean 'parameters'" in err.value.message
    assert err.value.where == f"{path}:4"


def test_unknown_kpi_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", """
        name: x
        baseline: a
        candidate: b
        load: realistic
        expect:
          cost_reduction: ">= 40%"
          cost_reductoin: ">= 40%"
    """)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E102"
    assert err.value.where == f"{path}:7"
    assert "did you mean 'cost_reduction'" in err.value.message


def test_impossible_threshold_in_file_is_e104(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", """
        name: x
        baseline: a
        candidate: b
        load: realistic
        expect:
          cost_reduction: ">= 150%"
    """)
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E104"
    assert err.value.where == f"{path}:6"


def test_missing_load_in_file(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", "name: x\nbaseline: a\ncandidate: b\n")
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E110"
    assert "missing required field 'load'" in err.value.message
    assert err.value.where is not None and err.value.where.startswith(str(path))


@pytest.mark.parametrize(("line", "field"), [
    ("duration: [60]", "duration"),
    ("warmup: {s: 5}", "warmup"),
    ("load: 5", "load"),
    ("parameters: [1, 2]", "parameters"),
    ("driver: docker", "driver"),
])
def test_wrong_type_reports_field_and_line(tmp_path: Path, line: str, field: str) -> None:
    fields = {"name": "name: x", "baseline": "baseline: a", "candidate": "candidate: b", "load": "load: realistic"}
    fields[field] = line
    path = write(tmp_path / "exp.yaml", "\n".join(fields.values()) + "\n")
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E110"
    assert field in err.value.message
    expected_line = path.read_text().splitlines().index(line) + 1
    assert err.value.where == f"{path}:{expected_line}"


def test_bad_duration_in_file_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", "name: x\nbaseline: a\ncandidate: b\nload: l\nwarmup: soon\n")
    with pytest.raises(PhoenixError) as err:
        load_experiment_file(path)
    assert err.value.code == "E101"
    assert err.value.where == f"{path}:5"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("garbage")


TEXT_PIECES = st.sampled_from([
    "name: x\n", "baseline: a\n", "candidate: b\n", "load: l\n", "duration: 60s\n", "durration: 1\n",
    "expect:\n  cost_reduction: '>= 40%'\n", "  - a\n", "- b\n", ": :\n", "{", "[", "&a x\n", "*a\n",
    "? [a]\n: b\n", "!!python/object/apply:os.system ['true']\n", "name: !!binary aGk=\n", "%YAML 1.1\n---\n",
    "---\n...\n", "\t", "é: ü ✓\n", "duration: .inf\n", "duration: .nan\n", "name: 2024-01-01\n",
    "expect: {cost_reduction: 1.0e+400}\n", "baseline: {name: a, parameters: [1]}\n",
])


@given(st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(TEXT_PIECES, st.text(max_size=6)), max_size=10).map("".join),
    VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    DOCS.map(lambda d: yaml.safe_dump({**MINIMAL, **d}, allow_unicode=True)),
))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_garbage_files_raise_only_phoenix_errors(scratch: Path, text: str) -> None:
    path = scratch / "exp.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        spec = load_experiment_file(path)
    except PhoenixError as exc:
        assert exc.code.startswith("E1")
    else:
        assert isinstance(spec, ExperimentSpec)


def test_giant_integer_literal_is_a_user_error(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", "name: x\nbaseline: a\ncandidate: b\nload: l\nduration: " + "9" * 5000 + "\n")
    with pytest.raises(PhoenixError):
        load_experiment_file(path)


# --- with_defaults -----------------------------------------------------------------------------------

def test_with_defaults_adds_retention_guard() -> None:
    spec = spec_from_mapping({**MINIMAL, "expect": {"cost_reduction": ">= 40%"}})
    guarded = spec.with_defaults()
    assert [t.kpi for t in guarded.thresholds] == ["cost_reduction", "critical_retention"]
    guard = guarded.thresholds[-1]
    assert (guard.op, guard.value) == ("==", 1.0)
    assert guard.check(1.0) and not guard.check(0.99)
    # everything else is kept
    assert guarded.name == spec.name and guarded.load == spec.load and guarded.source == spec.source
    assert guarded.duration_s == spec.duration_s and guarded.baseline == spec.baseline
    # the original is unchanged and applying it twice adds nothing more
    assert len(spec.thresholds) == 1
    assert guarded.with_defaults() == guarded


def test_with_defaults_keeps_an_explicit_retention_threshold() -> None:
    spec = spec_from_mapping({**MINIMAL, "expect": {"critical_retention": ">= 90%"}})
    assert spec.with_defaults() is spec
    assert [t.value for t in spec.with_defaults().thresholds] == [pytest.approx(0.9)]


def test_with_defaults_on_no_thresholds() -> None:
    spec = ExperimentSpec("e", PipelineRef("a"), PipelineRef("b"), "l")
    assert [t.describe() for t in spec.with_defaults().thresholds] == ["critical_retention == 100%"]


# --- load profiles --------------------------------------------------------------------------------------

def profile(*groups: dict[str, object]) -> dict[str, object]:
    return {"name": "p", "processes": list(groups)}


@pytest.mark.parametrize("path", sorted((REPO / "load-profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_repository_profiles_load(path: Path) -> None:
    loaded = load_profile_file(path)
    assert loaded.name == path.stem
    assert loaded.process_count == sum(len(g.names()) for g in loaded.groups) > 0
    names = [n for g in loaded.groups for n in g.names()]
    assert len(names) == len(set(names))
    assert all(len(n.encode()) <= 15 for n in names)


def test_repository_has_profiles() -> None:
    assert list((REPO / "load-profiles").glob("*.yaml"))


def test_profile_groups_and_critical_names() -> None:
    p = profile_from_mapping(profile(
        {"name": "db-{i}", "count": 2, "critical": True, "cpu": {"pattern": "spiky", "cores": 0.1},
         "memory": {"pattern": "growing", "mb": 32}, "lifetime": "30s"},
        {"name": "idle"},
    ), source="p.yaml")
    assert p.process_count == 3
    assert p.critical_names() == ["db-0", "db-1"]
    db = p.groups[0]
    assert (db.cpu_pattern, db.cpu_cores, db.memory_pattern, db.memory_mb, db.lifetime_s) == \
        ("spiky", 0.1, "growing", 32.0, 30.0)
    assert p.groups[1].lifetime_s is None and p.groups[1].count == 1


@pytest.mark.parametrize("name", ["abcdefghijklmnop", "process-names-{i}", "ééééééééé"])
def test_profile_name_over_15_bytes_is_e112(name: str) -> None:
    count = 12 if "{i}" in name else 1
    with pytest.raises(PhoenixError) as err:
        profile_from_mapping(profile({"name": name, "count": count}), source="p.yaml")
    assert err.value.code == "E112"


def test_profile_name_of_15_bytes_is_fine() -> None:
    p = profile_from_mapping(profile({"name": "abcdefghijklmno"}), source="p.yaml")
    assert p.groups[0].names() == ["abcdefghijklmno"]


def test_profile_duplicate_names_is_e113() -> None:
    with pytest.raises(PhoenixError) as err:
        profile_from_mapping(profile({"name": "web-{i}", "count": 2}, {"name": "web-1"}), source="p.yaml")
    assert err.value.code == "E113"
    assert "web-1" in err.value.message


def test_profile_count_without_index_is_e111() -> None:
    with pytest.raises(PhoenixError) as err:
        profile_from_mapping(profile({"name": "worker", "count": 3}), source="p.yaml")
    assert err.value.code == "E111"
    assert "{i}" in (err.value.fix or "")


def test_profile_errors_in_files_report_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", """
        name: p
        processes:
          - {name: ok}
          - {name: worker, count: 3}
    """)
    with pytest.raises(PhoenixError) as err:
        load_profile_file(path)
    assert err.value.code == "E111"
    assert err.value.where == f"{path}:4"


@pytest.mark.parametrize("groups", [
    [{"name": "w", "count": 0}],
    [{"name": "w", "cpu": {"pattern": "wobbly"}}],
    [{"name": "w", "cpu": {"cores": 2}}],
    [{"name": "w", "colour": "red"}],
    [],
])
def test_profile_schema_errors(groups: list[dict[str, object]]) -> None:
    with pytest.raises(PhoenixError) as err:
        profile_from_mapping({"name": "p", "processes": groups}, source="p.yaml")
    assert err.value.code == "E110"


def test_profile_file_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "- a\n")
    with pytest.raises(PhoenixError) as err:
        load_profile_file(path)
    assert err.value.code == "E107"


@pytest.mark.parametrize("name", ["web-{x}", "web-{", "web-{}"])
def test_profile_bad_name_template_is_a_user_error(name: str) -> None:
    with pytest.raises(PhoenixError):
        profile_from_mapping(profile({"name": name}), source="p.yaml")


def test_python_marker_and_yaml_file_build_the_same_spec(tmp_path: Path) -> None:
    """Python and YAML experiments share one engine: the same spec means the same run."""
    marker = {"name": "same", "baseline": "process-baseline-v1", "candidate": "process-topk-v1",
              "load": "high-cardinality", "duration": "45s", "expect": {"cost_reduction": ">= 50%"}}
    path = tmp_path / "same.experiment.yaml"
    path.write_text(
        "name: same\nbaseline: process-baseline-v1\ncandidate: process-topk-v1\nload: high-cardinality\n"
        "duration: 45s\nexpect:\n  cost_reduction: \">= 50%\"\n")
    from_marker = spec_from_mapping(marker, source="m")
    from_file = load_experiment_file(path)
    assert dataclasses.replace(from_marker, source=None) == dataclasses.replace(from_file, source=None)


def test_yaml_with_lines_parses_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line numbers and the data come from one parse; merge keys still resolve and lines stay exact."""
    from phoenix_harness.spec.parse import load_yaml_with_lines

    parses = []
    original = yaml.SafeLoader.get_single_node

    def counting(self: yaml.SafeLoader) -> yaml.Node | None:
        parses.append(1)
        return original(self)

    monkeypatch.setattr(yaml.SafeLoader, "get_single_node", counting)
    path = tmp_path / "x.yaml"
    path.write_text("base: &b\n  a: 1\nitem:\n  <<: *b\n  c: [x, 2.5, true]\n")
    data, lines = load_yaml_with_lines(path)
    assert len(parses) == 1
    assert data == {"base": {"a": 1}, "item": {"a": 1, "c": ["x", 2.5, True]}}
    assert type(data) is dict and type(data["item"]["c"]) is list
    assert lines[("item",)] == 3 and lines[("item", "c")] == 5 and lines[("item", "c", 1)] == 5
    assert ("item", "a") not in lines  # a merged key has no line of its own in the file
