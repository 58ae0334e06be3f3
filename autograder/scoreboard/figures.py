"""The class view's figures: matplotlib PNG files (Agg canvas, no display, no pyplot state)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported when figures are drawn, not with the command
    from matplotlib.figure import Figure

from autograder.scoreboard.model import Board

DPI = 100
WIDTH, HEIGHT = 7.2, 4.0  # inches


@dataclass(frozen=True)
class FigureFile:
    file: str  # relative to the site root
    alt: str
    caption: str
    width: int
    height: int


# The file each maker below writes (when it has data), and all of them: what a build may write.
SCORE_HISTOGRAM = "score_histogram.png"
PASS_RATE_FUNCTIONS = "pass_rate_functions.png"
PASS_RATE_CHECKS = "pass_rate_checks.png"
SCORES_OVER_TIME = "scores_over_time.png"
FIGURE_NAMES = (SCORE_HISTOGRAM, PASS_RATE_FUNCTIONS, PASS_RATE_CHECKS, SCORES_OVER_TIME)


def write_figures(board: Board, out_dir: Path) -> list[FigureFile]:
    """Write every figure that has data into ``out_dir``; return them in display order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for make in (score_histogram, tag_pass_rates, check_pass_rates, scores_over_time):
        made = make(board)
        if made is None:
            continue
        fig, name, alt, caption = made
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        fig.savefig(out_dir / name, dpi=DPI)
        w, h = fig.get_size_inches()
        figures.append(
            FigureFile(f"{out_dir.name}/{name}", alt, caption, int(w * DPI), int(h * DPI))
        )
    return figures


def _figure(height: float = HEIGHT) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), layout="constrained")


def score_histogram(board: Board) -> tuple[Figure, str, str, str] | None:
    scores = board.scores
    if not scores:
        return None
    top = max(board.max_score, max(scores), 1.0)
    bins = min(20, max(5, int(top)))
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(scores, bins=bins, range=(0, top), color="#2456c9", edgecolor="white")
    if board.mean is not None:
        ax.axvline(board.mean, color="#b3261e", linestyle="--", label=f"mean {board.mean:.1f}")
        ax.legend(loc="upper left")
    ax.set_xlabel(f"score (max {board.max_score:g}; bonus on top)")
    ax.set_ylabel("students")
    ax.set_title("Current scores")
    ax.yaxis.get_major_locator().set_params(integer=True)
    caption = (
        f"Current score of the {len(scores)} students the grader ran on "
        "(a submission that does not import scores 0)."
    )
    return fig, SCORE_HISTOGRAM, "Histogram of current scores", caption


def tag_pass_rates(board: Board) -> tuple[Figure, str, str, str] | None:
    stats = [s for s in board.tag_stats() if s.rate is not None]
    if not stats:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    labels = [s.tag for s in stats][::-1]
    rates = [100 * (s.rate or 0.0) for s in stats][::-1]
    bars = ax.barh(labels, rates, color=[_colour(r) for r in rates])
    ax.bar_label(bars, labels=[f"{r:.0f}%" for r in rates], padding=3)
    ax.set_xlim(0, 110)
    ax.set_xlabel("points earned, % of points available")
    ax.set_title("Per function")
    caption = "Share of each function's points earned by the fully graded students."
    return fig, PASS_RATE_FUNCTIONS, "Bar chart of points earned per function", caption


def check_pass_rates(board: Board) -> tuple[Figure, str, str, str] | None:
    stats = [s for s in board.check_stats(top_feedback=0) if s.rate is not None]
    if not stats:
        return None
    fig = _figure(height=max(HEIGHT, 0.26 * len(stats) + 1.2))
    ax = fig.add_subplot()
    labels = [_short(f"{s.check.number} {s.check.name}") for s in stats][::-1]
    rates = [100 * (s.rate or 0.0) for s in stats][::-1]
    ax.barh(range(len(rates)), rates, color=[_colour(r) for r in rates])
    ax.set_yticks(range(len(rates)), labels, fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing, %")
    ax.set_title("Pass rate per check")
    caption = "Share of fully graded students passing each check; red bars are what to re-teach."
    return fig, PASS_RATE_CHECKS, "Bar chart of the pass rate of every check", caption


def time_limits(times: list[datetime]) -> tuple[datetime, datetime]:
    """An x range that fits the grading runs there are: their span and 5 % on each side (at
    least an hour), or a day either side of a single run (matplotlib alone would draw years)."""
    first, last = min(times), max(times)
    pad = max((last - first) * 0.05, timedelta(hours=1)) if last > first else timedelta(days=1)
    return first - pad, last + pad


def scores_over_time(board: Board) -> tuple[Figure, str, str, str] | None:
    points = board.timeline()
    if not points:
        return None
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    fig = _figure()
    ax = fig.add_subplot()
    times = [p.at for p in points]
    ax.fill_between(
        times, [p.q1 for p in points], [p.q3 for p in points], color="#9db6ef", alpha=0.5,
        label="middle half", step=None,
    )  # fmt: skip
    ax.plot(times, [p.median for p in points], marker="o", color="#2456c9", label="median")
    ax.plot(times, [p.mean for p in points], marker=".", color="#b3261e", label="mean")
    if board.max_score:
        ax.axhline(board.max_score, color="#17753a", linestyle=":", label="full marks")
        ax.set_ylim(0, board.max_score * 1.1)
    ax.set_ylabel("score")
    ax.set_title("Scores over time (each student's latest graded submission)")
    ax.legend(loc="lower right", fontsize=8)
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlim(*time_limits(times))
    runs = "its one grading run" if len(points) == 1 else f"each of its {len(points)} grading runs"
    caption = (
        f"The class after {runs} (UTC): median, mean and the middle half of the scores of the "
        "students graded so far."
    )
    return fig, SCORES_OVER_TIME, "Line chart of the class's scores over time", caption


def _colour(rate_percent: float) -> str:
    if rate_percent < 50:
        return "#c0392b"
    if rate_percent < 80:
        return "#e69f00"
    return "#2e8b57"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
