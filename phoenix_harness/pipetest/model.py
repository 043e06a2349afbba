"""Pipeline test files (``*.pipeline-test.yaml``): parsed and checked into cases, before anything runs.

A file names a pipeline (catalog name or collector config path) and lists cases; a case gives an input
(process resources per host, shaped as the hostmetrics process scraper shapes them, over one or more
collections) or a property over drawn populations (``for_all``), and what must come out (``expect``).
Every mistake is one ``error[E14x] file:line: what (fix: how)``, with "did you mean" where it fits.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.spec.parse import load_yaml_with_lines, parse_duration, validate_against_schema

SUFFIX = ".pipeline-test.yaml"
DEFAULT_INTERVAL_S = 10.0
DEFAULT_CPU = 0.01
DEFAULT_MEMORY = 8 << 20
DEFAULT_AGE_S = 100.0
DEFAULT_HOST = "host-1"
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mi": 1024**2, "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_COMPARE = re.compile(r"^\s*(==|<=|>=|<|>)?\s*(.+?)\s*$")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One input process. ``cpu[i]`` is its CPU rate (cores) during collection i+1, ``None`` = absent."""

    name: str
    cpu: tuple[float | None, ...]
    memory: tuple[int | None, ...]
    pid: int | None = None
    parent_pid: int = 1
    owner: str = "root"
    command: str = ""
    age_s: float = DEFAULT_AGE_S
    critical: bool | None = None  # None: critical when the pipeline's critical_pattern matches the name

    def present(self, collection: int) -> bool:
        return self.cpu[collection] is not None and self.memory[collection] is not None


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    processes: tuple[ProcessSpec, ...]
    cpus: int | None = None  # sets the host.cpu.count resource attribute


@dataclass(frozen=True, slots=True)
class Population:
    """Generated processes: ``hosts`` x ``processes`` (each a fixed number or an inclusive [low, high] range)."""

    hosts: tuple[int, int]
    processes: tuple[int, int]
    critical: tuple[str, ...] = ()
    seed: int = 0
    cpus: int | None = None
    collections: int = 1
    interval_s: float = DEFAULT_INTERVAL_S
    max_cpu: float = 1.0


@dataclass(frozen=True, slots=True)
class CaseInput:
    hosts: tuple[HostSpec, ...]
    collections: int = 1
    interval_s: float = DEFAULT_INTERVAL_S


