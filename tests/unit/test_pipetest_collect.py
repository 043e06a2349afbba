"""The pytest plugin collects *.pipeline-test.yaml: one item per case; a malformed file is one failing item
with the one-line error (file:line), never a traceback. Collection only: nothing runs a collector here."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REPO

TOPK = REPO / "otel-configs" / "tests" / "process-topk-v1.pipeline-test.yaml"


def test_one_item_per_case(pytester: pytest.Pytester) -> None:
    shutil.copy(TOPK, pytester.path / TOPK.name)
    result = pytester.runpytest("--collect-only", "-q", f"--phoenix-root={REPO}", "-p", "no:cacheprovider")
    result.assert_outcomes()
    lines = [line for line in result.outlines if "::" in line]
    assert len(lines) == 4
    assert f"{TOPK.name}::critical processes are kept whole and not counted in k" in lines


def test_a_malformed_file_fails_with_one_line(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.pipeline-test.yaml"
    bad.write_text("pipeline: process-topk-v1\ncases:\n  - name: a\n    input: {processes: [a]}\n"
                   "    expect: {kept: a, dropd: b}\n")
    result = pytester.runpytest("-q", f"--phoenix-root={REPO}", f"--phoenix-reports={pytester.path / 'reports'}",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"error[[]E110] {bad}:5: unknown field 'dropd' in cases.0.expect "
                                 "(did you mean 'dropped'?)*"])
    assert "Traceback" not in result.stdout.str()
    assert not (pytester.path / "reports" / "pipeline-tests.json").exists()  # nothing ran


def test_experiment_yaml_collection_is_unchanged(pytester: pytest.Pytester) -> None:
    (pytester.path / "x.experiment.yaml").write_text("name: x\nbaseline: process-baseline-v1\n"
                                                     "candidate: process-topk-v1\nload: realistic\n")
    result = pytester.runpytest("--collect-only", "-q", f"--phoenix-root={REPO}", "-p", "no:cacheprovider")
    assert any("x.experiment.yaml::" in line for line in result.outlines)
