"""The ``phoenix`` command line, one module per command group; ``main`` is the console script."""

from phoenix_harness.cli import experiment, loadsim, pipeline  # noqa: F401  (each adds its command group)
from phoenix_harness.cli.app import main

__all__ = ["main"]
