"""Catalog layer: the repository's real otel-configs/, rendered with a fake port allocator."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_harness.catalog import Catalog, PipelineEntry, RenderedPipeline, Wiring, render_pipeline
from phoenix_harness.catalog.pipelines import HOSTMETRICS_TYPES, REMOTE_WRITE_TYPES
from phoenix_harness.core.errors import PhoenixError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "otel-configs"
BASELINE = "process-baseline-v1"
FILTER = "process-priority-filter-v1"
REMOTE_WRITE = "http://127.0.0.1:19090/api/v1/write"
TELEMETRY_PORT = 18888


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(CONFIGS)


def counter(start: int = 30000) -> tuple[list[int], Any]:
    handed: list[int] = []
    numbers = itertools.count(start)

    def allocate() -> int:
        port = next(numbers)
        handed.append(port)
        return port

    return handed, allocate


def wiring(variant: str = "candidate", **kw: Any) -> Wiring:
    _, allocate = counter()
    kw.setdefault("allocate_port", allocate)
    return Wiring(variant=variant, remote_write_endpoint=REMOTE_WRITE, telemetry_port=TELEMETRY_PORT, **kw)


def component_type(key: str) -> str:
    return key.split("/", 1)[0]


def addresses(node: Any) -> Iterator[str]:
    """Every host:port or URL string anywhere in a config."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "host" and isinstance(value, str):
                yield value
            yield from addresses(value)
    elif isinstance(node, list):
        for item in node:
            yield from addresses(item)
    elif isinstance(node, str) and re.fullmatch(r"(?:[a-z]+://)?[^\s/\"]+:\d+(?:/.*)?", node):
        yield node


def host_of(address: str) -> str:
    address = re.sub(r"^[a-z]+://", "", address)
    return address.rsplit(":", 1)[0] if ":" in address.split("/", 1)[0] else address.split("/", 1)[0]


# --- the catalog ---------------------------------------------------------------------------------

def test_lists_the_repository_pipelines(catalog: Catalog) -> None:
    names = catalog.names()
    assert names == sorted(names)
    assert {BASELINE, FILTER} <= set(names)
    listed = {p.name for p in (CONFIGS / "pipelines").glob("*.yaml")}
    assert {catalog.get(n).config_path.name for n in names} == listed
    for name in names:
        entry = catalog.get(name)
        assert entry.name == name
        assert entry.config_path.is_file()
        lo, hi = entry.expected_reduction
        assert 0.0 <= lo <= hi <= 1.0


def test_entry_metadata(catalog: Catalog) -> None:
    entry = catalog.get(FILTER)
    assert entry.strategy == "filter"
    assert entry.version == 1
    assert set(entry.parameters) == {"critical_pattern", "high_pattern", "memory_limit_mib"}
    assert "postgres" in entry.parameters["critical_pattern"].default
    data = entry.as_dict()
    assert data["name"] == FILTER
    assert data["config"] == str(CONFIGS / "pipelines" / f"{FILTER}.yaml")
    assert set(data["parameters"]) == {"critical_pattern", "high_pattern", "memory_limit_mib"}
    assert set(catalog.get(BASELINE).parameters) == {"memory_limit_mib"}


def test_unknown_pipeline_is_e201_with_suggestion(catalog: Catalog) -> None:
    with pytest.raises(PhoenixError) as err:
        catalog.get("process-baseline-v2")
    assert err.value.code == "E201"
    assert "did you mean 'process-baseline-v1'" in err.value.message
    assert BASELINE in (err.value.fix or "") and FILTER in (err.value.fix or "")


def test_unknown_pipeline_far_from_anything(catalog: Catalog) -> None:
    with pytest.raises(PhoenixError) as err:
        catalog.get("zzz")
    assert err.value.code == "E201"
    assert "did you mean" not in err.value.message


def test_missing_catalog_is_e204(tmp_path: Path) -> None:
    with pytest.raises(PhoenixError) as err:
        Catalog(tmp_path).names()
    assert err.value.code == "E204"


