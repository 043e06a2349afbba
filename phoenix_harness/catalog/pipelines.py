"""The pipeline catalog: ``otel-configs/catalog.yaml`` plus one collector config per pipeline.

Rendering a pipeline for a run substitutes its parameters (``${env:PHOENIX_<PARAM>}`` placeholders) and
then wires it into the run: free ports on 127.0.0.1, the run's Prometheus as remote-write endpoint, the
``variant`` label on everything it exports, and the collector's own telemetry on a scrapeable port.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from phoenix_harness.catalog.universe import Universe, add_universe_filter
from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.spec.parse import load_yaml_with_lines, validate_against_schema

PLACEHOLDER = re.compile(r"\$\{env:PHOENIX_([A-Z0-9_]+)\}")
REMOTE_WRITE_TYPES = ("prometheus_remote_write", "prometheusremotewrite")
HOSTMETRICS_TYPES = ("host_metrics", "hostmetrics")
# Processors that read the host they run on; the wiring gives them the load's (virtual) host instead.
HOST_CPU_PROCESSORS = {"adaptive_filter": "num_cpus"}


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    default: Any
    description: str = ""


@dataclass(frozen=True, slots=True)
class PipelineEntry:
    name: str
    version: int
    description: str
    strategy: str
    config_path: Path
    parameters: Mapping[str, ParameterSpec]
    expected_reduction: tuple[float, float] = (0.0, 1.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "strategy": self.strategy,
            "description": self.description,
            "config": str(self.config_path),
            "expected_reduction": list(self.expected_reduction),
            "parameters": {p.name: {"default": p.default, "description": p.description}
                           for p in self.parameters.values()},
        }


@dataclass(frozen=True, slots=True)
class Wiring:
    """Where a rendered variant plugs into a run."""

    variant: str
    remote_write_endpoint: str
    telemetry_port: int
    allocate_port: Callable[[], int]
    collection_interval_s: float = 2.0
    receiver: str = "host_metrics"  # or "otlp"
    otlp_grpc_port: int | None = None
    otlp_http_port: int | None = None
    host: str = "127.0.0.1"
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    otlp_sink_endpoint: str | None = None  # export OTLP/HTTP to this sink instead of remote write
    universe: Universe | None = None  # keep only these processes (filter first after a hostmetrics receiver)
    host_cpus: int | None = None  # CPU count of the load's host, for processors that read it


@dataclass(frozen=True, slots=True)
class RenderedPipeline:
    name: str
    variant: str
    config: dict[str, Any]
    parameters: Mapping[str, Any]
    health_port: int | None

    def yaml(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False, width=120)


class Catalog:
    """Pipelines found in ``otel-configs/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.metadata_path = root / "catalog.yaml"
        self._entries: dict[str, PipelineEntry] | None = None
        self._shared: dict[str, ParameterSpec] = {}

    @property
    def manifest(self) -> Path:
        return self.root / "collector-manifest.yaml"

    def entries(self) -> dict[str, PipelineEntry]:
        if self._entries is None:
            self._entries = self._load()
        return self._entries

    def names(self) -> list[str]:
        return sorted(self.entries())

    @property
    def shared_parameters(self) -> dict[str, ParameterSpec]:
        """The parameters every pipeline takes (``parameters:`` at the catalog's top level)."""
        self.entries()
        return dict(self._shared)

    def get(self, name: str) -> PipelineEntry:
        entries = self.entries()
        if name not in entries:
            raise PhoenixError("E201", f"unknown pipeline '{name}'{did_you_mean(name, entries)}",
                               where=str(self.metadata_path),
                               fix=f"use one of: {', '.join(sorted(entries)) or '(none)'}")
        return entries[name]

    def _load(self) -> dict[str, PipelineEntry]:
        if not self.metadata_path.is_file():
            raise PhoenixError("E204", "pipeline catalog not found", where=str(self.metadata_path),
                               fix="run from the repository root or pass --phoenix-catalog / --catalog")
        data, lines = load_yaml_with_lines(self.metadata_path)
        if not isinstance(data, dict) or not isinstance(data.get("pipelines"), dict):
            raise PhoenixError("E205", "catalog must have a 'pipelines:' mapping", where=str(self.metadata_path),
                               fix="see otel-configs/catalog.yaml in the repository for the format")
        try:
            validate_against_schema(data, "catalog", source=str(self.metadata_path), lines=lines)
        except PhoenixError as exc:
            raise PhoenixError("E205", exc.message, where=exc.where, fix=exc.fix) from None
        common = self._shared = _parameter_specs(data.get("parameters"))
        entries: dict[str, PipelineEntry] = {}
        for name, meta in data["pipelines"].items():
            line = lines.get(("pipelines", name))
            where = f"{self.metadata_path}:{line}" if line else str(self.metadata_path)
            if not isinstance(meta, dict) or "file" not in meta:
                raise PhoenixError("E205", f"pipeline '{name}' needs at least 'file:'", where=where,
                                   fix="add file: pipelines/NAME.yaml")
            params = {**common, **_parameter_specs(meta.get("parameters"))}
            reduction = meta.get("expected_reduction") or [0.0, 1.0]
            entries[str(name)] = PipelineEntry(
                name=str(name),
                version=int(meta.get("version", 1)),
                description=str(meta.get("description", "")).strip(),
                strategy=str(meta.get("strategy", "custom")),
                config_path=(self.root / str(meta["file"])),
                parameters=params,
                expected_reduction=(float(reduction[0]), float(reduction[1])),
            )
        return entries


