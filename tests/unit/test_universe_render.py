"""The experiment's universe (only the load's processes), the shared source collector that gives every
variant the same input, and the load's virtual host: rendering, and ``otelcol validate`` of what is rendered."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from phoenix_harness.backends.local import send_failures
from phoenix_harness.catalog import (
    UNIVERSE_PROCESSOR,
    Catalog,
    ProfileCatalog,
    Universe,
    Wiring,
    otlp_grpc_endpoint,
    render_pipeline,
    render_source,
    shared_receiver,
)
from phoenix_harness.catalog.pipelines import substitute_parameters
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.engine.run import NOISE_TWIN, noise_floor
from phoenix_harness.spec import DEFAULT_HOST_CPUS, HARNESS_PROCESS_NAMES, LoadProfile, ProcessGroup
from phoenix_harness.spec.parse import profile_from_mapping
from phoenix_harness.toolchain import locate_collector, validate_config

REPO = Path(__file__).resolve().parents[2]
CATALOG = Catalog(REPO / "otel-configs")
PROFILES = ProfileCatalog(REPO / "load-profiles")


def wiring(variant: str = "candidate", **kw: Any) -> Wiring:
    ports = itertools.count(31000)
    kw.setdefault("allocate_port", lambda: next(ports))
    return Wiring(variant=variant, remote_write_endpoint="http://127.0.0.1:19090/api/v1/write",
                  telemetry_port=18888, **kw)


def profile(*names: str, critical: bool = False) -> LoadProfile:
    return LoadProfile("p", "", tuple(ProcessGroup(n, 1, critical=critical) for n in names))


# --- the universe filter --------------------------------------------------------------------------

def test_universe_keeps_the_profiles_names_and_children_of_the_load_parent() -> None:
    u = Universe.of(PROFILES.get("critical-heavy"), 4242)
    assert len(u.names) == 45 and "helper-11" in u.names and "etcd" in u.names
    conditions = u.processor()["metrics"]["metric"]
    assert conditions[0] == 'resource.attributes["process.parent_pid"] != 4242'
    (name_rule,) = [c for c in conditions if "IsMatch" in c]
    pattern = re.search(r'IsMatch\(resource\.attributes\["process\.executable\.name"\], "(.*)"\)$', name_rule)
    assert pattern is not None
    regex = re.compile(pattern.group(1).replace("\\\\", "\\"))
    for name in u.names:
        assert regex.fullmatch(name)
    # exact: neighbours of the profile's names are outside the universe
    for other in ("helper-12", "helper-1x", "xhelper-1", "postgres", "etcd2", "sleep", "otelcol-phoenix", ""):
        assert not regex.fullmatch(other), other


def test_universe_without_known_parent_filters_by_names_only() -> None:
    u = Universe.of(profile("a-1"), None)
    (only,) = u.processor()["metrics"]["metric"]
    assert "process.parent_pid" not in only and "IsMatch" in only


def test_universe_escapes_regex_and_ottl_characters() -> None:
    u = Universe.of(profile("a.b", "c+d", 'q"x'), 1)
    pattern = u.pattern()
    assert re.fullmatch(pattern, "a.b") and not re.fullmatch(pattern, "axb") and re.fullmatch(pattern, "c+d")
    rule = u.processor()["metrics"]["metric"][1]
    assert '\\"' in rule  # the quote is escaped for the OTTL string


@pytest.mark.parametrize("name", HARNESS_PROCESS_NAMES)
def test_profile_name_of_a_harness_process_is_refused_when_parsed(name: str) -> None:
    with pytest.raises(PhoenixError) as info:
        profile_from_mapping({"name": "p", "processes": [{"name": name}]}, source="p.yaml")
    assert info.value.code == "E117"


def test_profile_name_of_the_actual_collector_binary_is_refused() -> None:
    with pytest.raises(PhoenixError) as info:
        Universe.of(profile("my-otelcol"), 1, reserved=["my-otelcol"])
    assert info.value.code == "E117" and "my-otelcol" in info.value.message


def test_profile_keys_include_host_and_host_cpus() -> None:
    p = profile_from_mapping({"name": "p", "include_host": True, "host": {"cpus": 16},
                              "processes": [{"name": "x"}]}, source="p.yaml")
    assert p.include_host and p.host_cpus == 16
    default = profile_from_mapping({"name": "p", "processes": [{"name": "x"}]}, source="p.yaml")
    assert not default.include_host and default.host_cpus == DEFAULT_HOST_CPUS
    with pytest.raises(PhoenixError):
        profile_from_mapping({"name": "p", "host": {"cpus": 0}, "processes": [{"name": "x"}]}, source="p.yaml")


@pytest.mark.parametrize("name", sorted(CATALOG.entries()))
def test_universe_filter_is_first_in_a_separately_scraping_variant(name: str) -> None:
    u = Universe.of(PROFILES.get("realistic"), 77)
    r = render_pipeline(CATALOG.get(name), wiring(universe=u))
    assert r.config["processors"][UNIVERSE_PROCESSOR] == u.processor()
    for pipeline in r.config["service"]["pipelines"].values():
        assert pipeline["processors"][0] == UNIVERSE_PROCESSOR
        assert pipeline["processors"].count(UNIVERSE_PROCESSOR) == 1


@pytest.mark.parametrize("name", sorted(CATALOG.entries()))
def test_no_universe_filter_on_an_otlp_fed_variant(name: str) -> None:
    r = render_pipeline(CATALOG.get(name), wiring(receiver="otlp", universe=Universe.of(profile("x"), 1)))
    assert UNIVERSE_PROCESSOR not in (r.config.get("processors") or {})


# --- shared input ---------------------------------------------------------------------------------

def configs(*names: str) -> list[dict[str, Any]]:
    return [substitute_parameters(CATALOG.get(n), {})[0] for n in names]


def test_catalog_pipelines_share_their_receiver() -> None:
    shared, why = shared_receiver(configs(*sorted(CATALOG.entries())))
    assert shared is not None, why
    assert "collection_interval" not in shared and "process" in shared["scrapers"]


def test_a_different_scraper_setting_means_separate_scrapes() -> None:
    a, b = configs("process-baseline-v1", "process-topk-v1")
    b["receivers"]["host_metrics"]["scrapers"]["process"]["include"] = {"names": ["x"], "match_type": "strict"}
    shared, why = shared_receiver([a, b])
    assert shared is None and "differ" in why


def test_a_second_receiver_means_separate_scrapes() -> None:
    a, b = configs("process-baseline-v1", "process-baseline-v1")
    b["receivers"]["otlp"] = {"protocols": {"grpc": {}}}
    assert shared_receiver([a, b])[0] is None


def test_the_interval_the_wiring_sets_does_not_split_the_input() -> None:
    a, b = configs("process-baseline-v1", "process-baseline-v1")
    b["receivers"]["host_metrics"]["collection_interval"] = "30s"
    assert shared_receiver([a, b])[0] is not None


def source_config(universe: Universe | None) -> dict[str, Any]:
    shared, _ = shared_receiver(configs("process-baseline-v1", "process-topk-v1"))
    assert shared is not None
    ports = itertools.count(32000)
    variants = [render_pipeline(CATALOG.get(n), wiring(v, receiver="otlp", allocate_port=lambda: next(ports)))
                for v, n in (("baseline", "process-baseline-v1"), ("candidate", "process-topk-v1"))]
    targets = {r.variant: otlp_grpc_endpoint(r.config) for r in variants}
    return render_source(shared, targets, universe=universe, collection_interval_s=2.0, host="127.0.0.1",
                         health_port=31999, telemetry_port=31998)


def test_source_scrapes_once_filters_then_fans_out_to_every_variant() -> None:
    u = Universe.of(PROFILES.get("realistic"), 99)
    config = source_config(u)
    (pipeline,) = config["service"]["pipelines"].values()
    assert pipeline["receivers"] == ["host_metrics"]
    assert pipeline["processors"] == [UNIVERSE_PROCESSOR]  # no batch: one scrape is one request
    assert config["processors"][UNIVERSE_PROCESSOR] == u.processor()
    assert sorted(pipeline["exporters"]) == ["otlp_grpc/baseline", "otlp_grpc/candidate"]
    for key in pipeline["exporters"]:
        exporter = config["exporters"][key]
        assert exporter["endpoint"].startswith("127.0.0.1:")
        assert exporter["sending_queue"] == {"enabled": False}  # in order, inside the scrape
        assert exporter["retry_on_failure"] == {"enabled": False}  # a refused send is counted, not delayed
    assert len({config["exporters"][k]["endpoint"] for k in pipeline["exporters"]}) == 2
    assert config["receivers"]["host_metrics"]["collection_interval"] == "2s"


def test_source_without_universe_has_no_filter() -> None:
    config = source_config(None)
    assert "processors" not in config
    assert config["service"]["pipelines"]["metrics"]["processors"] == []


# --- the load's virtual host --------------------------------------------------------------------

def test_adaptive_filter_gets_the_load_hosts_cpus_not_the_machines() -> None:
    r = render_pipeline(CATALOG.get("process-adaptive-filter-v1"), wiring(host_cpus=16))
    assert r.config["processors"]["adaptive_filter"]["num_cpus"] == 16


def test_every_shipped_profile_declares_or_defaults_its_host() -> None:
    for name in PROFILES.names():
        assert PROFILES.get(name).host_cpus >= 1


# --- the source's delivery accounting -------------------------------------------------------------

def test_send_failures_are_read_per_target_variant() -> None:
    text = """# HELP otelcol_exporter_send_failed_metric_points_total x
