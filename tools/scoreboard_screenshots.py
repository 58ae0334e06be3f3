"""Screenshots of a built scoreboard with headless Chromium (Playwright), for the docs.

    python -m tools.scoreboard_screenshots SITE_DIR docs/img/

Playwright drives the system's Chromium (Debian package ``chromium``); no browser is
downloaded. The pages are opened from disk (``file://``), as an instructor would: the student
table, the class view, and the pages of the first student with a late penalty and of the first
student the similarity report flagged (when the board has them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.browser import launch

# flag on the student table -> file name of the screenshot of that student's page
STUDENT_PAGES = {
    "penalty": "scoreboard_student_late.png",
    "similar": "scoreboard_student_similar.png",
}


def take_screenshots(site_dir: Path, out_dir: Path, *, width: int = 1360) -> list[Path]:
    """``scoreboard.png`` (index), ``scoreboard_class.png`` (class view) and one student page
    per flag of ``STUDENT_PAGES`` found on the board, into ``out_dir``."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": 860})
            index = (site_dir / "index.html").resolve().as_uri()
            page.goto(index)
            shots.append(out_dir / "scoreboard.png")
            page.screenshot(path=str(shots[-1]))
            links = {}
            for flag in STUDENT_PAGES:
                row = page.locator(f"#students tbody tr[data-flags~='{flag}'] td.student a")
                if row.count():
                    links[flag] = row.first.get_attribute("href")
            page.goto((site_dir / "class.html").resolve().as_uri())
            page.set_viewport_size({"width": width, "height": 1100})
            shots.append(out_dir / "scoreboard_class.png")
            page.screenshot(path=str(shots[-1]))
            page.set_viewport_size({"width": width, "height": 1000})
            for flag, href in links.items():
                page.goto((site_dir / str(href)).resolve().as_uri())
                shots.append(out_dir / STUDENT_PAGES[flag])
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
