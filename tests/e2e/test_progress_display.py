"""What a run prints: live bars and a verdict table in a terminal (a pseudo-terminal here), plain lines when
piped. The experiment is the shortest real one (6 s window, 2 s warm-up, real collector and Prometheus)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

TINY = """
    import pytest
    pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
        candidate="process-priority-filter-v1", load="critical-heavy", duration="6s", warmup="2s",
        collection_interval="1s", name="tiny")

    def test_keeps_critical(experiment):
        assert experiment.critical_retention == 1.0
"""
MISSPELLED = TINY.replace("process-priority-filter-v1", "process-priorty-filter-v1")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def argv(exp: Path, reports: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(exp), "-p", "no:cacheprovider", f"--rootdir={exp}",
            f"--phoenix-root={REPO}", f"--phoenix-reports={reports}", *extra]


def project(tmp: Path, source: str) -> Path:
    exp = tmp / "exps"
    exp.mkdir()
    (exp / "test_tiny.py").write_text(textwrap.dedent(source))
    return exp


def terminal_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PHOENIX_PLAIN", "NO_COLOR")}
    env.update(TERM="xterm-256color", PHOENIX_LOCK_TIMEOUT_S="600")
    return env


def run_in_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``args`` with a 120x40 pseudo-terminal as stdout and stderr; everything it drew, and its exit code."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, cwd=cwd,
                            env=terminal_env())
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=600), out.decode("utf-8", "replace")


def visible_lines(drawn: str) -> list[str]:
    """Every line the terminal was given, escape sequences removed (each redraw of a bar is a line)."""
    return [line.strip() for line in ANSI.sub("", drawn).replace("\r", "\n").split("\n") if line.strip()]


def test_live_bars_in_a_terminal_and_plain_lines_when_piped(tmp_path: Path) -> None:
    exp = project(tmp_path, TINY)
    code, drawn = run_in_terminal(argv(exp, tmp_path / "reports-tty"), exp)
    lines = visible_lines(drawn)
    assert code == 0, drawn[-3000:]
    assert "\x1b[?25l" in drawn  # the live display hid the cursor while it drew
    bars = [line for line in lines if line.startswith("tiny ") and "━" in line]
    load_bars = [b for b in bars if b.split()[1] == "load"]
    assert load_bars, lines
    assert any(re.search(r"\d+s elapsed, \d+s left 45 load processes", b) for b in load_bars), load_bars
    assert {b.split()[1] for b in bars} >= {"deploy", "warm-up", "load", "measure"}
    assert not any(line.startswith("[phoenix] tiny: load") for line in lines)  # no plain phase lines
    assert any(re.match(r"│ tiny\s+│ PROMOTE\s+│\s+\d+\.\d% .*│\s+100\.0% │", line) for line in lines), lines[-12:]
    assert any(line.startswith("[phoenix] tiny: verdict PROMOTE") for line in lines)

    piped = subprocess.run(argv(exp, tmp_path / "reports-pipe"), capture_output=True, text=True, timeout=600,
                           cwd=exp, stdin=subprocess.DEVNULL, env=terminal_env())
    assert piped.returncode == 0, piped.stdout[-3000:]
    assert "\x1b" not in piped.stdout and "━" not in piped.stdout
    said = [line for line in piped.stdout.splitlines() if line.startswith("[phoenix] tiny:")]
    assert "[phoenix] tiny: load (6s) ..." in said and "[phoenix] tiny: verdict PROMOTE" in " ".join(said)
    assert len(said) <= 25, said
    assert re.search(r"^\| tiny\s+\| PROMOTE\s+\|\s+\d+\.\d% .*\|\s+100\.0% \|", piped.stdout, re.M), piped.stdout


@pytest.mark.parametrize("extra", [("-p", "no:terminal"), ("-q",), ("-n", "1")])
def test_a_terminal_run_without_reporter_quiet_or_on_a_worker_never_breaks(tmp_path: Path,
                                                                           extra: tuple[str, ...]) -> None:
    """A misspelled pipeline ends the experiment before anything starts: cheap, and it still draws and clears."""
    exp = project(tmp_path, MISSPELLED)
    code, drawn = run_in_terminal(argv(exp, tmp_path / "reports", *extra), exp)
    assert code == 1, drawn[-3000:]
    assert "Traceback" not in drawn and "INTERNALERROR" not in drawn
    lines = visible_lines(drawn)
    if extra == ("-p", "no:terminal"):
        assert not any("[phoenix]" in line for line in lines)
    elif extra == ("-q",):
        assert "\x1b[?25l" in drawn and any("did you mean 'process-priority-filter-v1'" in line for line in lines)
        assert any(re.match(r"│ tiny\s+│ INCONCLUSIVE", line) for line in lines), lines
    else:  # the worker draws nothing; the controller prints the verdict table from the run's promotion.json
        assert "\x1b[?25l" not in drawn
        assert any(re.match(r"│ tiny\s+│ INCONCLUSIVE", line) for line in lines), lines
