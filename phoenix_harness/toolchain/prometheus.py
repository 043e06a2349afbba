"""Find the ``prometheus`` server binary (Debian's package, PATH, or ``PHOENIX_PROMETHEUS``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from phoenix_harness.core.errors import PhoenixError

INSTALL_HINT = "run 'make setup' (installs Debian's 'prometheus' package) or set PHOENIX_PROMETHEUS"


@dataclass(frozen=True, slots=True)
class PrometheusBinary:
    path: Path
    source: str
    version: str


@cache
def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise PhoenixError("E311", f"prometheus at {path} does not run: {exc}", fix=INSTALL_HINT) from None
    m = re.search(r"version (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


def locate_prometheus() -> PrometheusBinary:
    env = os.environ.get("PHOENIX_PROMETHEUS")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise PhoenixError("E312", f"PHOENIX_PROMETHEUS={env} is not an executable file", where="environment",
                               fix="point it at a prometheus binary or unset it")
        return PrometheusBinary(Path(env), "PHOENIX_PROMETHEUS", _version(env))
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if not found:
        raise PhoenixError("E313", "prometheus server not found", fix=INSTALL_HINT)
    return PrometheusBinary(Path(found), "PATH", _version(found))
