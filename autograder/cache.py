"""Crash-safe batches: every finished submission is written at once, and a
re-run of the same command grades only what is not there yet.

A result is keyed by what determines it: the notebooks' contents, the
student's name and path, the options that change grades, and the grader's own
fingerprint (its code and the reference's). Files are written atomically
(temporary file, then rename), so a batch killed at any moment leaves only
whole results behind.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from autograder.results import CheckResult, SubmissionResult
from autograder.submission import Submission

PACKAGE = Path(__file__).resolve().parent


@functools.cache
def grader_fingerprint() -> str:
    """A hash of the grader's and the reference's source: changing a check,
    a probe or a reference solution invalidates cached results."""
    digest = hashlib.sha256()
    for root in (PACKAGE, PACKAGE.parent / "solutions"):
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def result_key(submission: Submission, options: dict) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"grader": grader_fingerprint(), "student": submission.student,
                              "path": str(submission.path), "options": options}, sort_keys=True).encode())
    for name, path in sorted(submission.notebooks.items()):
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:32]


class ResultCache:
    """A folder of finished results, one JSON file per submission."""

    def __init__(self, folder: Path, options: dict):
        self.folder = folder
        self.options = options
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, submission: Submission) -> Path:
        return self.folder / f"{result_key(submission, self.options)}.json"

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