@pytest.mark.parametrize("text", ["pipelines: []\n", "- a\n", "pipelines:\n  x: {version: 1}\n"])
def test_malformed_catalog_is_e205(tmp_path: Path, text: str) -> None:
    (tmp_path / "catalog.yaml").write_text(text)
    with pytest.raises(PhoenixError) as err:
        Catalog(tmp_path).names()
    assert err.value.code == "E205"


def test_missing_config_file_is_e207(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text("pipelines:\n  ghost: {file: pipelines/ghost.yaml}\n")
    entry = Catalog(tmp_path).get("ghost")
    with pytest.raises(PhoenixError) as err:
        render_pipeline(entry, wiring())
    assert err.value.code == "E207"


def test_undeclared_placeholder_is_e208(tmp_path: Path) -> None:
    shutil.copytree(CONFIGS, tmp_path / "otel-configs")
    root = tmp_path / "otel-configs"
    cfg = root / "pipelines" / f"{BASELINE}.yaml"
    cfg.write_text(cfg.read_text().replace("${env:PHOENIX_MEMORY_LIMIT_MIB}", "${env:PHOENIX_LIMIT}"))
    with pytest.raises(PhoenixError) as err:
        render_pipeline(Catalog(root).get(BASELINE), wiring())
    assert err.value.code == "E208"
    assert "limit" in err.value.message


# --- rendering --------------------------------------------------------------------------------------

ALL_PIPELINES = Catalog(CONFIGS).names()


@pytest.fixture(params=ALL_PIPELINES)
def entry(request: pytest.FixtureRequest, catalog: Catalog) -> PipelineEntry:
    return catalog.get(request.param)


def test_render_wires_remote_write_and_variant(entry: PipelineEntry) -> None:
    rendered = render_pipeline(entry, wiring("cand-7", extra_labels={"run": "r1"}))
    exporters = rendered.config["exporters"]
    rw = [k for k in exporters if component_type(k) in REMOTE_WRITE_TYPES]
    assert rw, "every catalog pipeline exports by remote write"
    for key in rw:
        assert exporters[key]["endpoint"] == REMOTE_WRITE
        assert exporters[key]["external_labels"]["variant"] == "cand-7"
        assert exporters[key]["external_labels"]["run"] == "r1"
    assert rendered.variant == "cand-7"
    assert rendered.name == entry.name


def test_render_wires_health_check_on_loopback(entry: PipelineEntry) -> None:
    handed, allocate = counter(41000)
    rendered = render_pipeline(entry, wiring(allocate_port=allocate))
    health = rendered.config["extensions"]["health_check"]
    assert health["endpoint"] == f"127.0.0.1:{rendered.health_port}"
    assert rendered.health_port in handed
    assert "health_check" in rendered.config["service"]["extensions"]


def test_render_wires_self_telemetry(entry: PipelineEntry) -> None:
    rendered = render_pipeline(entry, wiring())
    telemetry = rendered.config["service"]["telemetry"]
    readers = telemetry["metrics"]["readers"]
    prom = readers[0]["pull"]["exporter"]["prometheus"]
    assert prom == {"host": "127.0.0.1", "port": TELEMETRY_PORT}
    assert telemetry["logs"] == {"level": "warn"}


@pytest.mark.parametrize(("interval", "text"), [(2.0, "2s"), (1.5, "1.5s"), (10, "10s")])
def test_render_sets_collection_interval(entry: PipelineEntry, interval: float, text: str) -> None:
    rendered = render_pipeline(entry, wiring(collection_interval_s=interval))
    hostmetrics = [v for k, v in rendered.config["receivers"].items() if component_type(k) in HOSTMETRICS_TYPES]
    assert hostmetrics
    for cfg in hostmetrics:
        assert cfg["collection_interval"] == text
        assert cfg["initial_delay"] == "0s"


def test_every_rendered_address_is_loopback(entry: PipelineEntry) -> None:
    for receiver in ("host_metrics", "otlp"):
        rendered = render_pipeline(entry, wiring(receiver=receiver))
        found = list(addresses(rendered.config))
        assert len(found) >= 3  # remote write, health check, telemetry (and otlp when asked)
        assert {host_of(a) for a in found} == {"127.0.0.1"}, found


def test_ports_come_from_the_allocator_and_are_distinct(entry: PipelineEntry) -> None:
    handed, allocate = counter(42000)
    rendered = render_pipeline(entry, wiring(allocate_port=allocate, receiver="otlp"))
    endpoints = [p["endpoint"] for p in rendered.config["receivers"]["otlp"]["protocols"].values()]
    endpoints += [e["endpoint"] for e in rendered.config["extensions"].values()]
    ports = [int(e.rsplit(":", 1)[1]) for e in endpoints]
    assert set(ports) <= set(handed)
    assert len(set(ports)) == len(ports)


def test_render_does_not_touch_the_source(entry: PipelineEntry) -> None:
    before = entry.config_path.read_text()
    first = render_pipeline(entry, wiring("a"))
    second = render_pipeline(entry, wiring("b"))
    assert entry.config_path.read_text() == before
    for rendered, variant in ((first, "a"), (second, "b")):
        for key, cfg in rendered.config["exporters"].items():
            if component_type(key) in REMOTE_WRITE_TYPES:
                assert cfg["external_labels"]["variant"] == variant


def test_rendered_yaml_round_trips(entry: PipelineEntry) -> None:
    rendered = render_pipeline(entry, wiring())
    assert isinstance(rendered, RenderedPipeline)
    assert yaml.safe_load(rendered.yaml()) == rendered.config
    assert "${env:" not in rendered.yaml()


def test_otlp_receiver_replaces_host_metrics(entry: PipelineEntry) -> None:
    rendered = render_pipeline(entry, wiring(receiver="otlp", otlp_grpc_port=4999))
    receivers = rendered.config["receivers"]
    assert not [k for k in receivers if component_type(k) in HOSTMETRICS_TYPES]
    protocols = receivers["otlp"]["protocols"]
    assert protocols["grpc"] == {"endpoint": "127.0.0.1:4999"}
    assert all(p["endpoint"].startswith("127.0.0.1:") for p in protocols.values())
    for pipeline in rendered.config["service"]["pipelines"].values():
        assert "otlp" in pipeline["receivers"]
        assert not [r for r in pipeline["receivers"] if component_type(r) in HOSTMETRICS_TYPES]


def test_otlp_receiver_without_port_allocates_one(entry: PipelineEntry) -> None:
    handed, allocate = counter(43000)
    rendered = render_pipeline(entry, wiring(receiver="otlp", allocate_port=allocate))
    endpoint = rendered.config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert int(endpoint.rsplit(":", 1)[1]) in handed


# --- parameters -------------------------------------------------------------------------------------

def filter_expression(rendered: RenderedPipeline) -> str:
    conditions = rendered.config["processors"]["filter/priority"]["metrics"]["metric"]
    assert len(conditions) == 1
    return str(conditions[0])


def test_defaults_are_substituted(catalog: Catalog) -> None:
    entry = catalog.get(FILTER)
    rendered = render_pipeline(entry, wiring())
    expr = filter_expression(rendered)
    for spec in entry.parameters.values():
        if spec.name != "memory_limit_mib":
            assert f'"{spec.default}"' in expr
    assert dict(rendered.parameters) == {k: v.default for k, v in entry.parameters.items()}


def test_override_is_substituted(catalog: Catalog) -> None:
    rendered = render_pipeline(catalog.get(FILTER), wiring(), {"high_pattern": "^(cache|queue)$"})
    expr = filter_expression(rendered)
    assert '"^(cache|queue)$"' in expr
    assert rendered.parameters["high_pattern"] == "^(cache|queue)$"
    assert rendered.parameters["critical_pattern"] == catalog.get(FILTER).parameters["critical_pattern"].default


@pytest.mark.parametrize(("value", "escaped"), [
    ('a"b', 'a\\"b'),
    ("a\\b", "a\\\\b"),
    ('x\\"); drop("', 'x\\\\\\"); drop(\\"'),
    ("^web\\d+$", "^web\\\\d+$"),
])
def test_override_is_ottl_escaped(catalog: Catalog, value: str, escaped: str) -> None:
    rendered = render_pipeline(catalog.get(FILTER), wiring(), {"critical_pattern": value})
    expr = filter_expression(rendered)
    assert f'"{escaped}"' in expr
    # the escaped value is still one OTTL string: the expression keeps exactly its two IsMatch calls
    assert expr.count("IsMatch(") == 2


@pytest.mark.parametrize("empty", ["", None])
def test_empty_pattern_matches_nothing(catalog: Catalog, empty: object) -> None:
    rendered = render_pipeline(catalog.get(FILTER), wiring(), {"high_pattern": empty})
    assert '"^$"' in filter_expression(rendered)


def test_boolean_and_number_parameters_render_as_yaml_scalars(catalog: Catalog) -> None:
    for value, text in ((True, '"true"'), (False, '"false"'), (5, '"5"')):
        rendered = render_pipeline(catalog.get(FILTER), wiring(), {"critical_pattern": value})
        assert text in filter_expression(rendered)


def test_unknown_parameter_is_e206_with_suggestion(catalog: Catalog) -> None:
    with pytest.raises(PhoenixError) as err:
        render_pipeline(catalog.get(FILTER), wiring(), {"critical_patern": "x"})
    assert err.value.code == "E206"
    assert "did you mean 'critical_pattern'" in err.value.message


def test_baseline_takes_only_the_shared_parameters(catalog: Catalog) -> None:
    with pytest.raises(PhoenixError) as err:
        render_pipeline(catalog.get(BASELINE), wiring(), {"k": 5})
    assert err.value.code == "E206"
    assert err.value.fix == "use one of: memory_limit_mib"


@pytest.mark.parametrize("name", ALL_PIPELINES)
def test_the_memory_limit_is_a_parameter_of_every_pipeline(catalog: Catalog, name: str) -> None:
    """A fleet larger than the default limit allows is run by raising the limit, not by editing files."""
    entry = catalog.get(name)
    assert entry.parameters["memory_limit_mib"].default == 512
    assert render_pipeline(entry, wiring()).config["processors"]["memory_limiter"]["limit_mib"] == 512
    raised = render_pipeline(entry, wiring(), {"memory_limit_mib": 4096})
    assert raised.config["processors"]["memory_limiter"]["limit_mib"] == 4096


def test_a_pipeline_own_parameter_wins_over_the_shared_one(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("receivers: {}\n")
    (tmp_path / "catalog.yaml").write_text(
        "parameters:\n  memory_limit_mib: {default: 512, description: shared}\n"
        "pipelines:\n  a: {file: p.yaml}\n  b: {file: p.yaml, parameters: {memory_limit_mib: 64}}\n")
    catalog = Catalog(tmp_path)
    assert catalog.get("a").parameters["memory_limit_mib"].default == 512
    assert catalog.get("b").parameters["memory_limit_mib"].default == 64


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def occurrences(config: dict[str, Any], needle: str) -> int:
    return sum(text.count(needle) for text in strings(config))


PATTERN_PARAMS = [(name, param) for name in ALL_PIPELINES for param in Catalog(CONFIGS).get(name).parameters
                  if param.endswith("_pattern")]


@pytest.mark.parametrize(("name", "param"), PATTERN_PARAMS)
def test_every_pattern_parameter_is_substituted(catalog: Catalog, name: str, param: str) -> None:
    rendered = render_pipeline(catalog.get(name), wiring(), {param: "SENTINEL_PATTERN"})
    assert occurrences(rendered.config, "SENTINEL_PATTERN") >= 1
    assert rendered.parameters[param] == "SENTINEL_PATTERN"


@pytest.mark.parametrize(("name", "param"), PATTERN_PARAMS)
def test_every_empty_pattern_renders_match_nothing(catalog: Catalog, name: str, param: str) -> None:
    entry = catalog.get(name)
    uses = occurrences(render_pipeline(entry, wiring(), {param: "SENTINEL_PATTERN"}).config, "SENTINEL_PATTERN")
    base = occurrences(render_pipeline(entry, wiring()).config, "^$")
    rendered = render_pipeline(entry, wiring(), {param: ""})
    assert occurrences(rendered.config, "^$") == base + uses
    assert '""' not in rendered.yaml()


def test_numeric_parameters_keep_their_type(catalog: Catalog) -> None:
    for name in ALL_PIPELINES:
        entry = catalog.get(name)
        rendered = render_pipeline(entry, wiring())
        for pname, spec in entry.parameters.items():
            if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
                found = [v for v in _values(rendered.config) if v == spec.default and type(v) is type(spec.default)]
                assert found, f"{name}: {pname}={spec.default!r} not rendered as a number"


def _values(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)
    else:
        yield node


OTTL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def ottl_unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal)


PRINTABLE_ONE_LINE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=30)


