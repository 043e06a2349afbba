"""The HTML report: Allure results turned into the Allure 2 report, and a headless check that it renders.

The Allure command line comes from npm's ``allure-commandline`` (Allure 2 plus its jars, no dependencies,
runs on Java), pinned and installed once into the cache so later runs need no network. Allure 2 keeps trends
in ``history/``: each run copies the previous report's history into the results before generating.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.toolchain.otelcol import cache_dir

ALLURE_PACKAGE = "allure-commandline"
ALLURE_VERSION = "2.46.1"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_HINT = "run 'make browser' (installs Debian's 'chromium' package) or set PHOENIX_CHROMIUM"
CHECK_PAGE = "/__phoenix_check__.html"
# Clicks every collapsed tree group until none is left, as a reader would, so that the dumped DOM lists the
# test cases (the Allure 2 tree renders a group's children only once it is expanded); on a test case page it
# also opens the attachments named in __OPEN__ once each, so that a screenshot shows their content.
EXPAND_TREE = """<script>
(function () {
  var open = __OPEN__, calm = 0;
  function expand() {
    var closed = document.querySelectorAll(".node[data-node-kind='group']:not(.node__expanded) > .node__title");
    closed.forEach(function (el) { el.click(); });
    var rows = Array.prototype.filter.call(document.querySelectorAll(".attachment-row:not([data-phoenix-opened])"),
      function (row) {
        var name = row.querySelector(".attachment-row__name");
        return name && open.indexOf(name.textContent.trim()) >= 0;
      });
    rows.forEach(function (row) { row.setAttribute("data-phoenix-opened", "1"); row.click(); });
    calm = (closed.length || rows.length || !document.querySelector(".node")) ? 0 : calm + 1;
    if (calm < 3) { setTimeout(expand, 200); } else { document.body.setAttribute("data-phoenix-tree", "expanded"); }
  }
  setTimeout(expand, 200);
})();
</script>"""
Progress = Callable[[str], None]


def allure_cli(*, progress: Progress | None = None) -> Path:
    """The pinned Allure launcher: ``PHOENIX_ALLURE``, else the cached install, else install it now."""
    env = os.environ.get("PHOENIX_ALLURE")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise PhoenixError("E822", f"PHOENIX_ALLURE={env} is not an executable file", where="environment",
                               fix="point it at an Allure 2 'allure' launcher, or unset it")
        return Path(env)
    prefix = cache_dir() / "allure-cli" / ALLURE_VERSION
    launcher = _launcher(prefix)
    if launcher.is_file():
        return launcher
    npm = shutil.which("npm")
    if not npm:
        raise PhoenixError("E820", "npm is not installed, so the Allure command line cannot be installed",
                           fix="install Node.js and npm (Debian: apt-get install nodejs npm), or set PHOENIX_ALLURE")
    if progress:
        progress(f"installing {ALLURE_PACKAGE}@{ALLURE_VERSION} into {prefix}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    # Install into a scratch prefix and rename: an interrupted install never looks complete.
    scratch = Path(tempfile.mkdtemp(dir=prefix.parent, prefix=f".{ALLURE_VERSION}-"))
    try:
        _npm_install(npm, scratch)
        scratch.chmod(0o755)  # mkdtemp makes it private; the installed tool is not
        with contextlib.suppress(OSError):  # another process may have finished the same install first
            scratch.rename(prefix)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not launcher.is_file():
        raise PhoenixError("E822", f"{ALLURE_PACKAGE}@{ALLURE_VERSION} is not complete", where=str(prefix),
                           fix=f"delete {prefix} and retry")
    return launcher


def generate_report(results_dir: Path, report_dir: Path, *, name: str = "Phoenix experiments",
                    progress: Progress | None = None, timeout_s: float = 600.0) -> Path:
    """Turn ``results_dir`` (Allure results) into the HTML report in ``report_dir``; returns ``report_dir``.

    The previous report's ``history/`` is carried into the results first, so trends span runs. The new report
    replaces the old one only once it is complete: a failed generation leaves the previous report intact.
    """
    if not results_dir.is_dir() or not any(results_dir.glob("*-result.json")):
        raise PhoenixError("E824", "no Allure results to report on", where=str(results_dir),
                           fix="run the experiments first ('phoenix run' or 'make run')")
    if report_dir.is_dir() and any(report_dir.iterdir()) and not (report_dir / "index.html").is_file():
        raise PhoenixError("E826", "the report directory is not empty and holds no Allure report, so it is not "
                           "replaced", where=str(report_dir), fix="choose an empty or new directory for the report")
    _require_java()
    allure = allure_cli(progress=progress)
    history = report_dir / "history"
    if history.is_dir():
        shutil.rmtree(results_dir / "history", ignore_errors=True)
        shutil.copytree(history, results_dir / "history")
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=report_dir.parent, prefix=f".{report_dir.name}-"))
    try:
        if progress:
            progress(f"generating the HTML report in {report_dir}")
        # ALLURE_NO_ANALYTICS: no usage ping while generating and no analytics script in the page.
        env = {**os.environ, "ALLURE_NO_ANALYTICS": "true"}
        cmd = [str(allure), "generate", str(results_dir), "--output", str(staging), "--clean", "--name", name]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PhoenixError("E825", f"allure generate failed: {exc}", where=str(allure),
                               fix=f"run '{' '.join(cmd)}' to see its output") from None
        if done.returncode != 0 or not (staging / "index.html").is_file():
            raise PhoenixError("E825", f"allure generate failed (exit {done.returncode}): "
                               f"{_tail(done.stderr or done.stdout)}", where=str(results_dir),
                               fix="check the results are Allure 2 JSON and that Java 8 or newer runs")
        old = report_dir.with_name(f".{report_dir.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if report_dir.exists():
            report_dir.rename(old)
        staging.rename(report_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report_dir


def open_report_check(report_dir: Path, *, route: str = "#suites", screenshot: Path | None = None,
                      window_size: tuple[int, int] = (1400, 1000), open_attachments: Sequence[str] = ("KPIs",),
                      budget_ms: int = 15000, timeout_s: float = 120.0) -> list[str]:
    """Open the report in headless Chromium and return the test case names its tree shows, in page order.

    The report is served over HTTP (it loads its data with fetch, which ``file://`` blocks) from a check page:
    the report's own ``index.html`` plus a script that expands every tree group. ``route`` picks the tree
    (``#suites``, ``#behaviors``, ``#packages``) or any other page, e.g. one test case
    (:func:`case_page_routes`) for a ``screenshot``, with its ``open_attachments`` shown open.
    """
    if not (report_dir / "index.html").is_file():
        raise PhoenixError("E829", "no HTML report here", where=str(report_dir),
                           fix="generate it first ('phoenix report')")
    chromium = _chromium()
    with _serve(report_dir, EXPAND_TREE.replace("__OPEN__", json.dumps(list(open_attachments)))) as base:
        url = f"{base}{CHECK_PAGE}{route}"
        dom = _run_chromium(chromium, ["--dump-dom", url], budget_ms, timeout_s)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            _run_chromium(chromium, [f"--screenshot={screenshot.resolve()}",
                                     f"--window-size={window_size[0]},{window_size[1]}", "--hide-scrollbars", url],
                          budget_ms, timeout_s)
            if not screenshot.is_file():
                raise PhoenixError("E828", "chromium wrote no screenshot", where=str(screenshot),
                                   fix=f"run {chromium} --headless --screenshot by hand to see why")
    return _TestNames.parse(dom)


def case_page_routes(report_dir: Path, tree: str = "suites") -> dict[str, list[str]]:
    """Routes of the test case pages by test name (``#suites/<group>/<case>``), read from the report's data."""
    try:
        root = json.loads((report_dir / "data" / f"{tree}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PhoenixError("E829", f"the report has no readable '{tree}' tree: {exc}", where=str(report_dir),
                           fix="generate it first ('phoenix report')") from None
    routes: dict[str, list[str]] = {}
    stack: list[dict[str, Any]] = [root]
    while stack:
        group = stack.pop()
        for child in group.get("children") or []:
            if "children" in child:
                stack.append(child)
            else:
                routes.setdefault(str(child.get("name")), []).append(f"#{tree}/{group.get('uid')}/{child.get('uid')}")
    return routes


def _npm_install(npm: str, prefix: Path) -> None:
    cmd = [npm, "install", "--prefix", str(prefix), "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
           "--ignore-scripts", "--loglevel=error", f"{ALLURE_PACKAGE}@{ALLURE_VERSION}"]
    fix = "check access to the npm registry ('npm config get registry'), or set PHOENIX_ALLURE"
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PhoenixError("E821", f"npm install of {ALLURE_PACKAGE}@{ALLURE_VERSION} failed: {exc}", where=npm,
                           fix=fix) from None
    if done.returncode != 0:
        raise PhoenixError("E821", f"npm install of {ALLURE_PACKAGE}@{ALLURE_VERSION} failed: "
                           f"{_tail(done.stderr or done.stdout)}", where=npm, fix=fix)
    if not _launcher(prefix).is_file():
        raise PhoenixError("E822", f"{ALLURE_PACKAGE}@{ALLURE_VERSION} installed without its launcher",
                           where=str(_launcher(prefix)), fix="report this: the package layout changed")


def _launcher(prefix: Path) -> Path:
    return prefix / "node_modules" / ALLURE_PACKAGE / "dist" / "bin" / "allure"


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip()) or "no output"


def _require_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if (home and (Path(home) / "bin" / "java").is_file()) or shutil.which("java"):
        return
    raise PhoenixError("E823", "Java is not installed; the Allure 2 command line runs on Java 8 or newer",
                       fix="install a JRE (Debian: apt-get install default-jre-headless) or set JAVA_HOME")


def _chromium() -> str:
    env = os.environ.get("PHOENIX_CHROMIUM")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise PhoenixError("E827", f"PHOENIX_CHROMIUM={env} is not an executable file", where="environment",
                               fix="point it at a Chromium or Chrome binary, or unset it")
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise PhoenixError("E827", "Chromium is not installed, so the report cannot be opened headless",
                       fix=CHROMIUM_HINT)


class _CheckHandler(SimpleHTTPRequestHandler):
    """Serves the report unchanged, plus the check page (``index.html`` with the tree-expanding script)."""

    def __init__(self, *args: Any, script: str, **kwargs: Any) -> None:
        self.script = script
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != CHECK_PAGE:
            super().do_GET()
            return
        page = (Path(self.directory) / "index.html").read_text(encoding="utf-8")
        body = page.replace("</body>", self.script + "\n</body>", 1).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are not news."""


@contextlib.contextmanager
def _serve(root: Path, script: str) -> Iterator[str]:
    handler = functools.partial(_CheckHandler, directory=str(root), script=script)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="report-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _run_chromium(chromium: str, args: list[str], budget_ms: int, timeout_s: float) -> str:
    """Run one headless Chromium command in its own profile and process group; returns its stdout."""
    with tempfile.TemporaryDirectory(prefix="phoenix-chromium-") as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--mute-audio", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *args]
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        except OSError as exc:
            raise PhoenixError("E828", f"chromium does not start: {exc}", where=chromium, fix=CHROMIUM_HINT) from None
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            # Its renderer and helper processes share the session: end them all, not only the launcher.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PhoenixError("E828", f"chromium did not finish within {timeout_s:g}s", where=chromium,
                               fix="retry; a loaded machine may need a larger timeout") from None
        if proc.returncode != 0:
            raise PhoenixError("E828", f"chromium failed (exit {proc.returncode}): {_tail(err)}", where=chromium,
                               fix=f"run '{' '.join(cmd)}' by hand to see why")
        return out


class _TestNames(HTMLParser):
    """Collects the names of tree leaves (``a.node__leaf .node__name``): the test cases on the page."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                      "track", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, inside a leaf, is a name)
        self._text: list[str] | None = None
        self.names: list[str] = []

    @classmethod
    def parse(cls, dom: str) -> list[str]:
        parser = cls()
        parser.feed(dom)
        parser.close()
        return parser.names

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        in_leaf = (bool(self._stack) and self._stack[-1][1]) or "node__leaf" in classes
        is_name = in_leaf and "node__name" in classes and self._text is None
        if is_name:
            self._text = []
        self._stack.append((tag, in_leaf, is_name))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            open_tag, _, is_name = self._stack.pop()
            if is_name and self._text is not None:
                self.names.append("".join(self._text).strip())
                self._text = None
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)
