"""The manifest of protected files: what a student must not change, with SHA-256 hashes.

``release`` writes the manifest into the student repository (``MANIFEST_PATH``) so that the
student's own workflow can warn about edited tests, and ``grade-repos`` compares every student
repository with the manifest of the current release: any protected file that was edited, deleted
or added (in a protected folder) is reported as tampered, and the original files are restored
before grading.

A file is protected when its path is one of ``PROTECTED_FILES`` or lies under one of
``PROTECTED_DIRS`` (the public tests, the workflow and its helper scripts, the requirements).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.grading.submission import MANIFEST_PATH
from autograder.sandbox.names import EDITIONS

MANIFEST_VERSION = 1

PROTECTED_FILES: tuple[str, ...] = ("requirements.txt", "exercise_utils.py")
PROTECTED_DIRS: tuple[str, ...] = ("tests", ".github")
# the two editions of the exercise, as released (recorded, not protected)
TEMPLATE_FILES: tuple[str, ...] = EDITIONS


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_protected(path: str) -> bool:
    """Whether a repository-relative POSIX path is protected (the manifest itself is not)."""
    if path == MANIFEST_PATH:
        return False
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    return path in PROTECTED_FILES or parts[0] in PROTECTED_DIRS


@dataclass(frozen=True)
class Change:
    """One protected file that differs from the manifest."""

    path: str
    kind: str  # "modified" | "deleted" | "added"

    def __str__(self) -> str:
        return f"{self.path} ({self.kind})"


@dataclass
class Manifest:
    """Hashes of the protected files of a release, keyed by repository-relative POSIX path, and
    of the released templates (``TEMPLATE_FILES``: not protected, the student edits one of them;
    the grader tells which edition the student worked in by comparing with these)."""

    files: dict[str, str] = field(default_factory=dict)
    version: int = MANIFEST_VERSION
    templates: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> Manifest:
        """The manifest of the protected files among ``files`` (path -> content)."""
        return cls(
            {p: sha256_bytes(files[p]) for p in sorted(files) if is_protected(p)},
            templates={p: sha256_bytes(files[p]) for p in TEMPLATE_FILES if p in files},
        )

    def to_json(self) -> str:
        data = {
            "version": self.version,
            "algorithm": "sha256",
            "protected_files": list(PROTECTED_FILES),
            "protected_dirs": list(PROTECTED_DIRS),
            "files": dict(sorted(self.files.items())),
            "templates": dict(sorted(self.templates.items())),
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; raises ValueError when it is malformed."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest is not valid JSON: {exc}") from exc
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in files.items()
        ):
            raise ValueError("manifest has no 'files' object of path -> sha256 hex digest")
        templates = data.get("templates") or {}  # absent from manifests of earlier releases
        if not isinstance(templates, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in templates.items()
        ):
            raise ValueError("manifest's 'templates' is not an object of path -> sha256 digest")
        return cls(dict(files), int(data.get("version", MANIFEST_VERSION)), dict(templates))

    def check(self, root: str | os.PathLike) -> list[Change]:
        """Compare the protected files under ``root`` with the manifest (sorted by path).

        Symbolic links are never followed: a protected path that is a link counts as modified.
        """
        root = Path(root)
        changes: list[Change] = []
        for rel, digest in sorted(self.files.items()):
            path = root / rel
            if path.is_symlink() or (path.exists() and not path.is_file()):
                changes.append(Change(rel, "modified"))
            elif not path.exists():
                changes.append(Change(rel, "deleted"))
            elif sha256_bytes(path.read_bytes()) != digest:
                changes.append(Change(rel, "modified"))
        for rel in protected_paths_on_disk(root):
            if rel not in self.files:
                changes.append(Change(rel, "added"))
        return sorted(changes, key=lambda c: c.path)


def protected_paths_on_disk(root: str | os.PathLike) -> list[str]:
    """Every file (or link) under ``root``'s protected folders and files, sorted."""
    root = Path(root)
    found: set[str] = set()
    for name in PROTECTED_FILES:
        if (root / name).is_file() or (root / name).is_symlink():
            found.add(name)
    for folder in PROTECTED_DIRS:
        base = root / folder
        if not base.is_dir() or base.is_symlink():
            if base.is_symlink() or base.is_file():
                found.add(folder)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in filenames:
                if name.endswith(".pyc"):
                    continue
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                found.add(rel)
    found.discard(MANIFEST_PATH)
    return sorted(found)


def restore(root: str | os.PathLike, originals: dict[str, bytes], changes: list[Change]) -> None:
    """Undo ``changes`` under ``root``: write the original files back, remove added ones."""
    root = Path(root)
    for change in changes:
        path = root / change.path
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        if change.kind != "added":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(originals[change.path])