@given(value=PRINTABLE_ONE_LINE)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_filter_expression_round_trips_any_one_line_value(catalog: Catalog, value: str) -> None:
    rendered = render_pipeline(catalog.get(FILTER), wiring(), {"critical_pattern": value})
    literals = OTTL_STRING.findall(filter_expression(rendered))
    assert [ottl_unescape(x) for x in literals] == [
        "process.executable.name", value, "process.executable.name",
        catalog.get(FILTER).parameters["high_pattern"].default]


QUOTED_FIELDS = [(name, proc) for name, proc in (("process-topk-v1", "topk"),
                                                 ("process-adaptive-filter-v1", "adaptive_filter"))
                 if name in ALL_PIPELINES]


@pytest.mark.parametrize(("name", "processor"), QUOTED_FIELDS)
@given(value=PRINTABLE_ONE_LINE)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_quoted_config_field_round_trips_any_one_line_value(catalog: Catalog, name: str, processor: str,
                                                            value: str) -> None:
    rendered = render_pipeline(catalog.get(name), wiring(), {"critical_pattern": value})
    assert rendered.config["processors"][processor]["critical_pattern"] == value


@pytest.mark.skipif("process-aggregated-v1" not in ALL_PIPELINES, reason="pipeline not in the catalog")
def test_hash_in_value_does_not_truncate_a_plain_scalar_statement(catalog: Catalog) -> None:
    rendered = render_pipeline(catalog.get("process-aggregated-v1"), wiring(), {"critical_pattern": "^(db|web) #1$"})
    statements = rendered.config["processors"]["transform/classify"]["metric_statements"][0]["statements"]
    assert statements[0].endswith('"^(db|web) #1$")')