def _parameter_specs(declared: Mapping[str, Any] | None) -> dict[str, ParameterSpec]:
    specs = {}
    for pname, pmeta in (declared or {}).items():
        pmeta = pmeta if isinstance(pmeta, dict) else {"default": pmeta}
        specs[str(pname)] = ParameterSpec(str(pname), pmeta.get("default"), str(pmeta.get("description", "")))
    return specs


def _ottl_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _component_type(key: str) -> str:
    return key.split("/", 1)[0]


def _check_value(entry: PipelineEntry, name: str, value: Any) -> None:
    if isinstance(value, str) and any(ord(c) < 32 for c in value):
        raise PhoenixError("E206", f"parameter '{name}' of '{entry.name}' contains a control character "
                           "(newline, tab, ...)", where=str(entry.config_path), fix="write the value on one line")
    if not isinstance(value, (str, int, float, bool)) and value is not None:
        raise PhoenixError("E206", f"parameter '{name}' of '{entry.name}' must be a string or a number, "
                           f"got {type(value).__name__}", where=str(entry.config_path), fix="give a single value")


def substitute_parameters(entry: PipelineEntry, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse the config, then substitute parameters into its string values (never into its structure).

    A value that is a whole placeholder takes the parameter's type (``k: ${env:PHOENIX_K}`` -> int);
    a placeholder inside a string (an OTTL statement, a quoted regex) is escaped for a double-quoted
    OTTL/YAML string.
    """
    for key in overrides:
        if key not in entry.parameters:
            raise PhoenixError("E206", f"pipeline '{entry.name}' has no parameter '{key}'"
                               f"{did_you_mean(key, entry.parameters)}", where=str(entry.config_path),
                               fix=f"use one of: {', '.join(entry.parameters) or '(none)'}")
    values = {name: overrides.get(name, spec.default) for name, spec in entry.parameters.items()}
    for name, value in values.items():
        _check_value(entry, name, value)
    try:
        text = entry.config_path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise PhoenixError("E207", f"config file of pipeline '{entry.name}' is missing", where=str(entry.config_path),
                           fix="create it or fix 'file:' in catalog.yaml") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise PhoenixError("E207", f"cannot read the config of pipeline '{entry.name}': {exc.__class__.__name__}",
                           where=str(entry.config_path), fix="save it as UTF-8 text") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{entry.config_path}:{mark.line + 1}" if mark is not None else str(entry.config_path)
        raise PhoenixError("E209", f"invalid YAML in pipeline config: {getattr(exc, 'problem', exc)}",
                           where=where, fix="fix the YAML at that line") from None

    def lookup(m: re.Match[str]) -> Any:
        pname = m.group(1).lower()
        if pname not in values:
            raise PhoenixError("E208", f"placeholder ${{env:PHOENIX_{m.group(1)}}} has no parameter '{pname}'",
                               where=str(entry.config_path), fix=f"declare '{pname}' under parameters in catalog.yaml")
        value = values[pname]
        if pname.endswith("_pattern") and value in ("", None):
            return "^$"  # an empty RE2 pattern matches everything; an unset list must match nothing
        return value

    def as_text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return _ottl_escape(str(value))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and "${env:PHOENIX_" in node:
            whole = PLACEHOLDER.fullmatch(node)
            if whole:
                return lookup(whole)
            return PLACEHOLDER.sub(lambda m: as_text(lookup(m)), node)
        return node

    return walk(config), values


def render_pipeline(
    entry: PipelineEntry, wiring: Wiring, overrides: Mapping[str, Any] | None = None
) -> RenderedPipeline:
    config, values = substitute_parameters(entry, overrides or {})
    if not isinstance(config, dict) or not isinstance(config.get("service"), dict):
        raise PhoenixError("E210", "pipeline config has no 'service:' section", where=str(entry.config_path),
                           fix="a collector config needs receivers, exporters and service.pipelines")
    config = copy.deepcopy(config)
    health_port = _wire(config, wiring)
    return RenderedPipeline(entry.name, wiring.variant, config, values, health_port)


def _wire(config: dict[str, Any], w: Wiring) -> int | None:
    receivers = config.setdefault("receivers", {}) or {}
    config["receivers"] = receivers
    pipelines = (config.get("service") or {}).get("pipelines") or {}
    if w.receiver == "otlp":
        port = w.otlp_grpc_port or w.allocate_port()
        for key in [k for k in receivers if _component_type(k) in HOSTMETRICS_TYPES]:
            del receivers[key]
            for p in pipelines.values():
                p["receivers"] = [r for r in p.get("receivers", []) if r != key]
                if "otlp" not in p["receivers"]:
                    p["receivers"].insert(0, "otlp")
        receivers["otlp"] = {"protocols": {"grpc": {"endpoint": f"{w.host}:{port}"},
                                           "http": {"endpoint": f"{w.host}:{w.otlp_http_port or w.allocate_port()}"}}}
    for key, cfg in receivers.items():
        if _component_type(key) in HOSTMETRICS_TYPES and isinstance(cfg, dict):
            cfg["collection_interval"] = f"{w.collection_interval_s:g}s"
            cfg["initial_delay"] = "0s"
        elif _component_type(key) == "otlp" and key != "otlp" and isinstance(cfg, dict):
            for proto in (cfg.get("protocols") or {}).values():
                if isinstance(proto, dict):
                    proto["endpoint"] = f"{w.host}:{w.allocate_port()}"
    if w.universe is not None:
        add_universe_filter(config, w.universe)
    if w.host_cpus is not None:
        for key, cfg in (config.get("processors") or {}).items():
            setting = HOST_CPU_PROCESSORS.get(_component_type(key))
            if setting:
                cfg = cfg if isinstance(cfg, dict) else {}
                cfg[setting] = int(w.host_cpus)
                config["processors"][key] = cfg
    if w.otlp_sink_endpoint:
        exporters = config.setdefault("exporters", {})
        for key in [k for k in exporters if _component_type(k) in REMOTE_WRITE_TYPES]:
            del exporters[key]
            for p in pipelines.values():
                p["exporters"] = [e for e in p.get("exporters", []) if e != key]
                if "otlp_http/phoenix_sink" not in p["exporters"]:
                    p["exporters"].append("otlp_http/phoenix_sink")
        exporters["otlp_http/phoenix_sink"] = {"endpoint": w.otlp_sink_endpoint, "compression": "none"}
    labels = {**w.extra_labels, "variant": w.variant}
    for key, cfg in (config.get("exporters") or {}).items():
        if _component_type(key) in REMOTE_WRITE_TYPES:
            cfg = cfg if isinstance(cfg, dict) else {}
            cfg["endpoint"] = w.remote_write_endpoint
            cfg["external_labels"] = {**(cfg.get("external_labels") or {}), **labels}
            config["exporters"][key] = cfg
    health_port = None
    service = config["service"]
    for key, cfg in (config.get("extensions") or {}).items():
        cfg = cfg if isinstance(cfg, dict) else {}
        port = w.allocate_port()
        cfg["endpoint"] = f"{w.host}:{port}"
        config["extensions"][key] = cfg
        if _component_type(key) == "health_check" and health_port is None:
            health_port = port
            if key not in (service.get("extensions") or []):
                service.setdefault("extensions", []).append(key)
    telemetry = service.setdefault("telemetry", {}) or {}
    service["telemetry"] = telemetry
    telemetry.setdefault("logs", {"level": "warn"})
    telemetry["metrics"] = {
        "level": "normal",
        "readers": [{"pull": {"exporter": {"prometheus": {"host": w.host, "port": w.telemetry_port}}}}],
    }
    return health_port


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
BATCH_DEFAULT_TIMEOUT_S = 0.2  # the batch processor's default timeout
HOLD_MARGIN_S = 1.0  # a self-telemetry scrape's delay, and the pipeline's own time to pass data on


def go_duration_seconds(value: object) -> float | None:
    """A collector duration (``"200ms"``, ``"1m30s"``, a number of nanoseconds) in seconds, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) * 1e-9
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def hold_seconds(config: Mapping[str, Any]) -> float:
    """How long a rendered pipeline may hold data after its input stopped before its exporter has it: the
    longest batch timeout of its processors (each the default when unset or unreadable), plus a margin."""
    longest = 0.0
    for key, settings in (config.get("processors") or {}).items():
        if _component_type(key) != "batch":
            continue
        timeout = (settings or {}).get("timeout") if isinstance(settings, Mapping) else None
        seconds = go_duration_seconds(timeout) if timeout is not None else None
        longest = max(longest, BATCH_DEFAULT_TIMEOUT_S if seconds is None else seconds)
    return longest + HOLD_MARGIN_S
