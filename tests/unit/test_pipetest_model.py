"""Pipeline test files: parsing, one-line errors at file:line with did-you-mean, inputs and checks (pure logic)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.measure.otlp_sink import ReceivedResource
from phoenix_harness.pipetest.checks import evaluate
from phoenix_harness.pipetest.inputs import encode, generate
from phoenix_harness.pipetest.model import Population, evaluate_expression, find_files
from phoenix_harness.pipetest.runner import PipelineTestRunner
from tests.conftest import REPO

CATALOG_FILES = sorted((REPO / "otel-configs" / "tests").glob("*.pipeline-test.yaml"))


def _runner(tmp_path: Path) -> PipelineTestRunner:
    return PipelineTestRunner(REPO, tmp_path)


def test_every_catalog_pipeline_has_cases_and_they_parse(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    cases = [c for f in CATALOG_FILES for c in runner.load(f)]
    assert {c.pipeline.name for c in cases} == set(runner.catalog.names())
    assert any(c.is_property for c in cases)
    assert find_files([], REPO) == CATALOG_FILES
    assert find_files(["process-topk-v1"], REPO) == [REPO / "otel-configs/tests/process-topk-v1.pipeline-test.yaml"]


def test_a_one_off_pipeline_file_takes_the_catalogs_shared_parameters(tmp_path: Path) -> None:
    """A copy of a catalog pipeline outside the catalog still renders its ${env:PHOENIX_MEMORY_LIMIT_MIB}."""
    config = tmp_path / "copy.yaml"
    config.write_text((REPO / "otel-configs/pipelines/process-topk-v1.yaml").read_text())
    case = tmp_path / "copy.pipeline-test.yaml"
    case.write_text("pipeline: copy.yaml\nparameters: {k: 3}\ncases:\n  - name: a\n"
                    "    input: {processes: [a]}\n    expect: {kept: a}\n")
    runner = _runner(tmp_path)
    [loaded] = runner.load(case)
    entry = runner.entry_for(loaded)
    assert entry.parameters["memory_limit_mib"].default == runner.catalog.shared_parameters["memory_limit_mib"].default
    assert entry.parameters["k"].default == 3  # the test's own value wins


BAD = [
    ("cases:\n  - name: a\n    input:\n      processes: [a]\n    expect:\n      kep: [a]\n",
     "E110", 6, "did you mean 'kept'?"),
    ("pipeline: process-topk-v2\ncases:\n  - name: a\n    input: {processes: [a]}\n    expect: {kept: a}\n",
     "E201", 1, "did you mean 'process-topk-v1'?"),
    ("pipeline: process-topk-v1\nparameters: {kk: 1}\ncases:\n  - name: a\n    input: {processes: [a]}\n"
     "    expect: {kept: a}\n", "E206", 2, "did you mean 'k'?"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    input:\n      processes:\n        - {name: a, cpux: 1}\n"
     "    expect: {kept: a}\n", "E110", 6, "did you mean 'cpu'?"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    input: {processes: [a]}\n    expect:\n"
     "      at_most: critical + kay\n", "E147", 6, "did you mean 'k'?"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    input:\n      processes:\n        - {name: a, cpu: [1, 2]}\n"
     "        - {name: b, cpu: [1, 2, 3]}\n    expect: {kept: a}\n", "E144", 6, "one value per collection"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    expect: {kept: a}\n", "E141", 3, "either 'input' or"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    input: {processes: [{name: a, memory: 3 parsecs}]}\n"
     "    expect: {kept: a}\n", "E143", 4, "not a size"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    for_all: {population: {processes: 3}}\n"
     "    expect: {kept: a}\n", "E149", 5, "for_all property"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    input: {processes: [a]}\n    expect: {kept: a}\n"
     "  - name: a\n    input: {processes: [a]}\n    expect: {kept: a}\n", "E140", 6, "two cases are named"),
    ("pipeline: process-topk-v1\ncases:\n  - name: a\n    input:\n      processes: [a, a]\n    expect: {kept: a}\n",
     "E142", 5, "appears twice"),
    ("cases: [\n", "E105", 2, "invalid YAML"),
]


@pytest.mark.parametrize(("text", "code", "line", "hint"), BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_a_malformed_file_is_one_line_at_file_and_line(tmp_path: Path, text: str, code: str, line: int,
                                                       hint: str) -> None:
    path = tmp_path / "bad.pipeline-test.yaml"
    path.write_text(text)
    with pytest.raises(PhoenixError) as info:
        _runner(tmp_path).load(path)
    message = info.value.one_line()
    assert message.startswith(f"error[{code}] {path}:{line}: "), message
    assert hint in message
    assert "\n" not in message


def test_count_expressions() -> None:
    assert evaluate_expression("critical + k", {"critical": 3, "k": 2}) == 5
    assert evaluate_expression("2 * k - 1", {"k": 4}) == 7


def test_cpu_series_become_exact_rates_between_collections(tmp_path: Path) -> None:
    path = tmp_path / "t.pipeline-test.yaml"
    path.write_text("pipeline: process-topk-v1\ncases:\n  - name: a\n    input:\n      interval: 5s\n"
                    "      processes:\n        - {name: app, cpu: [0.5, 0.1, null, 0.2], memory: 1Mi, age: 20s}\n"
                    "    expect: {kept: app}\n")
    (case,) = _runner(tmp_path).load(path)
    assert case.input is not None
    t0 = float(int(time.time()))
    sent = encode(case.input, "x", t0, None)
    cpu = [sum(p.value for p in s.resource.metrics["process.cpu.time"]) for c in sent.by for s in c["host-1"]]
    assert cpu == pytest.approx([0.5 * 20, 0.5 * 20 + 0.1 * 5, 0.5 * 20 + 0.1 * 5 + 0.2 * 5])
    assert [len(c["host-1"]) for c in sent.by] == [1, 1, 0, 1]  # null: absent from that collection
    assert sent.times == [t0, t0 + 5, t0 + 10, t0 + 15]


def test_a_seeded_population_is_the_same_every_time() -> None:
    pop = Population(hosts=(2, 2), processes=(30, 30), critical=("postgres", "nginx"), seed=7)
    first, second = generate(pop), generate(pop)
    assert first == second
    assert [len(h.processes) for h in first.hosts] == [30, 30]
    assert sum(1 for h in first.hosts for p in h.processes if p.critical) == 4


def test_the_diff_names_expected_and_actual_per_host_and_collection(tmp_path: Path) -> None:
    path = tmp_path / "t.pipeline-test.yaml"
    path.write_text("pipeline: process-topk-v1\ncases:\n  - name: a\n    input:\n      processes: [a, b, c]\n"
                    "    expect: {kept: [a, b]}\n")
    (case,) = _runner(tmp_path).load(path)
    assert case.input is not None
    sent = encode(case.input, "tok", 1000.0, None)
    out = [ReceivedResource({**s.resource.attributes}, s.resource.metrics, 0.0)
           for s in sent.by[0]["host-1"] if s.spec.name in ("b", "c")]
    outcome = evaluate(case.expect, sent, out, "tok", {})
    assert outcome.failed
    diff = outcome.diff()
    assert "collection 1, host host-1 (expect at line 6):" in diff
    assert "- a  (expected, not kept)" in diff and "+ c  (kept, not expected)" in diff and "= b" in diff
    good = [ReceivedResource(s.resource.attributes, s.resource.metrics, 0.0) for s in sent.by[0]["host-1"][:2]]
    assert not evaluate(case.expect, sent, good, "tok", {}).failed


def test_xdist_workers_of_one_run_add_up_in_the_report(tmp_path: Path) -> None:
    from phoenix_harness.pipetest.report import read_report, write_report

    def case(name: str, status: str) -> dict[str, object]:
        return {"id": f"f::{name}", "name": name, "status": status}

    path = tmp_path / "pipeline-tests.json"
    write_report(path, [case("a", "passed")], run_id="run1")
    write_report(path, [case("b", "failed")], run_id="run1")
    data = read_report(tmp_path)
    assert [c["name"] for c in data["cases"]] == ["a", "b"]
    assert data["summary"] == {"cases": 2, "passed": 1, "failed": 1, "error": 0, "wall_time_s": None}
    write_report(path, [case("c", "passed")], run_id="run2")  # a new run starts over
    assert [c["name"] for c in read_report(path)["cases"]] == ["c"]


def test_a_value_is_one_point_per_attribute_set_not_an_unsummed_group(tmp_path: Path) -> None:
    path = tmp_path / "t.pipeline-test.yaml"
    path.write_text("pipeline: process-aggregated-v1\ncases:\n  - name: a\n    input:\n"
                    "      processes: [chrome-0, chrome-1]\n    expect:\n      kept: []\n"
                    "      groups: [{process.class: browsers}]\n      values:\n"
                    "        - {where: {process.class: browsers}, metric: process.memory.usage, "
                    "equals: {sum_of: chrome-*}}\n")
    (case,) = _runner(tmp_path).load(path)
    assert case.input is not None
    sent = encode(case.input, "tok", 1000.0, None)
    members = [s.resource for s in sent.by[0]["host-1"]]
    attrs = {"host.name": "host-1~tok", "process.class": "browsers"}
    points = [p for r in members for p in r.metrics["process.memory.usage"]]
    unsummed = ReceivedResource(attrs, {"process.memory.usage": points}, 0.0)  # grouped, never summed
    outcome = evaluate(case.expect, sent, [unsummed], "tok", {})
    assert "2 points with attributes {}, expected one" in outcome.diff()
    summed = ReceivedResource(attrs, {"process.memory.usage": [
        dataclasses.replace(points[0], value=points[0].value + points[1].value)]}, 0.0)
    assert not evaluate(case.expect, sent, [summed], "tok", {}).failed