def test_newline_in_parameter_cannot_change_config_structure(catalog: Catalog) -> None:
    value = "x\n\n    injected: 1"
    try:
        rendered = render_pipeline(catalog.get(FILTER), wiring(), {"critical_pattern": value})
    except PhoenixError:
        return  # refusing the value is acceptable too
    processor = rendered.config["processors"]["filter/priority"]
    assert set(processor) == {"error_mode", "metrics"}
    assert "injected" in filter_expression(rendered)


def test_a_pipeline_holds_data_for_its_longest_batch_timeout_plus_a_margin() -> None:
    """After the input stopped, the landing proof waits this long before an idle exporter counts."""
    from phoenix_harness.catalog.pipelines import go_duration_seconds, hold_seconds

    assert go_duration_seconds("200ms") == pytest.approx(0.2)
    assert go_duration_seconds("1m30s") == pytest.approx(90.0)
    assert go_duration_seconds(5_000_000_000) == pytest.approx(5.0)
    assert go_duration_seconds("5 s") is None and go_duration_seconds("soon") is None
    assert hold_seconds({"processors": {"memory_limiter": {}, "batch": {"timeout": "200ms"},
                                        "batch/slow": {"timeout": "5s"}}}) == pytest.approx(6.0)
    assert hold_seconds({"processors": {"batch": None}}) == pytest.approx(1.2)  # the default timeout
    assert hold_seconds({"processors": {"filter": {}}}) == pytest.approx(1.0)
