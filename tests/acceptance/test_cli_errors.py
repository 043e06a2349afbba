"""Acceptance: user mistakes at the ``phoenix`` CLI get one clear line (error code, place, fix), never a traceback.

The CLI runs as a user runs it (a subprocess); the pipeline validation uses the real collector.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.acceptance.support import Figure
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.acceptance]


def phoenix(root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(root), *args],
                         capture_output=True, text=True, timeout=300)
    return out, time.monotonic() - started


def said(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]


def test_p06_cli_rejects_invalid_pipeline_yaml_clearly(tmp_path: Path, figure: Figure) -> None:
    good = (REPO / "otel-configs" / "pipelines" / "process-baseline-v1.yaml").read_text().splitlines()
    # A line indented with a tab (YAML forbids tabs in indentation), at a line we know.
    at = next(i for i, line in enumerate(good) if line.startswith("    ") and ":" in line and i > 2)
    broken = [*good[:at], "\t" + good[at].lstrip(), *good[at + 1:]]
    bad_yaml = tmp_path / "process-indent-v1.yaml"
    bad_yaml.write_text("\n".join(broken) + "\n")
    # Valid YAML the real collector rejects: a setting of the wrong type.
    rejected = tmp_path / "process-rejected-v1.yaml"
    rejected.write_text("\n".join(good).replace("limit_mib: ${env:PHOENIX_MEMORY_LIMIT_MIB}", "limit_mib: lots") + "\n")
    assert "limit_mib: lots" in rejected.read_text()

    out, took = phoenix(REPO, "pipeline", "validate", str(bad_yaml))
    lines = said(out)
    assert out.returncode == 1, out
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error[E105] {bad_yaml}:{at + 1}: invalid YAML"), (lines, at + 1)
    assert "(fix: " in lines[0]

    out2, took2 = phoenix(REPO, "pipeline", "validate", str(rejected))
    lines2 = said(out2)
    assert out2.returncode == 1, out2
    assert len(lines2) == 1, lines2
    assert lines2[0].startswith(f"error[E211] {rejected}") and "limit_mib" in lines2[0], lines2
    figure(f"exit {out.returncode} in {took:.1f}s: {lines[0]} | exit {out2.returncode} in {took2:.1f}s "
           f"(collector's check): {lines2[0][:160]}",
           exit_code=out.returncode, line=at + 1, yaml_error=lines[0], collector_error=lines2[0])


def test_p07_experiment_creation_error_is_clear(repo_copy: Path, figure: Figure) -> None:
    """``phoenix experiment create`` with an unknown candidate pipeline, then with an unknown load profile."""
    shown = []
    for option, wrong, right, code in (("--candidate", "process-priorty-filter-v1", "process-priority-filter-v1",
                                        "E201"), ("--load", "realstic", "realistic", "E202")):
        args = {"--baseline": "process-baseline-v1", "--candidate": "process-priority-filter-v1",
                "--load": "realistic", option: wrong}
        out, took = phoenix(repo_copy, "experiment", "create", "typo", *[x for kv in args.items() for x in kv])
        lines = said(out)
        assert out.returncode == 2, out  # a usage error, as click reports its own
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"error[{code}] "), lines
        assert f"did you mean '{right}'?" in lines[0] and "(fix: " in lines[0], lines
        assert not list(repo_copy.rglob("typo*")), "a failed create wrote a file"
        shown.append(f"exit {out.returncode} in {took:.1f}s: {lines[0]}")
    figure(" | ".join(shown), exit_code=2, lines=shown)
