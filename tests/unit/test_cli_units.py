"""The ``phoenix`` command line, driven in-process (no collector or Prometheus needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from phoenix_harness.catalog import Catalog
from phoenix_harness.cli import main
from phoenix_harness.cli.common import render_table
from phoenix_harness.spec import load_profile_file

REPO = Path(__file__).resolve().parents[2]
PIPELINES = set(Catalog(REPO / "otel-configs").names())


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PHOENIX_ROOT", "PHOENIX_REPORTS_DIR"):
        monkeypatch.delenv(name, raising=False)


def phoenix(*args: str) -> Result:
    return CliRunner().invoke(main, ["--root", str(REPO), *args])


# --- pipeline list -------------------------------------------------------------------------------

def test_pipeline_list_json() -> None:
    result = phoenix("pipeline", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == PIPELINES
    assert {"process-baseline-v1", "process-priority-filter-v1"} <= PIPELINES
    by_name = {r["name"]: r for r in rows}
    assert set(by_name["process-priority-filter-v1"]["parameters"]) == {"critical_pattern", "high_pattern",
                                                                     "memory_limit_mib"}
    assert by_name["process-baseline-v1"]["strategy"] == "baseline"
    assert by_name["process-priority-filter-v1"]["expected_reduction"] == [0.5, 0.98]


def test_pipeline_list_yaml() -> None:
    result = phoenix("pipeline", "list", "--output", "yaml")
    assert result.exit_code == 0, result.output
    rows = yaml.safe_load(result.stdout)
    assert isinstance(rows, list)
    assert {r["name"] for r in rows} == PIPELINES
    assert all({"version", "strategy", "config", "parameters"} <= set(r) for r in rows)


def test_pipeline_list_table() -> None:
    for args in (("pipeline", "list"), ("pipeline", "list", "-o", "table")):
        result = phoenix(*args)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].split()[:4] == ["NAME", "VERSION", "STRATEGY", "EXPECTED_REDUCTION"]
        names = {line.split()[0] for line in lines[1:]}
        assert names == PIPELINES
        assert "50%..98%" in result.stdout
        assert "critical_pattern, high_pattern" in result.stdout


def test_pipeline_list_json_and_yaml_are_the_rows_as_they_are() -> None:
    rows = [e.as_dict() for e in Catalog(REPO / "otel-configs").entries().values()]
    assert phoenix("pipeline", "list", "-o", "json").stdout == json.dumps(rows, indent=2, default=str) + "\n"
    assert phoenix("pipeline", "list", "-o", "yaml").stdout == yaml.safe_dump(rows, sort_keys=False)


def test_table_on_a_terminal_fits_its_width_and_piped_keeps_one_line_per_row() -> None:
    rows = [{"name": "short", "description": "word " * 40}, {"name": "[bold]x[/]", "description": "two words"}]
    on_terminal = render_table(rows, ["name", "description"], terminal=True).splitlines()
    words = " ".join(line[len("[bold]x[/]") + 1:] for line in on_terminal[2:]).split()
    assert [c.strip() for c in on_terminal[0].replace("\x1b[1m", "").replace("\x1b[0m", "").split()] == [
        "NAME", "DESCRIPTION"]
    assert set(on_terminal[1]) == {"─"}  # the header's rule
    assert all(len(line) <= shutil.get_terminal_size().columns for line in on_terminal[1:])
    assert len(on_terminal) > 4 and words.count("word") == 40  # wrapped, nothing lost
    assert "[bold]x[/]" in on_terminal[-1]  # cells are text, never markup
    piped = render_table(rows, ["name", "description"], terminal=False).splitlines()
    assert piped[0].split() == ["NAME", "DESCRIPTION"] and len(piped) == 3
    assert "\x1b" not in "".join(piped) and piped[1].split().count("word") == 40


def test_pipeline_list_rejects_unknown_format() -> None:
    result = phoenix("pipeline", "list", "-o", "xml")
    assert result.exit_code == 2
    assert "xml" in result.output


def test_pipeline_list_without_catalog_is_a_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--root", str(tmp_path), "pipeline", "list"])
    assert result.exit_code == 2
    assert "error[E204]" in result.stderr
    assert "Traceback" not in result.output


# --- loadsim list-profiles ------------------------------------------------------------------------

def test_loadsim_list_profiles_json() -> None:
    result = phoenix("loadsim", "list-profiles", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    files = sorted((REPO / "load-profiles").glob("*.yaml"))
    assert [r["name"] for r in rows] == [f.stem for f in files]
    for row, path in zip(rows, files, strict=True):
        profile = load_profile_file(path)
        assert row["processes"] == profile.process_count
        assert row["critical"] == len(profile.critical_names())
        assert "\n" not in row["description"]
    assert "realistic" in {r["name"] for r in rows}


def test_loadsim_list_profiles_table() -> None:
    result = phoenix("loadsim", "list-profiles")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == ["NAME", "PROCESSES", "CRITICAL", "DESCRIPTION"]
    assert any(line.startswith("realistic") for line in result.stdout.splitlines())


# --- gate ----------------------------------------------------------------------------------------

def experiment(name: str, verdict: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "verdict": verdict, "baseline": "process-baseline-v1",
            "candidate": "process-priority-filter-v1", "load": "realistic", "failed_checks": [],
            "infrastructure_errors": [], **extra}


def promotion(tmp_path: Path, overall: str, *experiments: dict[str, Any]) -> Path:
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "promotion.json").write_text(json.dumps({
        "schema_version": 1, "overall_verdict": overall, "experiments": list(experiments)}))
    return reports


def test_gate_promote_exits_0(tmp_path: Path) -> None:
    reports = promotion(tmp_path, "promote", experiment("a", "promote"), experiment("b", "promote"))
    result = phoenix("gate", str(reports))
    assert result.exit_code == 0, result.output
    assert "PROMOTE" in result.stdout and "overall: promote" in result.stdout
    assert "process-priority-filter-v1 vs process-baseline-v1 on realistic" in result.stdout


def test_gate_accepts_the_file_itself(tmp_path: Path) -> None:
    reports = promotion(tmp_path, "promote", experiment("a", "promote"))
    assert phoenix("gate", str(reports / "promotion.json")).exit_code == 0


def test_gate_reject_exits_1_and_says_why(tmp_path: Path) -> None:
    failed = {"check": "cost_reduction >= 40%", "measured": 0.2, "detail": "cost_reduction = 0.2",
              "category": "cost target missed"}
    reports = promotion(tmp_path, "reject", experiment("a", "promote"),
                        experiment("b", "reject", failed_checks=[failed]))
    result = phoenix("gate", str(reports))
    assert result.exit_code == 1, result.output
    assert "failed: cost_reduction >= 40% (cost_reduction = 0.2)" in result.stdout
    assert "overall: reject" in result.stdout


def test_gate_inconclusive_exits_3(tmp_path: Path) -> None:
    reports = promotion(tmp_path, "inconclusive",
                        experiment("a", "inconclusive", infrastructure_errors=["collector crashed"]))
    result = phoenix("gate", str(reports))
    assert result.exit_code == 3, result.output
    assert "could not measure: collector crashed" in result.stdout
    assert "overall: inconclusive" in result.stdout


def test_gate_prints_an_errors_first_line_and_where_the_rest_is(tmp_path: Path) -> None:
    values = " ".join(f"component_{i}" for i in range(60))
    with_detail = ("error[E211] otel-configs/pipelines/x.yaml: the collector rejects pipeline 'x': unknown processor "
                   f"\"y\" (fix: run 'phoenix pipeline validate x' and fix the config)\n  valid values: {values}")
    long_line = "error[E151] x.yaml: the collector rejected pipeline 'x': " + "z" * 400
    reports = promotion(tmp_path, "inconclusive", experiment("a", "inconclusive", infrastructure_errors=[
        with_detail, long_line, "collector crashed"]))
    result = phoenix("gate", str(reports))
    assert result.exit_code == 3, result.output
    out = result.stdout.splitlines()
    assert f"could not measure: {with_detail.splitlines()[0]} (in full: {reports / 'promotion.json'})" in out[1]
    assert "valid values" not in result.stdout and "component_1" not in result.stdout
    assert out[2].endswith(f"... (in full: {reports / 'promotion.json'})") and "z" * 200 not in out[2]
    assert out[3].endswith("could not measure: collector crashed")
    pointer = len(f" (in full: {reports / 'promotion.json'})")
    assert max(len(line) for line in out) <= len("              could not measure: ") + 160 + pointer


def test_gate_missing_report_exits_2(tmp_path: Path) -> None:
    result = phoenix("gate", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "error[E801]" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("content", "code"), [("{not json", "E802"), ('{"experiments": []}', "E803"),
                                                ("[1, 2]", "E803")])
def test_gate_broken_report_exits_2(tmp_path: Path, content: str, code: str) -> None:
    (tmp_path / "promotion.json").write_text(content)
    result = phoenix("gate", str(tmp_path))
    assert result.exit_code == 2
    assert f"error[{code}]" in result.stderr


def test_gate_with_no_experiments_is_inconclusive(tmp_path: Path) -> None:
    result = phoenix("gate", str(promotion(tmp_path, "promote")))
    assert "nothing to promote" in result.stdout
    assert result.exit_code == 3


def test_gate_follows_the_experiments_not_the_summary(tmp_path: Path) -> None:
    result = phoenix("gate", str(promotion(tmp_path, "promote", experiment("a", "promote"),
                                            experiment("b", "reject"))))
    assert result.exit_code == 1


@pytest.mark.parametrize("doc", [
    {"overall_verdict": "maybe", "experiments": []},
    {"overall_verdict": "promote", "experiments": [{"name": "a"}]},
])
def test_gate_malformed_entries_are_user_errors(tmp_path: Path, doc: dict[str, Any]) -> None:
    (tmp_path / "promotion.json").write_text(json.dumps(doc))
    result = phoenix("gate", str(tmp_path))
    assert result.exit_code == 2
    assert "error[E803]" in result.stderr


# --- pipeline show (rendering only, no collector) ---------------------------------------------------

def test_pipeline_show_renders_with_overrides() -> None:
    result = phoenix("pipeline", "show", "process-priority-filter-v1", "--set", "high_pattern=^(cache)$")
    assert result.exit_code == 0, result.output
    head, config_text = result.stdout.split("# rendered collector config", 1)
    meta = yaml.safe_load(head)
    assert meta["parameters_used"]["high_pattern"] == "^(cache)$"
    config = yaml.safe_load(config_text)
    assert config["exporters"]["prometheus_remote_write"]["external_labels"]["variant"] == \
        "process-priority-filter-v1"
    assert '"^(cache)$"' in config["processors"]["filter/priority"]["metrics"]["metric"][0]


@pytest.mark.parametrize(("args", "code"), [
    (("pipeline", "show", "process-baseline-v2"), "E201"),
    (("pipeline", "show", "process-priority-filter-v1", "--set", "critical_patern=x"), "E206"),
    (("pipeline", "show", "process-priority-filter-v1", "--set", "novalue"), "E901"),
])
def test_pipeline_show_user_errors(args: tuple[str, ...], code: str) -> None:
    result = phoenix(*args)
    assert result.exit_code == 2
    assert f"error[{code}]" in result.stderr
    assert "Traceback" not in result.output


def test_gate_names_every_expected_experiment_without_an_entry(tmp_path: Path) -> None:
    reports = promotion(tmp_path, "promote", experiment("a", "promote"))
    data = json.loads((reports / "promotion.json").read_text())
    data["expected_experiments"] = ["a", "b", "c"]
    (reports / "promotion.json").write_text(json.dumps(data))
    result = phoenix("gate", str(reports))
    assert result.exit_code == 3, result.output
    assert "MISSING       b:" in result.stdout and "MISSING       c:" in result.stdout
    assert "overall: inconclusive" in result.stdout
