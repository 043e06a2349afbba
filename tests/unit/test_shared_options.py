"""Options are defined once (core/options.py) and become both the pytest plugin's and the CLI's options."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from phoenix_harness.cli import main
from phoenix_harness.core.options import OPTIONS, option


def _params(command: click.Command) -> dict[str, click.Parameter]:
    return {str(p.name): p for p in command.params}


def test_every_shared_option_is_a_pytest_option_with_its_help_and_env() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, timeout=120).stdout
    flat = " ".join(out.split())
    for o in OPTIONS:
        assert o.pytest_flag in out, o.name
        if o.env:
            assert f"[env: {o.env}]" in flat, o.name


@pytest.mark.parametrize(("command", "names"), [((), ("root", "reports")), (("run",), ("backend", "duration", "plain")),
                                                (("experiment", "run"), ("backend", "duration"))])
def test_the_cli_builds_its_options_from_the_same_definitions(command: tuple[str, ...], names: tuple[str, ...]) -> None:
    cmd: click.Command = main
    for part in command:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[part]
    params = _params(cmd)
    for name in names:
        o = option(name)
        p = params[name.replace("-", "_")]
        assert isinstance(p, click.Option) and p.envvar == o.env and p.help == o.help


def test_a_flag_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in [("1", True), ("yes", True), ("0", False), ("false", False), ("", False)]:
        monkeypatch.setenv("PHOENIX_FORCE", raw)
        assert option("force").initial() is expected, raw


def test_the_environment_sets_the_reports_dir_of_every_command(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    monkeypatch.setenv("PHOENIX_REPORTS_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["gate"])
    assert str(tmp_path / "promotion.json") in result.output
