"""Crash-safe batches: every finished submission is written at once, and a
re-run of the same command grades only what is not there yet.

A result is keyed by what determines it: the notebooks' contents, the
student's name and path, the options that change grades, and the grader's
fingerprint for that assignment: the engine's code and every file of the
assignment that grades (its plug-in's checks, probes, known mistakes and
feedback, its reference, its source and release notebooks:
:meth:`~autograder.assignment.Assignment.files`). An edit of one assignment
invalidates its results, and no other assignment's. Files are written
atomically (temporary file, then rename), so a batch killed at any moment
leaves only whole results behind.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from autograder.assignment import Assignment
from autograder.nbfile import file_digest
from autograder.results import CheckResult, SubmissionResult
from autograder.submission import Submission

ENGINE = Path(__file__).resolve().parent


@functools.cache
def engine_fingerprint() -> str:
    """A hash of the engine's source."""
    return _hash_files(ENGINE, sorted(p for p in ENGINE.rglob("*.py") if "__pycache__" not in p.parts))


def grader_fingerprint(assignment: Assignment) -> str:
    """A hash of everything that grades ``assignment``: the engine and the assignment's own files."""
    return engine_fingerprint() + _hash_files(assignment.course_root, assignment.files())


def reference_runs_file(folder: Path, assignment: Assignment) -> Path:
    """Where a batch keeps the reference's results for the next one (the same grader, the same torch:
    :func:`autograder.checks.framework.save_reference_runs`)."""
    import torch

    return folder / f"reference-{grader_fingerprint(assignment)}-torch{torch.__version__}.jsonl"


def _hash_files(root: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def result_key(submission: Submission, assignment: Assignment, options: dict, grader: str | None = None) -> str:
    digest = hashlib.sha256()
    grader = grader or grader_fingerprint(assignment)
    digest.update(json.dumps({"grader": grader, "assignment": assignment.name, "student": submission.student,
                              "path": str(submission.path), "options": options}, sort_keys=True).encode())
    for name, path in sorted(submission.notebooks.items()):
        digest.update(name.encode())
        # checked before it is read (a pipe would block, a link may lead out of the submission), in chunks
        digest.update(file_digest(path, submission.folder))
    return digest.hexdigest()[:32]


class ResultCache:
    """A folder of finished results, one JSON file per submission."""

    def __init__(self, folder: Path, assignment: Assignment, options: dict):
        self.folder = folder
        self.assignment = assignment
        self.options = options
        self.grader = grader_fingerprint(assignment)  # once: the files do not change under a batch
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, submission: Submission) -> Path:
        return self.folder / f"{result_key(submission, self.assignment, self.options, self.grader)}.json"

    def load(self, submission: Submission) -> SubmissionResult | None:
        path = self._path(submission)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # absent, or unreadable: grade it again
        data["checks"] = [CheckResult(**check) for check in data.get("checks", [])]
        return SubmissionResult(**data)

    def store(self, submission: Submission, result: SubmissionResult) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(result.to_dict(), out)
        os.replace(tmp, self._path(submission))
