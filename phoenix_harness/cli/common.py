"""Pieces every ``phoenix`` command group shares: one-line user errors, ``-o`` output, ``--set`` parsing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar

import click
import yaml

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.options import option

F = TypeVar("F", bound=Callable[..., Any])
OUTPUT = click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table",
                      show_default=True, help="output format")


def user_errors(fn: F) -> F:
    """Print a PhoenixError as one line on stderr and exit with its code; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PhoenixError as exc:
            click.echo(exc.one_line(), err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def emit_rows(rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump([dict(r) for r in rows], sort_keys=False), nl=False)
    else:
        table = [[str(r.get(c, "")) for c in columns] for r in rows]
        widths = [max([len(c)] + [len(row[i]) for row in table]) for i, c in enumerate(columns)]
        click.echo("  ".join(c.upper().ljust(widths[i]) for i, c in enumerate(columns)).rstrip())
        for row in table:
            click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``--set k=5 --set critical_pattern=^pg$`` -> ``{"k": 5, "critical_pattern": "^pg$"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PhoenixError("E901", f"--set {item!r} is not PARAM=VALUE", fix="write e.g. --set k=5")
        out[key] = yaml.safe_load(value)
    return out


def shared_option(name: str, *flags: str, **overrides: Any) -> Callable[[F], F]:
    """The click option of a shared definition (``core/options.py``): the same help, default and environment
    variable as the pytest plugin's ``--phoenix-NAME``. ``flags`` replace the default ``--NAME``."""
    o = option(name)
    kwargs: dict[str, Any] = {"default": o.default, "envvar": o.env, "show_envvar": bool(o.env), "help": o.help,
                              "is_flag": o.flag}
    if o.flag:
        kwargs["default"] = False
    return click.option(*(flags or (f"--{o.name}",)), **{**kwargs, **overrides})