otelcol_exporter_send_failed_metric_points_total{exporter="otlp_grpc/baseline",otel_scope_name="x"} 0
otelcol_exporter_send_failed_metric_points_total{exporter="otlp_grpc/candidate",otel_scope_name="x"} 120
otelcol_exporter_sent_metric_points_total{exporter="otlp_grpc/candidate"} 999
"""
    assert send_failures(text) == {"baseline": 0.0, "candidate": 120.0}


# --- the real collector accepts what is rendered --------------------------------------------------

@pytest.fixture(scope="module")
def collector() -> Any:
    return locate_collector(CATALOG.manifest, build=False)


def test_otelcol_validates_the_source(collector: Any, tmp_path: Path) -> None:
    for universe in (Universe.of(PROFILES.get("high-cardinality"), 1234), None):
        path = tmp_path / "source.yaml"
        path.write_text(yaml.safe_dump(source_config(universe), sort_keys=False))
        assert validate_config(collector, path) is None


@pytest.mark.parametrize("name", sorted(CATALOG.entries()))
def test_otelcol_validates_variants_with_universe_and_host(collector: Any, tmp_path: Path, name: str) -> None:
    u = Universe.of(PROFILES.get("realistic"), 4321)
    for w in (wiring(universe=u, host_cpus=3), wiring(receiver="otlp", host_cpus=3)):
        path = tmp_path / "variant.yaml"
        path.write_text(render_pipeline(CATALOG.get(name), w).yaml())
        assert validate_config(collector, path) is None


# --- the engine's decision: shared or separate input, and where the universe applies ---------------

def render_run(root: Path, tmp: Path, candidate: str, *, driver: str = "processes", load: str = "realistic",
               backend_id: str = "local") -> tuple[list[Any], Any, Any]:
    from phoenix_harness.analysis import ExperimentResult, VariantResult
    from phoenix_harness.backends.base import BackendOptions
    from phoenix_harness.engine.plugins import backend_registry, make_plugin_manager
    from phoenix_harness.engine.run import Engine, EngineOptions
    from phoenix_harness.spec import ExperimentSpec, PipelineRef

    pm = make_plugin_manager()
    engine = Engine(EngineOptions(root, tmp), pm)
    spec = ExperimentSpec("e", PipelineRef("process-baseline-v1"), PipelineRef(candidate), load, driver=driver)
    backend = backend_registry(pm).get(backend_id)(BackendOptions(tmp / "run", Path("otelcol"), Path("prometheus"),
                                                                   {"driver": driver}))
    result = ExperimentResult(spec, VariantResult("baseline", "b", "baseline"), VariantResult("candidate", "c", "c"))
    rendered, source = engine._render(spec, backend, engine.profiles.get(load), "otelcol-phoenix", result)
    return rendered, source, result


def test_identical_receivers_share_one_filtered_scrape(tmp_path: Path) -> None:
    rendered, source, result = render_run(REPO, tmp_path, "process-topk-v1")
    assert result.input == "shared" and "children of pid" in result.universe
    assert source is not None and UNIVERSE_PROCESSOR in source.config["processors"]
    conditions = source.config["processors"][UNIVERSE_PROCESSOR]["metrics"]["metric"]
    assert f'resource.attributes["process.parent_pid"] != {os.getpid()}' in conditions
    for r in rendered:  # the variants read OTLP from the source and filter nothing themselves
        assert "otlp" in r.config["receivers"] and not [k for k in r.config["receivers"] if "host" in k]
        assert UNIVERSE_PROCESSOR not in (r.config.get("processors") or {})
    targets = sorted(e["endpoint"] for e in source.config["exporters"].values())
    assert targets == sorted(otlp_grpc_endpoint(r.config) for r in rendered)


def test_different_receivers_scrape_separately_each_filtered(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "otel-configs", root / "otel-configs")
    shutil.copytree(REPO / "load-profiles", root / "load-profiles")
    path = root / "otel-configs" / "pipelines" / "process-topk-v1.yaml"
    config = yaml.safe_load(path.read_text())
    config["receivers"]["host_metrics"]["scrapers"]["process"]["mute_process_io_error"] = True
    path.write_text(yaml.safe_dump(config))
    rendered, source, result = render_run(root, tmp_path, "process-topk-v1")
    assert source is None and result.input == "separate" and "differ" in result.input_note
    # beside them, the baseline's twin measures the noise floor of scraping separately
    assert [(r.variant, r.name) for r in rendered] == [
        ("baseline", "process-baseline-v1"), ("candidate", "process-topk-v1"), (NOISE_TWIN, "process-baseline-v1")]
    for r in rendered:
        assert "host_metrics" in r.config["receivers"]
        assert r.config["service"]["pipelines"]["metrics"]["processors"][0] == UNIVERSE_PROCESSOR


def test_noise_floor_is_the_twins_paired_difference() -> None:
    assert noise_floor([100.0, 100.0, 0.0], [100.0, 98.0, 5.0]) == {
        "pipeline_pair": "baseline vs its twin, each scraping for itself", "cost_reduction": pytest.approx(0.01),
        "max_abs_interval": pytest.approx(0.02), "intervals": 2}
    assert noise_floor([], []) is None


def test_include_host_measures_the_whole_host(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "otel-configs", root / "otel-configs")
    shutil.copytree(REPO / "load-profiles", root / "load-profiles")
    profile_path = root / "load-profiles" / "realistic.yaml"
    profile_path.write_text(profile_path.read_text() + "include_host: true\n")
    _rendered, source, result = render_run(root, tmp_path, "process-topk-v1")
    assert source is not None and "processors" not in source.config
    assert result.universe.startswith("every process of the host")


def test_otlp_driver_input_is_shared_and_unfiltered(tmp_path: Path) -> None:
    rendered, source, result = render_run(REPO, tmp_path, "process-adaptive-filter-v1", driver="otlp")
    assert source is None and result.input == "shared" and result.universe == "the synthetic fleet"
    (adaptive,) = [r for r in rendered if r.variant == "candidate"]
    assert adaptive.config["processors"]["adaptive_filter"]["num_cpus"] == DEFAULT_HOST_CPUS
    for r in rendered:
        assert UNIVERSE_PROCESSOR not in (r.config.get("processors") or {})


def test_docker_backend_scrapes_separately_with_the_universe(tmp_path: Path) -> None:
    rendered, source, result = render_run(REPO, tmp_path, "process-topk-v1", backend_id="docker")
    assert source is None and result.input == "separate" and "docker" in result.input_note
    assert [r.variant for r in rendered] == ["baseline", "candidate"]
    for r in rendered:
        assert r.config["service"]["pipelines"]["metrics"]["processors"][0] == UNIVERSE_PROCESSOR
