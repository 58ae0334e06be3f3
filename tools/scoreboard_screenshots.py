"""Screenshots of a built scoreboard with headless Chromium (Playwright), for the docs.

    python -m tools.scoreboard_screenshots SITE_DIR docs/img/

Playwright drives the system's Chromium (Debian package ``chromium``); no browser is
downloaded. The pages are opened from disk (``file://``), as an instructor would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.browser import launch


def take_screenshots(site_dir: Path, out_dir: Path, *, width: int = 1360) -> list[Path]:
    """``scoreboard.png`` (index) and ``scoreboard_class.png`` (class view) into ``out_dir``."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": 860})
            page.goto((site_dir / "index.html").resolve().as_uri())
            shots.append(out_dir / "scoreboard.png")
            page.screenshot(path=str(shots[-1]))
            page.goto((site_dir / "class.html").resolve().as_uri())
            page.set_viewport_size({"width": width, "height": 1100})
            shots.append(out_dir / "scoreboard_class.png")
            page.screenshot(path=str(shots[-1]))
        finally:
            browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of a built scoreboard.")
    parser.add_argument("site_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    for path in take_screenshots(args.site_dir, args.out_dir):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
