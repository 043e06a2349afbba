"""Open the built pages from disk in headless Chromium, as a reader would, and keep screenshots.

``file://`` on purpose: the static pages must work without a server (nothing fetched, no CDN)."""

from __future__ import annotations

from pathlib import Path

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.reporting.html import _chromium, _run_chromium

SCREENSHOTS = "screenshots"


def check_dashboard(out_dir: Path, *, screenshots: Path | None = None, budget_ms: int = 3000,
                    timeout_s: float = 120.0) -> dict[str, str]:
    """The DOM Chromium renders for every page (summary, trends, catalog, deployments, each experiment),
    keyed by the path relative to ``out_dir``; with ``screenshots`` a PNG of each into that folder."""
    pages = [out_dir / n for n in ("index.html", "trends.html", "catalog.html", "deployments.html")]
    pages += sorted((out_dir / "experiments").glob("*.html"))
    missing = [p for p in pages[:4] if not p.is_file()]
    if missing:
        raise PhoenixError("E831", f"the dashboard has no {missing[0].name}", where=str(out_dir),
                           fix="build it first ('phoenix report' or 'phoenix dashboard')")
    chromium = _chromium()
    doms: dict[str, str] = {}
    for page in pages:
        rel = page.relative_to(out_dir).as_posix()
        url = page.resolve().as_uri()
        doms[rel] = _run_chromium(chromium, ["--allow-file-access-from-files", "--dump-dom", url], budget_ms,
                                  timeout_s)
        if screenshots is not None:
            screenshots.mkdir(parents=True, exist_ok=True)
            shot = screenshots / (rel.replace("/", "--").removesuffix(".html") + ".png")
            height = 2600 if rel.startswith("experiments/") or rel == "catalog.html" else 1100
            _run_chromium(chromium, ["--allow-file-access-from-files", f"--screenshot={shot.resolve()}",
                                     f"--window-size=1500,{height}", "--hide-scrollbars", url], budget_ms, timeout_s)
            if not shot.is_file():
                raise PhoenixError("E828", "chromium wrote no screenshot", where=str(shot),
                                   fix=f"run {chromium} --headless --screenshot by hand to see why")
    return doms