@dataclass(frozen=True, slots=True)
class ValueCheck:
    where: str | Mapping[str, Any]  # a process name pattern, or resource attributes to match
    metric: str
    equals: float | tuple[str, ...]  # a number, or the patterns of the input processes whose values it sums
    point: Mapping[str, Any] = field(default_factory=dict)
    tolerance: float = 1e-6  # relative
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """One block of checks, for every host and collection unless scoped by ``host`` / ``collection``."""

    host: str | None = None
    collection: int | None = None  # 1-based
    kept: tuple[str, ...] | None = None
    dropped: tuple[str, ...] = ()
    keeps: tuple[str, ...] = ()
    keeps_critical: bool = False
    count: tuple[str, str] | None = None  # (operator, expression) on process resources per host
    groups: tuple[Mapping[str, Any], ...] | None = None
    nothing_else: bool = True
    values: tuple[ValueCheck, ...] = ()
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The block as it is written in a file (for a ready-to-paste case)."""
        out: dict[str, Any] = {}
        if self.host is not None:
            out["host"] = self.host
        if self.collection is not None:
            out["collection"] = self.collection
        if self.kept is not None:
            out["kept"] = list(self.kept)
        if self.dropped:
            out["dropped"] = list(self.dropped)
        keeps = (["critical"] if self.keeps_critical else []) + list(self.keeps)
        if keeps:
            out["keeps"] = keeps[0] if len(keeps) == 1 else keeps
        if self.count is not None:
            op, expr = self.count
            if op == "<=":
                out["at_most"] = expr
            else:
                out["processes_per_host"] = expr if op == "==" else f"{op} {expr}"
        if self.groups is not None:
            out["groups"] = [dict(g) for g in self.groups]
        if not self.nothing_else:
            out["nothing_else"] = False
        if self.values:
            out["values"] = [{"where": v.where if isinstance(v.where, str) else dict(v.where), "metric": v.metric,
                              "equals": v.equals if isinstance(v.equals, float) else {"sum_of": list(v.equals)},
                              **({"point": dict(v.point)} if v.point else {})} for v in self.values]
        return out


@dataclass(frozen=True, slots=True)
class PipelineTarget:
    """A catalog name, or a collector config file (``path``), with parameter overrides."""

    name: str
    path: Path | None
    parameters: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.name, str(self.path or ""), tuple(sorted((k, repr(v)) for k, v in self.parameters.items())))

    def label(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.parameters.items()))
        return f"{self.name}({params})" if params else self.name


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    source: Path
    line: int
    pipeline: PipelineTarget
    expect: tuple[Expectation, ...]
    input: CaseInput | None = None
    population: Population | None = None  # input: a generated population (seeded)
    for_all: Population | None = None  # property: populations drawn by hypothesis
    examples: int = 25
    seed: int | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def is_property(self) -> bool:
        return self.for_all is not None


def size_value(value: Any, where: str) -> int:
    """``64Mi``, ``1.5G``, ``1048576`` -> bytes."""
    if isinstance(value, bool):
        raise PhoenixError("E143", f"memory {value!r} is not a size", where=where, fix="write e.g. 64Mi or 1048576")
    if isinstance(value, (int, float)):
        if value < 0:
            raise PhoenixError("E143", f"memory {value!r} is negative", where=where, fix="give a size >= 0")
        return int(value)
    m = _SIZE.match(str(value))
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise PhoenixError("E143", f"memory {value!r} is not a size{did_you_mean(unit, _UNITS) if m else ''}",
                           where=where, fix="write a number of bytes or a number with Ki, Mi, Gi, K, M, G")
    return int(float(m.group(1)) * _UNITS[unit])


def _series(raw: Any, collections: int, default: Any, convert: Any, where: str) -> tuple[Any, ...]:
    if raw is None and not isinstance(raw, list):
        return (default,) * collections
    if not isinstance(raw, list):
        return (convert(raw),) * collections
    if len(raw) != collections:
        raise PhoenixError("E144", f"{len(raw)} values for {collections} collection(s)", where=where,
                           fix="give one value per collection (null: the process is absent), or a single value")
    return tuple(None if v is None else convert(v) for v in raw)


def _cpu(where: str) -> Any:
    def convert(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise PhoenixError("E143", f"cpu {v!r} is not a number of cores >= 0", where=where,
                               fix="write the CPU rate in cores, e.g. 0.25")
        return float(v)
    return convert


def _list_len(raw: Any) -> int:
    return len(raw) if isinstance(raw, list) else 1


def _collections_of(procs: Sequence[Any]) -> int:
    n = 1
    for p in procs:
        if isinstance(p, dict):
            n = max(n, _list_len(p.get("cpu")), _list_len(p.get("memory")))
    return n


class _Lines:
    def __init__(self, source: Path, lines: Mapping[tuple[Any, ...], int]) -> None:
        self.source = source
        self.lines = lines

    def line(self, *path: Any) -> int:
        probe = tuple(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return self.lines.get(probe, 1)

    def where(self, *path: Any) -> str:
        return f"{self.source}:{self.line(*path)}"


def _processes(raw: Sequence[Any], collections: int, at: _Lines, path: tuple[Any, ...]) -> tuple[ProcessSpec, ...]:
    out: list[ProcessSpec] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(raw):
        here = at.where(*path, i)
        entry = {"name": item} if isinstance(item, str) else dict(item)
        count = int(entry.get("count", 1))
        template = str(entry["name"])
        if count > 1 and "{i}" not in template:
            raise PhoenixError("E142", f"name '{template}' is used for {count} processes", where=here,
                               fix="put '{i}' in the name, e.g. 'worker-{i}'")
        names = [template.replace("{i}", str(j)) for j in range(count)] if "{i}" in template else [template]
        for name in names:
            if len(name.encode()) > 15:
                raise PhoenixError("E142", f"process name '{name}' is longer than 15 bytes; the kernel would "
                                   "truncate it", where=here, fix="shorten the name")
            if name in seen:
                raise PhoenixError("E142", f"process name '{name}' appears twice on this host", where=here,
                                   fix=f"give each process its own name (also at {seen[name]})")
            seen[name] = here
            out.append(ProcessSpec(
                name=name,
                cpu=_series(entry.get("cpu"), collections, DEFAULT_CPU, _cpu(here), here),
                memory=_series(entry.get("memory"), collections, DEFAULT_MEMORY,
                               lambda v, h=here: size_value(v, h), here),
                pid=(int(entry["pid"]) + names.index(name)) if "pid" in entry else None,
                parent_pid=int(entry.get("parent_pid", 1)),
                owner=str(entry.get("owner", "root")),
                command=str(entry.get("command", "")),
                age_s=parse_duration(entry["age"], where=here) if "age" in entry else DEFAULT_AGE_S,
                critical=None if entry.get("critical") is None else bool(entry["critical"]),
            ))
    return tuple(out)


def _range(raw: Any) -> tuple[int, int]:
    if isinstance(raw, list):
        return (int(raw[0]), int(raw[1]))
    return (int(raw), int(raw))


def _population(raw: Mapping[str, Any], at: _Lines, path: tuple[Any, ...]) -> Population:
    here = at.where(*path)
    hosts, procs = _range(raw.get("hosts", 1)), _range(raw["processes"])
    for label, (low, high) in (("hosts", hosts), ("processes", procs)):
        if low > high or high < 1:
            raise PhoenixError("E145", f"population {label} range [{low}, {high}] is empty", where=here,
                               fix="write [low, high] with 1 <= high and low <= high")
    critical = tuple(c for c in str(raw.get("critical", "")).split("|") if c)
    for name in critical:
        if len(name.encode()) > 15 or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise PhoenixError("E145", f"critical process name '{name}' is not a plain process name", where=here,
                               fix="list names separated by '|', e.g. \"postgres|nginx\" (15 bytes at most)")
    return Population(hosts=hosts, processes=procs, critical=critical, seed=int(raw.get("seed", 0)),
                      cpus=raw.get("cpus"), collections=int(raw.get("collections", 1)),
                      interval_s=(parse_duration(raw["interval"], where=here) if "interval" in raw
                                  else DEFAULT_INTERVAL_S),
                      max_cpu=float(raw.get("max_cpu", 1.0)))


def _input(raw: Mapping[str, Any], at: _Lines, path: tuple[Any, ...]) -> tuple[CaseInput | None, Population | None]:
    kinds = [k for k in ("processes", "hosts", "population") if k in raw]
    if len(kinds) != 1:
        raise PhoenixError("E141", "input needs exactly one of 'processes', 'hosts' or 'population'"
                           + (f" (got {', '.join(kinds)})" if kinds else ""), where=at.where(*path),
                           fix="list processes (one host), hosts: {NAME: {processes: [...]}}, or a population")
    interval = parse_duration(raw["interval"], where=at.where(*path, "interval")) if "interval" in raw \
        else DEFAULT_INTERVAL_S
    if interval < 2:
        raise PhoenixError("E146", f"interval {interval:g}s is shorter than 2s", where=at.where(*path, "interval"),
                           fix="use an interval of 2s or more (the scraper's own minimum is 1s)")
    if "population" in raw:
        return None, _population(raw["population"], at, (*path, "population"))
    hosts_raw: dict[str, Any] = raw.get("hosts") or {DEFAULT_HOST: {"processes": raw["processes"]}}
    all_procs = [p for h in hosts_raw.values() for p in h["processes"]]
    collections = int(raw.get("collections", _collections_of(all_procs)))
    hosts = []
    for host, spec in hosts_raw.items():
        hpath = (*path, "hosts", host, "processes") if "hosts" in raw else (*path, "processes")
        cpus = spec.get("cpus", raw.get("cpus"))
        hosts.append(HostSpec(str(host), _processes(spec["processes"], collections, at, hpath), cpus))
    return CaseInput(tuple(hosts), collections, interval), None


def _patterns(raw: Any) -> tuple[str, ...]:
    return (raw,) if isinstance(raw, str) else tuple(str(p) for p in raw)


_EXPR_NODES = (ast.Expression, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Name, ast.Load, ast.Constant,
               ast.UnaryOp, ast.USub)


def check_expression(expr: str, names: Sequence[str], where: str) -> None:
    """``critical + k``: numbers, + - *, the word ``critical`` and the pipeline's numeric parameters."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        tree = None
    if tree is None or not all(isinstance(n, _EXPR_NODES) for n in ast.walk(tree)):
        raise PhoenixError("E147", f"count expression {expr!r} is not understood", where=where,
                           fix="write a number or e.g. 'critical + k' (+, -, *, numbers, critical, parameters)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names:
            raise PhoenixError("E147", f"unknown name '{node.id}' in {expr!r}{did_you_mean(node.id, names)}",
                               where=where, fix=f"use numbers and: {', '.join(names)}")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or
                                               not isinstance(node.value, (int, float))):
            raise PhoenixError("E147", f"{node.value!r} in {expr!r} is not a number", where=where,
                               fix="write a number or e.g. 'critical + k'")


