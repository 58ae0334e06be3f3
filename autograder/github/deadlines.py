"""Deadlines and the late policy: which commits count, and what lateness costs.

A class has one deadline (``--deadline``); a roster row may override it for one student (an
extension, the roster's ``deadline`` column). Without a late policy the last commit at or before
the student's deadline is graded. With ``--late-days N --late-penalty P`` the last commit up to N
days after it is graded, and P % of ``max_score`` is taken off per started day late (one minute
late is one day), never below 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DAY = timedelta(days=1)


def parse_deadline(text: str) -> datetime | None:
    """An ISO-8601 date/time (UTC when without a time zone), or None for ``none`` (any case).

    ``none`` grades the latest commits, as the grading workflow's ``deadline`` input offers.
    """
    if text.strip().lower() == "none":
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"not an ISO-8601 date/time: {text!r} (e.g. 2026-12-01T23:59:00+01:00, or 'none' "
            "for the latest commits)"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


def iso(when: datetime | None) -> str | None:
    """A deadline as the results files write it (None: the latest commits were graded)."""
    return when.isoformat() if when is not None else None


@dataclass(frozen=True)
class LatePolicy:
    """How late work counts: graded up to ``days`` after the deadline, ``penalty_percent`` of the
    maximum off per started day. The default (0, 0) grades nothing after the deadline."""

    days: int = 0
    penalty_percent: float = 0.0

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError(f"--late-days must be 0 or more, not {self.days}")
        if not 0 <= self.penalty_percent <= 100 or not math.isfinite(self.penalty_percent):
            raise ValueError(
                f"--late-penalty must be a percentage between 0 and 100, not {self.penalty_percent}"
            )
        if self.penalty_percent and not self.days:
            raise ValueError(
                "--late-penalty needs --late-days N (how many days after the deadline late work "
                "is still graded)"
            )

    def cutoff(self, deadline: datetime) -> datetime:
        """The last moment a commit is graded."""
        return deadline + self.days * DAY

    def days_late(self, committed: datetime, deadline: datetime | None) -> int:
        """Started days between ``deadline`` and ``committed`` (0 when on time or no deadline)."""
        if deadline is None or committed <= deadline:
            return 0
        return math.ceil((committed - deadline) / DAY)

    def penalty(self, days_late: int, max_score: float) -> float:
        """Points taken off for ``days_late`` days."""
        return round(days_late * self.penalty_percent / 100 * max_score, 4)

    @property
    def on(self) -> bool:
        """Whether late work is graded at all (``--late-days`` above 0)."""
        return self.days > 0

    def to_json(self) -> dict[str, float]:
        return {"late_days": self.days, "late_penalty": self.penalty_percent}
