"""Label and annotation keys: every object the harness creates carries them, so it can find and delete its own."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from phoenix_harness.core.errors import PhoenixError

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "phoenix-harness"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
PREFIX = "phoenix-harness.io/"
RUN = PREFIX + "run"
EXPERIMENT = PREFIX + "experiment"
VARIANT = PREFIX + "variant"
DEPLOYMENT = PREFIX + "deployment"
VERSION = PREFIX + "version"
PIPELINE = PREFIX + "pipeline"
TARGET = PREFIX + "target"
NODES = PREFIX + "nodes"
CONFIG_HASH = PREFIX + "config-hash"
DEPLOYED_AT = PREFIX + "deployed-at"
SCRAPE = PREFIX + "scrape"
SCRAPE_PORT = PREFIX + "scrape-port"
FORCED = PREFIX + "forced"
# The test cluster's real node is labelled ``REAL_NODE=true`` and tainted ``REAL_NODE:NoSchedule`` (kube/node.py).
REAL_NODE = PREFIX + "real-node"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SELECTOR_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                           r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def managed(**extra: str) -> dict[str, str]:
    """The labels every harness object carries, plus ``extra``."""
    return {MANAGED_BY: MANAGER, **extra}


def selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def check_name(name: str, *, what: str = "deployment name", max_len: int = 50) -> str:
    """Names become object names (DNS labels) with suffixes such as ``-v12``; refuse what Kubernetes would."""
    if len(name) > max_len or not _DNS_LABEL.match(name):
        raise PhoenixError("E443", f"{what} '{name}' is not a valid Kubernetes name",
                           fix=f"use lower-case letters, digits and '-', start and end alphanumeric, "
                           f"at most {max_len} characters")
    return name


def parse_selector(text: str) -> dict[str, str]:
    """``role=edge,zone=a`` -> mapping. Equality only: it becomes a pod ``nodeSelector``."""
    out: dict[str, str] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip().removeprefix("=")
        if not sep or not _SELECTOR_KEY.match(key) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise PhoenixError("E436", f"target selector '{text}' is not KEY=VALUE[,KEY=VALUE...]",
                               where="--target", fix="write a node label selector such as role=edge")
        out[key] = value
    return out


def format_selector(node_selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in node_selector.items()) or "(all nodes)"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
