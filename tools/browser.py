"""Headless system Chromium (Debian package ``chromium``) through Playwright, for the docs'
screenshots and the browser tests; no browser is ever downloaded."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright):  # type: ignore[no-untyped-def]  # playwright's types are optional
    """Headless system Chromium with the flags our CI and sandboxes need."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
