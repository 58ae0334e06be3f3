"""A screenshot of a similarity report with headless Chromium (Playwright), for the docs.

    python -m tools.similarity_screenshot OUT_DIR docs/img/similarity.png

Playwright drives the system's Chromium (Debian package ``chromium``), as the scoreboard's
screenshots do; no browser is downloaded. The report is opened from disk (``file://``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.similarity.report import INDEX_HTML
from tools.browser import launch


def take_screenshot(report_dir: Path, out: Path, *, width: int = 1360, height: int = 1000) -> Path:
    """The top of ``report_dir/index.html`` as a PNG at ``out``."""
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto((report_dir / INDEX_HTML).resolve().as_uri())
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A screenshot of a similarity report.")
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    path = take_screenshot(args.report_dir, args.out)
    print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
