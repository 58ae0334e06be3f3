"""Pairwise similarity with copydetect, the released template's code as boilerplate.

copydetect (PyPI) tokenises a file with Pygments, writes every name as ``V``/``F``/``O`` and every
string as ``S``, drops comments and whitespace, and hashes each k-gram of what remains. The
k-grams that also occur in the boilerplate (the template script and the template notebook's code
cells) are removed first: the docstrings, stubs and given code that every student received never
count. Renaming variables, editing comments or reordering functions therefore changes nothing.

For documents A and B, copydetect gives ``a_in_b``, the share of A's remaining (fingerprinted)
code that lies in regions matching B, and ``b_in_a``. The similarity of the pair weighs both by
size::

    similarity = (matched_A + matched_B) / (fingerprinted_A + fingerprinted_B)

Unlike ``max(a_in_b, b_in_a)`` it does not call a student who wrote one small function "100 %
similar" to everyone who wrote that function the way its hint says. A pair is flagged when its
similarity reaches the threshold AND at least ``MIN_MATCHED_TOKENS`` of code match on both sides:
one short function written alike is never enough. docs/similarity.md has the measurements behind
both numbers.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autograder.similarity.collect import Document

# copydetect's noise threshold k (its default): matches shorter than 25 characters of filtered
# code (names as single letters, no whitespace: about half a line of Python) are ignored.
NOISE_TOKENS = 25
# copydetect's window for winnowing; 1 keeps every k-gram (its default: guarantee = noise).
WINDOW = 1
# Least matched filtered code for a flag: more than any single function of the reference
# solution but ``compare_runs`` (clip_gradients is 120, add_batchnorm 234, compare_runs 474).
MIN_MATCHED_TOKENS = 300
# Default --threshold: independent solutions score 0.46 at most, disguised copies 0.92 and up.
PAIR_THRESHOLD = 0.6
SIMILARITY_EXTRA = "pip install -e '.[similarity]'"


class SimilaritySetupError(RuntimeError):
    """This environment lacks what the similarity command needs (the message says what)."""


def require_copydetect() -> Any:
    """The ``copydetect`` module; ``SimilaritySetupError`` when the extra is not installed."""
    try:
        return importlib.import_module("copydetect")
    except ModuleNotFoundError as exc:
        if exc.name != "copydetect":
            raise  # something inside copydetect is missing: not ours to explain
        raise SimilaritySetupError(
            "the similarity report needs copydetect (the [similarity] extra), which is not "
            f"installed in this environment ({sys.executable}): {SIMILARITY_EXTRA}"
        ) from None


@dataclass(frozen=True)
class Score:
    """How much of two documents' own code (template removed) matches the other."""

    similarity: float  # both sides together, in [0, 1] (see the module docstring)
    a_in_b: float  # share of A's code found in B, in [0, 1]
    b_in_a: float  # share of B's code found in A, in [0, 1]
    matched: int  # matched filtered code, in characters, on the side with less of it

    def flagged(self, threshold: float) -> bool:
        """At or above ``threshold``, with more matched code than one short function."""
        return self.similarity >= threshold and self.matched >= MIN_MATCHED_TOKENS


@dataclass(frozen=True)
class StudentPair:
    """Two students and their most similar documents (one per edition each, at most)."""

    student_a: str
    student_b: str
    file_a: str
    file_b: str
    score: Score


@dataclass(frozen=True)
class Fingerprint:
    """copydetect's ``CodeFingerprint`` of one document, and its fingerprints as arrays."""

    copydetect: Any  # copydetect.CodeFingerprint, boilerplate removed
    unique: Any  # sorted distinct hashes (numpy int64)
    hashes: Any  # the hash at each fingerprinted position (numpy int64)
    positions: Any  # those positions in the filtered code (numpy int64)


