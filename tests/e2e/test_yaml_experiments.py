"""Declarative experiments as a user writes them: mistakes are reported with file, line, field and a
suggestion, before anything is started; a valid file is one pytest item per expectation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO


def collect(tmp: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    exp = tmp / "exps"
    exp.mkdir(parents=True)
    (exp / "x.experiment.yaml").write_text(textwrap.dedent(text))
    return subprocess.run([sys.executable, "-m", "pytest", str(exp), "-p", "no:cacheprovider", f"--rootdir={exp}",
                           f"--phoenix-root={REPO}", f"--phoenix-reports={tmp / 'reports'}", *extra],
                          capture_output=True, text=True, timeout=120, cwd=exp)


def test_unknown_field_is_named_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    out = collect(tmp_path, """\
        name: x
        baseline: process-baseline-v1
        candidate: process-topk-v1
        load: realistic
        durration: 30s
    """)
    assert out.returncode == 1
    assert "error[E110]" in out.stdout and "x.experiment.yaml:5" in out.stdout
    assert "did you mean 'duration'" in out.stdout
    assert "Traceback" not in out.stdout


def test_bad_threshold_and_yaml_syntax_are_clear(tmp_path: Path) -> None:
    out = collect(tmp_path, """\
        name: x
        baseline: process-baseline-v1
        candidate: process-topk-v1
        load: realistic
        expect:
          cost_reduction: "at least 40%"
    """)
    assert "error[E103]" in out.stdout and "x.experiment.yaml:6" in out.stdout
    out2 = collect(tmp_path / "b", "name: x\nbaseline: [unclosed\n")
    assert "error[E105]" in out2.stdout and "x.experiment.yaml:" in out2.stdout


def test_valid_file_is_one_item_per_expectation(tmp_path: Path) -> None:
    out = collect(tmp_path, """\
        name: x
        baseline: process-baseline-v1
        candidate: process-topk-v1
        load: realistic
        expect:
          cost_reduction: ">= 40%"
          candidate.cpu_cores: "< 0.5"
    """, "--collect-only", "-q")
    assert out.returncode == 0, out.stdout
    items = [ln for ln in out.stdout.splitlines() if "::" in ln]
    # the two expectations plus the built-in guard on critical retention
    assert len(items) == 3
    assert any("critical_retention == 100%" in ln for ln in items)


def test_several_candidates_one_item_per_expectation_scoped_ones_named(tmp_path: Path) -> None:
    out = collect(tmp_path, """\
        name: x
        baseline: process-baseline-v1
        candidate: process-topk-v1
        sweep: {k: [5, 10]}
        load: realistic
        expect:
          cost_reduction: ">= 40%"
          "k=10":
            cost_reduction: ">= 60%"
    """, "--collect-only", "-q")
    assert out.returncode == 0, out.stdout
    items = [ln for ln in out.stdout.splitlines() if "::" in ln]
    assert len(items) == 3
    assert any("k=10: cost_reduction >= 60%" in ln for ln in items)


def test_an_expectation_scoped_to_no_candidate_is_one_clear_line(tmp_path: Path) -> None:
    out = collect(tmp_path, """\
        name: x
        baseline: process-baseline-v1
        candidate: process-topk-v1
        sweep: {k: [5, 10]}
        load: realistic
        expect:
          "k=11":
            cost_reduction: ">= 60%"
    """)
    assert out.returncode != 0
    assert "E125" in out.stdout and "did you mean 'k=10'" in out.stdout