def evaluate_expression(expr: str, env: Mapping[str, float]) -> float:
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(env[node.id])
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
        raise ValueError(ast.dump(node))
    return ev(ast.parse(expr, mode="eval"))


def _count(raw: Any, op_default: str, names: Sequence[str], where: str) -> tuple[str, str]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return (op_default, str(raw))
    m = _COMPARE.match(str(raw))
    assert m is not None  # the pattern matches any string
    op, expr = m.group(1) or op_default, m.group(2)
    check_expression(expr, names, where)
    return (op, expr)


def _expectation(raw: Mapping[str, Any], at: _Lines, path: tuple[Any, ...], names: Sequence[str],
                 collections: int | None) -> Expectation:
    if "processes_per_host" in raw and "at_most" in raw:
        raise PhoenixError("E148", "give either processes_per_host or at_most, not both", where=at.where(*path),
                           fix="at_most: X is processes_per_host: '<= X'")
    count = None
    if "processes_per_host" in raw:
        count = _count(raw["processes_per_host"], "==", names, at.where(*path, "processes_per_host"))
    elif "at_most" in raw:
        count = _count(raw["at_most"], "<=", names, at.where(*path, "at_most"))
        if count[0] != "<=":
            raise PhoenixError("E148", "at_most takes an expression without an operator",
                               where=at.where(*path, "at_most"), fix="write e.g. at_most: critical + k")
    collection = raw.get("collection")
    if collection is not None and collections is not None and collection > collections:
        raise PhoenixError("E148", f"collection {collection} but the input has {collections}",
                           where=at.where(*path, "collection"), fix=f"use 1..{collections}")
    keeps = _patterns(raw.get("keeps", ()))
    values = []
    for i, v in enumerate(raw.get("values") or ()):
        equals = v["equals"]
        values.append(ValueCheck(
            where=v["where"] if isinstance(v["where"], str) else dict(v["where"]),
            metric=str(v["metric"]),
            equals=float(equals) if not isinstance(equals, dict) else _patterns(equals["sum_of"]),
            point=dict(v.get("point") or {}),
            tolerance=float(v.get("tolerance", 1e-6)),
            line=at.line(*path, "values", i)))
    return Expectation(
        host=raw.get("host"), collection=collection,
        kept=_patterns(raw["kept"]) if "kept" in raw else None,
        dropped=_patterns(raw.get("dropped", ())),
        keeps=tuple(k for k in keeps if k != "critical"), keeps_critical="critical" in keeps,
        count=count, groups=tuple(dict(g) for g in raw["groups"]) if "groups" in raw else None,
        nothing_else=bool(raw.get("nothing_else", True)), values=tuple(values), line=at.line(*path))


