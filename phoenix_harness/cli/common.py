"""Pieces every ``phoenix`` command group shares: one-line user errors, ``-o`` output, ``--set`` parsing."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar

import click
import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.options import option

F = TypeVar("F", bound=Callable[..., Any])
OUTPUT = click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table",
                      show_default=True, help="output format")


def user_errors(fn: F) -> F:
    """Print a PhoenixError on stderr (one line, any detail indented below) and exit with its code; never a
    traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PhoenixError as exc:
            click.echo(exc.text(), err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def emit_rows(rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump([dict(r) for r in rows], sort_keys=False), nl=False)
    else:
        click.echo(render_table(rows, columns), nl=False)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, terminal: bool | None = None) -> str:
    """``-o table``: on a terminal, a rich table that fits the width (long cells wrap) under a bold header and
    its rule; piped, the same columns without rule, colour or wrapping: one line per row, for grep and awk."""
    if terminal is None:
        terminal = sys.stdout.isatty()
    table = Table(box=box.SIMPLE_HEAD if terminal else None, show_edge=False, pad_edge=False,
                  padding=(0, 1 if terminal else 2, 0, 0), header_style="bold" if terminal else "")
    for c in columns:
        table.add_column(c.upper(), overflow="fold", no_wrap=not terminal)
    for r in rows:
        table.add_row(*(escape(str(r.get(c, ""))) for c in columns))
    buf = io.StringIO()
    width = shutil.get_terminal_size().columns if terminal else 100_000
    Console(file=buf, width=width, force_terminal=terminal, color_system="auto" if terminal else None,
            emoji=False, highlight=False).print(table)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


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