class Fingerprinter:
    """Fingerprints of Python code with the boilerplate's k-grams removed (copydetect)."""

    def __init__(self, boilerplate: Sequence[str]) -> None:
        self._copydetect = require_copydetect()
        self._utils = importlib.import_module("copydetect.utils")
        import numpy as np  # a dependency of copydetect and of this project

        self._np = np
        hashes = [h for code in boilerplate for h in self._code_fingerprint(code, []).hashes]
        self._boilerplate = np.unique(np.array(hashes, dtype=np.int64))

    def _code_fingerprint(self, code: str, boilerplate: Any) -> Any:
        return self._copydetect.CodeFingerprint(
            "code.py",
            NOISE_TOKENS,
            WINDOW,
            boilerplate=boilerplate,
            language="python",
            fp=io.StringIO(code),
        )

    def fingerprint(self, code: str) -> Fingerprint:
        """The ``Fingerprint`` of ``code``, boilerplate removed."""
        np = self._np
        fp = self._code_fingerprint(code, self._boilerplate)
        pairs = [(h, i) for h, where in fp.hash_idx.items() for i in where]
        hashes = np.array([h for h, _ in pairs], dtype=np.int64)
        positions = np.array([i for _, i in pairs], dtype=np.int64)
        return Fingerprint(fp, np.unique(hashes), hashes, positions)

    def score(self, a: Fingerprint, b: Fingerprint) -> Score:
        """The ``Score`` of two fingerprints.

        The same numbers as ``copydetect.compare_files`` (a test checks it), computed with
        array operations: this runs for every pair of the class, 45,000 pairs for 300 students.
        """
        common = self._np.intersect1d(a.unique, b.unique, assume_unique=True)
        if common.size == 0:
            return Score(similarity=0.0, a_in_b=0.0, b_in_a=0.0, matched=0)
        matched_a, matched_b = self._covered(a, common), self._covered(b, common)
        coverage_a, coverage_b = a.copydetect.token_coverage, b.copydetect.token_coverage
        return Score(
            similarity=float((matched_a + matched_b) / (coverage_a + coverage_b)),
            a_in_b=float(matched_a / coverage_a),
            b_in_a=float(matched_b / coverage_b),
            matched=min(matched_a, matched_b),
        )

    def _covered(self, fp: Fingerprint, common: Any) -> int:
        """How many characters of ``fp``'s filtered code the ``common`` k-grams cover."""
        where = fp.positions[self._np.isin(fp.hashes, common)]
        slices = self._utils.get_copied_slices(where, NOISE_TOKENS)
        return int(self._np.sum(slices[1] - slices[0]))

    def regions(
        self, a: Fingerprint, b: Fingerprint
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The matched regions of each side, as sorted ``(start, end)`` character offsets."""
        _, _, (slices_a, slices_b) = self._copydetect.compare_files(a.copydetect, b.copydetect)
        return _spans(slices_a), _spans(slices_b)


def counted_characters(code: str) -> bytes:
    """Per character of ``code``, 1 where copydetect compares it and 0 in a comment, a docstring
    or whitespace. Its matched regions run from the first to the last character of a match and
    so also cover the comments in between; the report highlights only what counts."""
    from pygments import token
    from pygments.lexers import PythonLexer

    counted = bytearray()
    for kind, text in PythonLexer(stripnl=False, ensurenl=False).get_tokens(code):
        if kind in token.Comment or kind in token.String.Doc or kind in token.Text:
            counted += bytes(len(text))
        else:
            counted += bytes(not char.isspace() for char in text)
    return bytes(counted)


def _spans(slices: Any) -> list[tuple[int, int]]:
    if slices.size == 0:
        return []
    return sorted((int(start), int(end)) for start, end in zip(slices[0], slices[1], strict=True))


@dataclass
class Comparison:
    """Every document fingerprinted, and every pair of students scored."""

    fingerprinter: Fingerprinter
    documents: list[Document]
    fingerprints: list[Fingerprint]
    pairs: list[StudentPair]  # most similar first

    def fingerprint_of(self, student: str, file: str) -> tuple[Document, Fingerprint]:
        """The document of ``student``'s ``file`` and its fingerprint."""
        for doc, fp in zip(self.documents, self.fingerprints, strict=True):
            if doc.student == student and doc.file == file:
                return doc, fp
        raise KeyError(f"no document {file} of {student!r}")


def compare_documents(
    documents: Sequence[Document], *, boilerplate: Sequence[str], progress: bool = False
) -> Comparison:
    """Score every pair of documents of different students; keep each student pair's best."""
    from tqdm import tqdm

    fingerprinter = Fingerprinter(boilerplate)
    docs = list(documents)
    fingerprints = [fingerprinter.fingerprint(doc.code) for doc in docs]
    best: dict[tuple[str, str], StudentPair] = {}
    for i in tqdm(range(len(docs)), desc="comparing", unit="file", disable=not progress):
        for j in range(i + 1, len(docs)):
            a, b = (i, j) if docs[i].student <= docs[j].student else (j, i)
            if docs[a].student == docs[b].student:
                continue
            score = fingerprinter.score(fingerprints[a], fingerprints[b])
            key = (docs[a].student, docs[b].student)
            if key not in best or score.similarity > best[key].score.similarity:
                best[key] = StudentPair(key[0], key[1], docs[a].file, docs[b].file, score)
    pairs = sorted(best.values(), key=_most_similar_first)
    return Comparison(fingerprinter, docs, fingerprints, pairs)


def _most_similar_first(pair: StudentPair) -> tuple[float, int, str, str]:
    return -pair.score.similarity, -pair.score.matched, pair.student_a, pair.student_b