def _resolve_pipeline(raw: str, base: Path) -> tuple[str, Path | None]:
    if raw.endswith((".yaml", ".yml")) or "/" in raw:
        path = (base / raw).resolve()
        return path.stem, path
    return raw, None


def load_file(path: Path, *, parameters_of: Any = None) -> list[Case]:
    """Parse and check one test file. ``parameters_of(target, where)`` returns the pipeline's numeric
    parameter values (with overrides) and raises PhoenixError for an unknown pipeline or parameter."""
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise PhoenixError("E140", "a pipeline test file must be a YAML mapping with 'cases:'", where=f"{path}:1",
                           fix="write 'pipeline: NAME' and 'cases: [...]' at the top level (see README)")
    validate_against_schema(data, "pipeline-test", source=str(path), lines=lines)
    at = _Lines(path, lines)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data["cases"]):
        here = at.where("cases", i)
        name = str(raw["name"])
        if name in seen:
            raise PhoenixError("E140", f"two cases are named '{name}'", where=here,
                               fix=f"rename one (the other is at line {seen[name]})")
        seen[name] = at.line("cases", i)
        if ("input" in raw) == ("for_all" in raw):
            raise PhoenixError("E141", f"case '{name}' needs either 'input' or 'for_all'"
                               + (" (not both)" if "input" in raw else ""), where=here,
                               fix="give an input (processes, hosts or population), or a for_all property")
        pipeline_raw = raw.get("pipeline", data.get("pipeline"))
        if not pipeline_raw:
            raise PhoenixError("E141", f"case '{name}' names no pipeline", where=here,
                               fix="add 'pipeline: NAME' to the file or the case")
        pname, ppath = _resolve_pipeline(str(pipeline_raw), path.parent)
        params = {**(data.get("parameters") or {}), **(raw.get("parameters") or {})}
        target = PipelineTarget(pname, ppath, params)
        pwhere = at.where("cases", i, "pipeline") if "pipeline" in raw else at.where("pipeline")
        params_where = at.where("cases", i, "parameters") if "parameters" in raw else \
            at.where("parameters") if "parameters" in data else pwhere
        numeric = parameters_of(target, pwhere, params_where) if parameters_of is not None else {}
        names = ["critical", *sorted(numeric)]
        case_input, population, for_all = None, None, None
        collections: int | None = None
        if "input" in raw:
            case_input, population = _input(raw["input"], at, ("cases", i, "input"))
            collections = case_input.collections if case_input else population.collections if population else None
        else:
            for_all = _population(raw["for_all"]["population"], at, ("cases", i, "for_all", "population"))
            collections = for_all.collections
        expect_raw = raw["expect"] if isinstance(raw["expect"], list) else [raw["expect"]]
        epath = ("cases", i, "expect")
        expect = tuple(_expectation(e, at, (*epath, j) if isinstance(raw["expect"], list) else epath, names,
                                    collections) for j, e in enumerate(expect_raw))
        if for_all is not None:
            for e in expect:
                if e.kept is not None or e.values or e.host is not None:
                    raise PhoenixError("E149", "a for_all property can check keeps, dropped, processes_per_host, "
                                       "at_most and groups, not exact kept sets, values or hosts",
                                       where=at.where(*epath), fix="state what holds for every population")
        cases.append(Case(name=name, source=path, line=at.line("cases", i), pipeline=target, expect=expect,
                          input=case_input, population=population, for_all=for_all,
                          examples=int((raw.get("for_all") or {}).get("examples", 25)),
                          seed=(raw.get("for_all") or {}).get("seed")))
    return cases


