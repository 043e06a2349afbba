"""Parse experiment files, markers and load profiles into spec objects.

Everything is validated against a bundled JSON Schema before any object is built; errors name the file,
the line, the field and, where it fits, a "did you mean".
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.spec.models import (
    DEFAULT_HOST_CPUS,
    HARNESS_PROCESS_NAMES,
    MAX_CANDIDATES,
    Candidate,
    ExperimentSpec,
    LoadProfile,
    PipelineRef,
    ProcessGroup,
    Threshold,
    expand_candidates,
)

VARIANT_KPIS = ("series", "datapoints_per_minute", "cpu_cores", "memory_rss_bytes", "estimated_monthly_cost",
                "critical_retention")
EXPERIMENT_KPIS = ("cost_reduction", "cardinality_reduction", "critical_retention", "critical_fidelity")
KPI_NAMES = (
    *EXPERIMENT_KPIS,
    *(f"{v}.{k}" for v in ("baseline", "candidate") for k in VARIANT_KPIS),
)
PERCENT_KPIS = frozenset(EXPERIMENT_KPIS)
MAX_DURATION_S = 24 * 3600.0

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
_THRESHOLD = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(%?)\s*$")


def parse_duration(value: object, *, where: str = "duration") -> float:
    """``"60s"``, ``"2m"``, ``"1m30s"``, ``"1h"`` or a number of seconds -> seconds (float)."""
    if isinstance(value, bool):
        raise PhoenixError("E101", f"duration must be like '60s' or '2m', got {value!r}", where=where,
                           fix="write a number of seconds or a string like '90s', '2m', '1m30s'")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = float("inf")
    elif isinstance(value, str) and value.strip() and (m := _DURATION.match(value)) and any(m.groups()):
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    else:
        raise PhoenixError("E101", f"duration must be like '60s' or '2m', got {value!r}", where=where,
                           fix="write a number of seconds or a string like '90s', '2m', '1m30s'")
    if not 0 < seconds <= MAX_DURATION_S:
        raise PhoenixError("E101", f"duration {value!r} is out of range", where=where,
                           fix="use a duration between 1s and 24h")
    return seconds


def parse_threshold(kpi: str, text: object, *, where: str = "expect") -> Threshold:
    """``("cost_reduction", ">= 40%")`` -> Threshold(kpi, ">=", 0.40)."""
    if kpi not in KPI_NAMES:
        raise PhoenixError("E102", f"unknown KPI '{kpi}'{did_you_mean(kpi, KPI_NAMES)}", where=where,
                           fix=f"use one of: {', '.join(KPI_NAMES)}")
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise PhoenixError("E103", f"threshold for {kpi} must be a string like '>= 40%', got {text!r}",
                           where=where, fix="quote the threshold: \">= 40%\", \"== 100%\", \"< 0.05\"")
    raw = text if isinstance(text, str) else f"== {text}"
    m = _THRESHOLD.match(raw)
    if not m:
        raise PhoenixError("E103", f"cannot read threshold {raw!r} for {kpi}", where=where,
                           fix="write an operator and a number, e.g. \">= 40%\", \"== 100%\", \"< 0.05\"")
    op, number, percent = m.groups()
    value = float(number) / 100.0 if percent else float(number)
    if kpi in PERCENT_KPIS:
        impossible = (op in (">", ">=", "==") and value > 1.0) or (op in ("<", "<=") and value < -1e9)
        if impossible or (op == ">" and value >= 1.0):
            raise PhoenixError("E104", f"threshold {raw!r} for {kpi} can never be met (at most 100%)",
                               where=where, fix="use a value up to 100%")
    return Threshold(kpi=kpi, op=op, value=value, text=raw.strip())


# --- YAML with line numbers -------------------------------------------------------------------

def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue  # a list or mapping as a key: construction rejects it (unhashable)
            k = key.value
            out[(*path, k)] = key.start_mark.line + 1
            _line_index(value, (*path, k), out)
            out[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Load YAML safely; return the data and a map from key path to 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PhoenixError("E100", "file not found", where=str(path), fix="check the path") from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise PhoenixError("E100", f"cannot read file: {exc.__class__.__name__}", where=str(path),
                           fix="save the file as UTF-8 text") from None
    lines: dict[tuple[Any, ...], int] = {}
    loader: yaml.SafeLoader | None = None
    try:  # one parse: the node tree gives the line numbers, then the very same tree the data
        loader = yaml.SafeLoader(text)  # reads the text at once: rejects control characters here
        node = loader.get_single_node()
        data = None
        if node is not None:
            _line_index(node, (), lines)  # before construction, which flattens merge keys in place
            data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PhoenixError("E105", f"invalid YAML: {problem}", where=where,
                           fix="fix the YAML syntax at that line (indentation, quotes, colons)") from None
    except RecursionError:
        raise PhoenixError("E105", "invalid YAML: nested too deeply", where=str(path),
                           fix="flatten the document") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise PhoenixError("E105", f"invalid YAML value: {str(exc)[:120]}", where=str(path),
                           fix="shorten the value") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("phoenix_harness.spec").joinpath("schemas", f"{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_against_schema(
    data: Any, schema_name: str, *, source: str, lines: Mapping[tuple[Any, ...], int] | None = None
) -> None:
    """Validate ``data``; raise one PhoenixError for the most relevant problem."""
    schema = load_schema(schema_name)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors) or errors[0]
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = (err.schema.get("properties") or {}) if isinstance(err.schema, dict) else {}
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            path = (*path, extra[0])
    line = None
    if lines:
        probe = path
        while probe not in lines and probe:
            probe = probe[:-1]
        line = lines.get(probe)
    field = ".".join(str(p) for p in tuple(err.absolute_path)) or "(top level)"
    where = f"{source}:{line}" if line else source
    message, fix = _explain(err, field)
    raise PhoenixError("E110", message, where=where, fix=fix)


def _explain(err: jsonschema.ValidationError, field: str) -> tuple[str, str]:
    if err.validator == "additionalProperties":
        allowed = list((err.schema.get("properties") or {}).keys()) if isinstance(err.schema, dict) else []
        extra = [k for k in (err.instance or {}) if k not in allowed] if isinstance(err.instance, dict) else []
        key = str(extra[0]) if extra else "?"
        where = f" in {field}" if field != "(top level)" else ""
        return (f"unknown field '{key}'{where}{did_you_mean(key, allowed)}",
                f"remove it or use one of: {', '.join(allowed)}")
    if err.validator == "required":
        missing = str(err.message).split("'")[1] if "'" in err.message else err.message
        return f"missing required field '{missing}' in {field}", f"add '{missing}:'"
    if err.validator == "type":
        return (f"field {field} must be {err.validator_value}, got {type(err.instance).__name__}",
                f"give {field} a value of type {err.validator_value}")
    if err.validator == "enum":
        choices = [str(c) for c in list(err.validator_value)]  # type: ignore[arg-type]
        return (f"field {field}: {err.instance!r} is not allowed{did_you_mean(str(err.instance), choices)}",
                f"use one of: {', '.join(choices)}")
    short = err.message if len(err.message) < 160 else err.message[:157] + "..."
    return f"field {field}: {short}", "see the schema in phoenix_harness/spec/schemas/"


# --- experiments --------------------------------------------------------------------------------

def _pipeline_ref(value: Any) -> PipelineRef:
    if isinstance(value, str):
        return PipelineRef(value)
    return PipelineRef(str(value["name"]), dict(value.get("parameters") or {}))


def _candidates(data: Mapping[str, Any], where: Callable[..., str]) -> tuple[Candidate, ...]:
    """``candidate: P``, ``candidate: [P, ...]`` or ``candidates: [P, ...]``, expanded by ``sweep``."""
    if "candidate" in data and "candidates" in data:
        raise PhoenixError("E110", "both 'candidate' and 'candidates' are given", where=where("candidates"),
                           fix="list every candidate under one of them")
    if "candidate" not in data and "candidates" not in data:
        raise PhoenixError("E110", "missing required field 'candidate' in (top level)", where=where(),
                           fix="add 'candidate:' (one pipeline) or 'candidates:' (a list)")
    given = data["candidate"] if "candidate" in data else data["candidates"]
    refs = [_pipeline_ref(v) for v in (given if isinstance(given, list) else [given])]
    sweep = data.get("sweep")
    if sweep is not None and not isinstance(sweep, Mapping):
        for i, setting in enumerate(sweep):
            if list(setting) != list(sweep[0]):
                raise PhoenixError("E124", f"sweep setting {i + 1} names {sorted(setting)}, the first names "
                                   f"{sorted(sweep[0])}", where=where("sweep", i),
                                   fix="give every setting the same parameters")
    try:
        found = expand_candidates(refs, sweep)
    except ValueError as exc:
        raise PhoenixError("E123", f"two candidates would both be named '{exc}'", where=where("candidates"),
                           fix="give them different parameters, or drop the duplicate") from None
    if len(found) > MAX_CANDIDATES:
        raise PhoenixError("E124", f"{len(found)} candidates; at most {MAX_CANDIDATES} run in one experiment",
                           where=where("sweep" if sweep is not None else "candidates"),
                           fix="sweep fewer settings, or split the experiment")
    return found


def spec_from_mapping(data: Mapping[str, Any], *, source: str = "<marker>",
                      lines: Mapping[tuple[Any, ...], int] | None = None) -> ExperimentSpec:
    """Build an ExperimentSpec from the YAML/marker mapping (validated first)."""
    validate_against_schema(dict(data), "experiment", source=source, lines=lines)

    def where(*key: Any) -> str:
        line = (lines or {}).get(tuple(key))
        return f"{source}:{line}" if line else f"{source} ({'.'.join(map(str, key))})"

    candidates = _candidates(data, where)
    labels = [c.label for c in candidates]
    thresholds_list: list[Threshold] = []
    for key, text in (data.get("expect") or {}).items():
        if isinstance(text, Mapping):  # scoped: expectations for one candidate only
            scope = str(key)
            if len(candidates) < 2 or scope not in labels:
                raise PhoenixError("E125", f"expect: '{scope}' is neither a KPI nor a candidate of this experiment"
                                   f"{did_you_mean(scope, [*labels, *KPI_NAMES])}", where=where("expect", key),
                                   fix=f"scope expectations by a candidate label: {', '.join(labels)}"
                                   if len(candidates) > 1 else "scoped expectations need several candidates")
            for kpi, inner in text.items():
                found = parse_threshold(str(kpi), inner, where=where("expect", key, kpi))
                thresholds_list.append(dataclasses.replace(found, scope=scope))
        else:
            thresholds_list.append(parse_threshold(str(key), text, where=where("expect", key)))
    thresholds = tuple(thresholds_list)
    duration = parse_duration(data.get("duration", "60s"), where=where("duration"))
    warmup = parse_duration(data.get("warmup", "10s"), where=where("warmup"))
    interval = parse_duration(data.get("collection_interval", "2s"), where=where("collection_interval"))
    if interval * 5 > duration:
        raise PhoenixError("E106", f"duration {duration:g}s allows fewer than 5 collection intervals of "
                           f"{interval:g}s", where=where("duration"),
                           fix="make the duration at least 5x the collection interval")
    return ExperimentSpec(
        name=str(data["name"]),
        baseline=_pipeline_ref(data["baseline"]),
        candidate=candidates[0].ref,
        candidates=candidates if len(candidates) > 1 else (),
        load=str(data["load"]),
        duration_s=duration,
        warmup_s=warmup,
        collection_interval_s=interval,
        driver=str(data.get("driver", "processes")),
        hosts=int(data.get("hosts", 1)),
        parameters=dict(data.get("parameters") or {}),
        thresholds=thresholds,
        source=source,
    )


def load_experiment_file(path: Path) -> ExperimentSpec:
    data, lines = load_yaml_with_lines(path)
    if data is None:
        raise PhoenixError("E107", "experiment file is empty", where=str(path),
                           fix="add name, baseline, candidate and load (see README 'Writing an experiment')")
    if not isinstance(data, dict):
        raise PhoenixError("E107", f"experiment file must be a mapping, got {type(data).__name__}",
                           where=str(path), fix="write 'name: ...', 'baseline: ...' etc. at the top level")
    return spec_from_mapping(data, source=str(path), lines=lines)


# --- load profiles ------------------------------------------------------------------------------

def profile_from_mapping(data: Mapping[str, Any], *, source: str,
                         lines: Mapping[tuple[Any, ...], int] | None = None) -> LoadProfile:
    validate_against_schema(dict(data), "load-profile", source=source, lines=lines)
    groups = []
    seen: dict[str, str] = {}
    for i, g in enumerate(data["processes"]):
        cpu = g.get("cpu") or {}
        mem = g.get("memory") or {}
        lifetime = g.get("lifetime")
        line = (lines or {}).get(("processes", i, "name"))
        here = f"{source}:{line}" if line else f"{source} (processes.{i}.name)"
        group = ProcessGroup(
            name_template=str(g["name"]),
            count=int(g.get("count", 1)),
            critical=bool(g.get("critical", False)),
            cpu_pattern=str(cpu.get("pattern", "steady")),
            cpu_cores=float(cpu.get("cores", 0.0)),
            memory_pattern=str(mem.get("pattern", "steady")),
            memory_mb=float(mem.get("mb", 1.0)),
            lifetime_s=parse_duration(lifetime, where=f"{source} (processes.{i}.lifetime)") if lifetime else None,
            churn_per_minute=float(g.get("churn_per_minute", 0.0)),
            start_after_s=(parse_duration(g["start_after"], where=f"{source} (processes.{i}.start_after)")
                           if g.get("start_after") else 0.0),
            restart=bool(g.get("restart", True)),
            ignores_sigterm=bool(g.get("ignores_sigterm", False)),
        )
        try:
            group.names()
        except (KeyError, ValueError, IndexError, AttributeError):
            raise PhoenixError("E114", f"name template '{group.name_template}' is not valid",
                               where=here, fix="use '{i}' as the only placeholder, e.g. 'worker-{i}'") from None
        if group.count > 1 and "{i" not in group.name_template:
            raise PhoenixError("E111", f"name '{group.name_template}' is used for {group.count} processes",
                               where=here, fix="put '{i}' in the name so each process gets its own, e.g. 'worker-{i}'")
        for name in group.names():
            if name in HARNESS_PROCESS_NAMES:
                raise PhoenixError("E117", f"process name '{name}' is the name of one of the harness's own "
                                   "processes, which an experiment never measures", where=here,
                                   fix=f"rename it; reserved: {', '.join(HARNESS_PROCESS_NAMES)}")
            if len(name.encode()) > 15:
                raise PhoenixError("E112", f"process name '{name}' is longer than 15 bytes; the kernel would "
                                   "truncate it", where=here, fix="shorten the name template")
            if name in seen:
                raise PhoenixError("E113", f"process name '{name}' appears twice", where=here,
                                   fix=f"make names distinct (also produced by {seen[name]})")
            seen[name] = here
        groups.append(group)
    host = data.get("host") or {}
    return LoadProfile(name=str(data["name"]), description=str(data.get("description", "")),
                       groups=tuple(groups), source=source, include_host=bool(data.get("include_host", False)),
                       host_cpus=int(host.get("cpus", DEFAULT_HOST_CPUS)))


def load_profile_file(path: Path) -> LoadProfile:
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise PhoenixError("E107", "load profile must be a YAML mapping", where=str(path),
                           fix="write 'name:', 'description:' and 'processes:' at the top level")
    return profile_from_mapping(data, source=str(path), lines=lines)
