"""The timeline chart renders a PNG for measured runs and for runs that never measured."""

from __future__ import annotations

import struct
from pathlib import Path

from phoenix_harness.analysis import ExperimentResult, VariantResult, Verdict
from phoenix_harness.reporting.chart import render_chart
from phoenix_harness.spec import ExperimentSpec, PipelineRef

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = 1_700_000_000.0


def spec() -> ExperimentSpec:
    return ExperimentSpec("topk", PipelineRef("process-baseline-v1"), PipelineRef("process-topk-v1"), "realistic")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_renders_both_variants(tmp_path: Path) -> None:
    baseline = VariantResult("baseline", "process-baseline-v1", "baseline",
                             timeline=[(START + 6 * i, 1000 + 10 * i, 30_000 + 100 * i) for i in range(10)])
    candidate = VariantResult("candidate", "process-topk-v1", "candidate",
                              timeline=[(START + 6 * i, 60, 1_800 + 5 * i) for i in range(10)])
    result = ExperimentResult(spec(), baseline, candidate, verdict=Verdict.PROMOTE, window=(START, START + 60))

    out = render_chart(result, tmp_path / "charts" / "topk.png")

    assert out == tmp_path / "charts" / "topk.png"
    assert out.stat().st_size > 0
    width, height = png_size(out)
    assert width > 0 and height > 0


def test_renders_no_data_for_an_empty_run(tmp_path: Path) -> None:
    result = ExperimentResult(spec(), VariantResult("baseline", "process-baseline-v1", "baseline"),
                              VariantResult("candidate", "process-topk-v1", "candidate"))

    out = render_chart(result, tmp_path / "empty.png")

    assert out.stat().st_size > 0
    assert png_size(out) > (0, 0)


def test_renders_when_only_one_variant_measured(tmp_path: Path) -> None:
    baseline = VariantResult("baseline", "process-baseline-v1", "baseline",
                             timeline=[(START + 6 * i, 1000, 30_000) for i in range(5)])
    result = ExperimentResult(spec(), baseline, VariantResult("candidate", "process-topk-v1", "candidate"),
                              verdict=Verdict.INCONCLUSIVE)

    out = render_chart(result, tmp_path / "half.png")

    assert out.read_bytes()[:8] == PNG_SIGNATURE
