"""Options shared by the pytest plugin (``--phoenix-NAME``) and the CLI (``--NAME``): defined once, here.

Each front end turns a definition into its own option (``pytest_plugin.plugin.pytest_addoption`` and
``cli.common.shared_option``), with the same help, default and environment variable; the environment is read
in one place, :meth:`Option.initial`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # CLI long name; the pytest flag is --phoenix-NAME
    help: str
    default: str | None = None
    env: str | None = None
    flag: bool = False

    @property
    def dest(self) -> str:
        return "phoenix_" + self.name.replace("-", "_")

    @property
    def pytest_flag(self) -> str:
        return f"--phoenix-{self.name}"

    @property
    def help_with_env(self) -> str:
        return f"{self.help} [env: {self.env}]" if self.env else self.help

    def initial(self) -> str | bool | None:
        """The value before the command line speaks: the environment variable when set, else the default.
        A flag's variable is true unless it is empty, 0, false or no."""
        raw = os.environ.get(self.env, "") if self.env else ""
        if self.flag:
            return raw.strip().lower() not in ("", "0", "false", "no")
        return raw or self.default


OPTIONS = (
    Option("backend", "where pipelines and load run: local (default) or a backend a plugin adds",
           "local", "PHOENIX_BACKEND"),
    Option("kube-context", "kubeconfig context for --phoenix-backend kubernetes (default: the current one)",
           None, "PHOENIX_KUBE_CONTEXT"),
    Option("namespace", "namespace for --phoenix-backend kubernetes (default: the context's, else phoenix-harness)",
           None, "PHOENIX_KUBE_NAMESPACE"),
    Option("reports", "directory for promotion.json and raw measurements (default: ROOT/reports)",
           None, "PHOENIX_REPORTS_DIR"),
    Option("root", "repository root holding otel-configs/ and load-profiles/ (default: found upwards from "
           "the current directory)", None, "PHOENIX_ROOT"),
    Option("duration", "override every experiment's measurement duration, e.g. 20s (quick runs)",
           None, "PHOENIX_DURATION"),
    Option("warmup", "override every experiment's warm-up, e.g. 5s", None, "PHOENIX_WARMUP"),
    Option("no-build", "never build the collector; fail if none is found", None, None, flag=True),
    Option("force", "start even when another experiment holds this host's load (overlapping runs)",
           None, "PHOENIX_FORCE", flag=True),
    Option("merge", "keep other experiments' entries already in promotion.json (for single runs)",
           None, None, flag=True),
    Option("plain", "plain progress lines even in a terminal (no live progress bars)", None, "PHOENIX_PLAIN",
           flag=True),
)


def option(name: str) -> Option:
    return next(o for o in OPTIONS if o.name == name)


def find_root(start: Path | None = None) -> Path:
    """The nearest directory upwards holding ``otel-configs/catalog.yaml`` (else the start)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "otel-configs" / "catalog.yaml").is_file():
            return candidate
    return here
