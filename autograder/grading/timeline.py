"""Where a grading's time goes: spans on lanes (the grader, each student process), for --profile.

Times are ``time.monotonic()`` readings, which every process on the machine shares (Linux's
``CLOCK_MONOTONIC``), so a student process can report its own (validated by the sandbox before
they are kept). ``timeline_json`` writes a file that Perfetto or ``chrome://tracing`` opens as is
(its ``traceEvents``) and that carries the spans and each lane's busy time as plain data;
``render_timeline`` draws the same spans as text, one row per span.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRADER = "grader"  # the lane of the trusted grading process


@dataclass(frozen=True)
class Span:
    lane: str  # "grader", or a student process ("student", "trainer")
    name: str
    start: float  # seconds since the timeline's origin
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def process_started_at() -> float:
    """When this process started, on the ``time.monotonic()`` clock (now, if unknown)."""
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii")
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    since_start = uptime - ticks / os.sysconf("SC_CLK_TCK")
    return time.monotonic() - max(since_start, 0.0)


@dataclass
class Timeline:
    """Spans of one grading; ``origin`` is when the grading process started."""

    origin: float = field(default_factory=process_started_at)
    spans: list[Span] = field(default_factory=list)
    max_spans: int = 2000  # a timeline never grows without bound (a probe per check at most)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds: the grader, its children

    def note_cpu(self) -> None:
        """Record the CPU time used so far by this process and by its ended children (the
        student processes, once killed and waited for)."""
        for who, flag in (("grader", resource.RUSAGE_SELF), ("students", resource.RUSAGE_CHILDREN)):
            usage = resource.getrusage(flag)
            self.cpu[who] = round(usage.ru_utime + usage.ru_stime, 3)

    def add(self, lane: str, name: str, start: float, end: float) -> None:
        """Record ``name`` on ``lane`` from ``start`` to ``end`` (monotonic readings)."""
        if len(self.spans) >= self.max_spans:
            return
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            return
        self.spans.append(Span(lane, name[:120], start - self.origin, end - self.origin))

    @contextlib.contextmanager
    def span(self, name: str, lane: str = GRADER) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(lane, name, started, time.monotonic())

    def lanes(self) -> list[str]:
        """Lanes in order of first appearance, the grader first."""
        seen = [GRADER]
        for s in self.spans:
            if s.lane not in seen:
                seen.append(s.lane)
        return seen

    def wall(self) -> float:
        return max((s.end for s in self.spans), default=0.0)

    def busy(self, lane: str) -> float:
        """Seconds of ``lane`` covered by at least one span (nested spans counted once)."""
        covered, end = 0.0, -math.inf
        for s in sorted((s for s in self.spans if s.lane == lane), key=lambda s: s.start):
            if s.end <= end:
                continue
            covered += s.end - max(s.start, end)
            end = s.end
        return covered


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """The timeline as plain data, also a Chrome trace (``traceEvents``, microseconds)."""
    lanes = timeline.lanes()
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": i, "args": {"name": lane}}
        for i, lane in enumerate(lanes)
    ]
    for s in timeline.spans:
        events.append(
            {
                "ph": "X",
                "name": s.name,
                "pid": 1,
                "tid": lanes.index(s.lane),
                "ts": round(s.start * 1e6),
                "dur": round(s.seconds * 1e6),
            }
        )
    return {
        "wall_seconds": round(timeline.wall(), 3),
        "busy_seconds": {lane: round(timeline.busy(lane), 3) for lane in lanes},
        "cpu_seconds": dict(timeline.cpu),
        "spans": [
            {"lane": s.lane, "name": s.name, "start": round(s.start, 4), "end": round(s.end, 4)}
            for s in timeline.spans
        ],
        "traceEvents": events,
        "displayTimeUnit": "ms",
    }


def render_timeline(timeline: Timeline, *, width: int = 48, min_seconds: float = 0.0) -> str:
    """A text chart: one row per span (in start order), a bar placed on the grading's time axis.

    Spans shorter than ``min_seconds`` are left out (their time still counts in the totals).
    """
    wall = timeline.wall() or 1.0
    scale = width / wall
    lanes = timeline.lanes()
    name_width = 44
    lines = [
        f"{'lane':<8} {'span':<{name_width}} {'start':>6} {'secs':>6}  0{'':{width - 2}}{wall:.1f}s"
    ]
    for s in sorted(timeline.spans, key=lambda s: (s.start, lanes.index(s.lane))):
        if s.seconds < min_seconds:
            continue
        lo = min(int(s.start * scale), width - 1)
        hi = max(lo + 1, min(round(s.end * scale), width))
        bar = " " * lo + "#" * (hi - lo)
        name = s.name if len(s.name) <= name_width else s.name[: name_width - 1] + "…"
        lines.append(
            f"{s.lane:<8} {name:<{name_width}} {s.start:>6.2f} {s.seconds:>6.2f}  {bar:<{width}}"
        )
    totals = ", ".join(f"{lane} busy {timeline.busy(lane):.1f} s" for lane in lanes)
    lines.append(f"wall {wall:.1f} s since the grader started; {totals}")
    if timeline.cpu:
        cpu = ", ".join(f"{who} {seconds:.1f} s" for who, seconds in timeline.cpu.items())
        lines.append(f"CPU time: {cpu}")
    return "\n".join(lines)
