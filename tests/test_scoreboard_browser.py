"""The scoreboard in a real browser: Debian's Chromium driven by Playwright, pages from disk.

Without Chromium or Playwright these tests skip on a developer machine, and FAIL under CI
(``CI=true``), where a skip would hide a broken setup.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from autograder.scoreboard.command import build_scoreboard
from tests.fixtures.synthetic_class import make_synthetic_class
from tests.tools import in_ci, skip_or_fail
from tools.browser import CHROMIUM, launch


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def require_browser(problem: str | None, *, in_ci: bool) -> None:
    """Skip on a developer machine without a browser; fail under CI."""
    message = "CI must run the browser tests, but {problem}; .ci/run installs it"
    skip_or_fail(problem, ci_message=message, ci=in_ci)


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    problem = browser_problem()
    assert problem is not None and "no-chromium is missing" in problem
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require_browser(problem, in_ci=True)
    with pytest.raises(pytest.skip.Exception, match="no-chromium is missing"):
        require_browser(problem, in_ci=False)
    require_browser(None, in_ci=True)  # everything present: runs


HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("board")
    made = make_synthetic_class(root / "class", students=32, rounds=3, hostile=True, malformed=True)
    build_scoreboard(results_dir=made.round_dirs, out_dir=root / "site", db_path=root / "gb")
    return root / "site"


@pytest.fixture(scope="module")
def browser():
    require_browser(browser_problem(), in_ci=in_ci())
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on(
        "request",
        lambda r: problems.append(f"network: {r.url}") if not r.url.startswith("file://") else None,
    )
    page.goto(url)
    page.wait_for_load_state("load")
    return page, problems


def visible_scores(page) -> list[float]:
    cells = page.locator("#students tbody tr:not([hidden]) td.score")
    values = [cells.nth(i).get_attribute("data-sort") for i in range(cells.count())]
    return [float(v) for v in values if v]


@pytest.mark.browser
def test_sort_filter_and_open_a_student_page(browser, site, tmp_path):
    page, problems = open_page(browser, (site / "index.html").as_uri())
    rows = page.locator("#students tbody tr")
    total = rows.count()
    assert total == 33  # 32 students and the hostile one
    assert page.locator("#shown-count").inner_text() == f"{total} of {total} students shown"
    assert page.locator("#problems").is_visible()
    assert "truncated.json" in page.locator("#problems").inner_text()

    # sort by score: high to low, then low to high
    score_header = page.locator("#students thead th", has_text="Score")
    score_header.locator("button").click()
    assert score_header.get_attribute("aria-sort") == "descending"
    scores = visible_scores(page)
    assert len(scores) >= 25 and scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    score_header.locator("button").click()
    assert score_header.get_attribute("aria-sort") == "ascending"
    assert visible_scores(page) == sorted(scores)

    # filter by flag, then by text
    page.select_option("#filter-flag", "needs-help")
    shown = page.locator("#students tbody tr:not([hidden])")
    assert 0 < shown.count() < total
    for i in range(shown.count()):
        assert "needs-help" in (shown.nth(i).get_attribute("data-flags") or "")
    assert visible_scores(page) == sorted(visible_scores(page))  # still sorted
    page.select_option("#filter-flag", "all")
    first_student = rows.nth(5).get_attribute("data-student") or ""
    page.fill("#filter-text", first_student)
    assert shown.count() >= 1
    assert first_student in [
        shown.nth(i).get_attribute("data-student") for i in range(shown.count())
    ]
    page.fill("#filter-text", "no-such-student-xyz")
    assert shown.count() == 0
    assert page.locator("#shown-count").inner_text() == f"0 of {total} students shown"
    page.fill("#filter-text", "")
    assert shown.count() == total

    # the hostile student's name is text, not markup; its page opens and shows the feedback
    page.get_by_role("link", name=HOSTILE, exact=True).click()
    page.wait_for_load_state("load")
    assert page.locator("#student-name").inner_text() == HOSTILE
    feedback = page.locator("#checks pre.feedback").first.inner_text()
    assert "<script>alert(3)</script>" in feedback  # shown literally, as the student wrote it
    assert page.locator("script").count() == 0

    # a regular student page: every check with feedback, history
    page.go_back()
    page.wait_for_load_state("load")
    page.select_option("#filter-flag", "needs-help")
    page.locator("#students tbody tr:not([hidden]) td a").first.click()
    page.wait_for_load_state("load")
    assert page.locator("#checks tbody tr").count() >= 10
    assert page.locator("#checks td.status.failed").count() >= 1
    assert page.locator("#history tbody tr").count() >= 1
    page.screenshot(path=str(tmp_path / "student.png"))

    page.goto((site / "class.html").as_uri())
    page.wait_for_load_state("load")
    images = page.locator("figure img")
    assert images.count() == 4
    for i in range(images.count()):  # every figure loaded and decoded
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    page.goto((site / "index.html").as_uri())
    page.screenshot(path=str(tmp_path / "scoreboard.png"), full_page=True)
    assert (tmp_path / "scoreboard.png").stat().st_size > 10_000
    page.close()
    assert problems == []


@pytest.mark.browser
def test_a_filter_in_the_url_is_restored(browser, site):
    page, problems = open_page(browser, (site / "index.html").as_uri() + "#show=late")
    shown = page.locator("#students tbody tr:not([hidden])")
    assert page.locator("#filter-flag").input_value() == "late"
    assert 0 < shown.count() < page.locator("#students tbody tr").count()
    page.close()
    assert problems == []
