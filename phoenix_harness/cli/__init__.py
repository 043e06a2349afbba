"""The ``phoenix`` command line, one module per command group; ``main`` is the console script."""

from phoenix_harness.cli import dashboard, experiment, loadsim, pipeline  # noqa: F401  (each adds its commands)
from phoenix_harness.cli.app import main

__all__ = ["main"]
