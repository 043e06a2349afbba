"""Optional parts of the install (``pip install 'phoenix-harness[EXTRA]'``) and the one line that says which
to install when a feature needs one that is missing.

The core install runs the local backend, the pytest plugin, the CLI and ``promotion.json``; each extra adds
one integration (the module named here is what its presence is judged by).
"""

from __future__ import annotations

import importlib.util

from phoenix_harness.core.errors import PhoenixError

EXTRAS: dict[str, str] = {
    "kubernetes": "kubernetes",  # the kubernetes backend and `phoenix pipeline deploy/...`
    "docker": "testcontainers",  # the docker backend
    "charts": "matplotlib",  # the timeline chart (PNG) in the Allure report
    "allure": "allure_pytest",  # Allure results and the HTML report
}


def has(extra: str) -> bool:
    """Is ``extra`` installed?"""
    return importlib.util.find_spec(EXTRAS[extra]) is not None


def require(extra: str, feature: str) -> None:
    """Raise E190 naming the extra to install unless it is installed."""
    if not has(extra):
        raise PhoenixError("E190", f"{feature} needs the '{extra}' extra, which is not installed",
                           fix=f"pip install 'phoenix-harness[{extra}]'")