def find_files(targets: Sequence[str], root: Path) -> list[Path]:
    """Files for ``phoenix pipeline test [NAME|FILE...]``: all of ``otel-configs/tests`` when none given;
    a NAME selects the files whose pipeline (or a case's) is NAME."""
    tests_dir = root / "otel-configs" / "tests"
    every = sorted(tests_dir.glob(f"*{SUFFIX}")) if tests_dir.is_dir() else []
    if not targets:
        return every
    out: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            out += sorted(path.rglob(f"*{SUFFIX}"))
        elif path.suffix in (".yaml", ".yml") or path.exists():
            if not path.is_file():
                raise PhoenixError("E140", "pipeline test file not found", where=str(path), fix="check the path")
            out.append(path)
        else:
            chosen = [f for f in every if _mentions(f, target)]
            if not chosen:
                known = sorted({f.name.removesuffix(SUFFIX) for f in every})
                raise PhoenixError("E140", f"no pipeline test file for '{target}'{did_you_mean(target, known)}",
                                   where=str(tests_dir), fix=f"use one of: {', '.join(known) or '(none)'}")
            out += chosen
    return list(dict.fromkeys(out))


def _mentions(path: Path, name: str) -> bool:
    if path.name.removesuffix(SUFFIX) == name:
        return True
    try:
        return re.search(rf"^\s*-?\s*pipeline:\s*['\"]?{re.escape(name)}['\"]?\s*$", path.read_text(),
                         re.MULTILINE) is not None
    except OSError:
        return False
