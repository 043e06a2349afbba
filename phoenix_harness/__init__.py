"""Phoenix harness: test whether a candidate OpenTelemetry Collector pipeline cuts the cost of
process metrics and still shows every critical process."""

__version__ = "0.1.0"
