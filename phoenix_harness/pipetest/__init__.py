"""Pipeline unit tests: declarative input -> expected output on the real collector (``*.pipeline-test.yaml``)."""

from phoenix_harness.pipetest.model import SUFFIX, Case, find_files, load_file
from phoenix_harness.pipetest.report import write_report
from phoenix_harness.pipetest.runner import CaseResult, PipelineTestRunner

__all__ = ["SUFFIX", "Case", "CaseResult", "PipelineTestRunner", "find_files", "load_file", "write_report"]
