"""The similarity report's verdicts for the board: ``similarity.json`` read into flags.

``python -m autograder similarity RESULTS_DIR --out OUT`` writes ``OUT/similarity.json``
(docs/similarity.md): per student ``flagged``, ``partner``, ``highest_similarity``,
``reference_copy``, ``reference_similarity``. The board shows a flag on every student with
``flagged`` or ``reference_copy``. It reads the file given with ``--similarity``, or else
``RESULTS_DIR/similarity/similarity.json`` of the newest results directory given (the last),
where ``similarity RESULTS_DIR --out RESULTS_DIR/similarity`` writes it.

Scores are never stored in the gradebook: copydetect's hashes differ between processes, so every
similarity run recomputes them; the board shows the report it is given.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.scoreboard.model import SimilarityFlag, login_key

GENERATOR = "bngc-autograder similarity"  # what the similarity command writes in its JSON
DEFAULT_LOCATION = Path("similarity") / "similarity.json"  # inside a results directory
MAX_BYTES = 20 * 1024 * 1024


class SimilarityFileError(ValueError):
    """A similarity.json that cannot be used (the message says which file and why)."""


@dataclass(frozen=True)
class SimilarityReport:
    """The flags of one similarity.json, by login key."""

    source: Path
    flags: dict[str, SimilarityFlag]
    generated_at: str = ""

    def flag_for(self, student: str) -> SimilarityFlag | None:
        return self.flags.get(login_key(student))


def default_location(results_dirs: list[Path]) -> Path | None:
    """``similarity/similarity.json`` in the last results directory, if it is there."""
    if not results_dirs:
        return None
    path = results_dirs[-1] / DEFAULT_LOCATION
    return path if path.is_file() else None


def read_similarity(path: Path) -> SimilarityReport:
    """Read ``path``; raises ``SimilarityFileError`` when it is not the similarity command's."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SimilarityFileError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimilarityFileError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SimilarityFileError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("generator") != GENERATOR:
        raise SimilarityFileError(
            f'{path}: not a similarity report (no "generator": {GENERATOR!r}); give the '
            "similarity.json that `python -m autograder similarity` wrote"
        )
    students = data.get("students")
    if not isinstance(students, dict):
        raise SimilarityFileError(f"{path}: 'students' is not an object of student -> verdict")
    flags = {}
    for student, entry in students.items():
        if not isinstance(entry, dict):
            raise SimilarityFileError(f"{path}: the entry of {student!r} is not an object")
        flags[login_key(str(student))] = _flag(entry)
    return SimilarityReport(path, flags, str(data.get("generated_at") or ""))


def _flag(entry: dict[str, Any]) -> SimilarityFlag:
    partner = entry.get("partner")
    return SimilarityFlag(
        flagged=entry.get("flagged") is True,
        reference_copy=entry.get("reference_copy") is True,
        partner=str(partner) if isinstance(partner, str) and partner else None,
        highest_similarity=_fraction(entry.get("highest_similarity")),
        reference_similarity=_fraction(entry.get("reference_similarity")),
    )


def _fraction(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None
