"""Write the pass/fail table of the public tests to the GitHub Actions job summary.

Usage: python .github/scripts/public_tests_summary.py JUNIT.xml

Reads pytest's JUnit XML report and appends a Markdown table to the file named by
$GITHUB_STEP_SUMMARY (to standard output when that is not set). It also warns when a protected
file (public tests, workflow, requirements) differs from .github/autograder-manifest.json.
Only the standard library is used, so that it runs even when installing the requirements failed.
Always exits 0: whether the tests passed is the previous step's business.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MANIFEST = Path(".github/autograder-manifest.json")
MAX_DETAIL = 1500  # characters of failure message shown per test


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def parse_report(path: Path) -> list[dict[str, str]]:
    """One dict per test case: name, status (passed/failed/error/skipped), time, message."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = "failed" if child.tag == "failure" else child.tag
                message = (child.get("message") or "") + "\n" + (child.text or "")
                break
        module = (case.get("classname") or "").rsplit(".", 1)[-1]
        name = f"{module}::{case.get('name', '?')}" if module else case.get("name", "?")
        cases.append(
            {
                "name": name,
                "status": status,
                "time": case.get("time", "0"),
                "message": message.strip(),
            }
        )
    return cases


def protected_changes(root: Path = Path()) -> list[str]:
    """Protected files that differ from the manifest ("path (modified|deleted|added)")."""
    if not (root / MANIFEST).is_file():
        return [f"{MANIFEST} (deleted)"]
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        files = dict(data["files"])
        dirs = list(data.get("protected_dirs", []))
        singles = list(data.get("protected_files", []))
    except (ValueError, KeyError, TypeError):
        return [f"{MANIFEST} (modified)"]
    changes = []
    for rel, digest in sorted(files.items()):
        path = root / rel
        if not path.is_file():
            changes.append(f"{rel} (deleted)")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            changes.append(f"{rel} (modified)")
    on_disk = {name for name in singles if (root / name).is_file()}
    for folder in dirs:
        for dirpath, dirnames, filenames in os.walk(root / folder):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if not name.endswith(".pyc"):
                    on_disk.add((Path(dirpath) / name).relative_to(root).as_posix())
    on_disk.discard(MANIFEST.as_posix())
    changes += [f"{rel} (added)" for rel in sorted(on_disk - set(files))]
    return changes


def render(report: Path) -> str:
    icons = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️"}
    lines: list[str] = []
    if not report.is_file():
        lines += [
            "## Public tests did not run",
            "",
            "No test report was written: open the log of the step *Run the public tests* "
            "(or *Install ...*) to see why.",
        ]
    else:
        try:
            cases = parse_report(report)
        except ET.ParseError as exc:
            cases = []
            lines += [f"## Public tests: the report could not be read ({exc})"]
        if cases:
            counts = {s: sum(c["status"] == s for c in cases) for s in icons}
            parts = [f"{n} {s}" for s, n in counts.items() if n]
            lines += [f"## Public tests: {', '.join(parts)}", ""]
            lines += ["| | Test | Result | Time (s) |", "|---|---|---|---:|"]
            for c in cases:
                lines.append(
                    f"| {icons[c['status']]} | `{cell(c['name'])}` | {c['status']} "
                    f"| {float(c['time'] or 0):.2f} |"
                )
            failed = [c for c in cases if c["status"] in ("failed", "error")]
            for c in failed:
                detail = c["message"][:MAX_DETAIL].replace("```", "'''")
                lines += [
                    "",
                    f"<details><summary>❌ {cell(c['name'])}</summary>",
                    "",
                    "```",
                    detail,
                    "```",
                    "</details>",
                ]
        elif not lines:
            lines += ["## Public tests: no test was collected"]
    changes = protected_changes()
    if changes:
        lines += [
            "",
            "### ⚠️ Protected files were changed",
            "",
            "These files must stay as they were handed out. The grader reports the change to "
            "your instructor and grades your work with the original files:",
            "",
        ]
        lines += [f"- `{cell(c)}`" for c in changes]
    lines += [
        "",
        "_These are the public tests only. Your grade comes from hidden checks run by your "
        "instructor; it appears as the commit status `autograder/score`._",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    text = render(Path(argv[0]))
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with Path(target).open("a", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
