"""Loading a submission of an assignment: find its notebooks, read them, pick the cells to run.

Bad input never stops grading: a notebook that is missing, not JSON, empty or
of an old format becomes a clear note, and the other notebooks are still
graded. Which cells are experiments or tests (not run when grading) comes
from the SOURCE notebooks, never from anything in the submission.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import feedback
from autograder.assignment import Assignment
from autograder.course import notebook_of
from autograder.notebooks import EXPERIMENT_ID_PREFIX, experiment_cell_ids

NOT_FOUND = "{notebook} was not found in {folder}: its parts score 0. Submit it under exactly that name."
NOT_JSON = "{notebook} is not a valid notebook file ({detail}): its parts score 0. Re-download it from Jupyter (File → Download)."
EMPTY = "{notebook} is empty: its parts score 0."
NO_CELLS = "{notebook} has no code cells: its parts score 0."
OLD_FORMAT = "{notebook} is in the old nbformat {version} and was converted to nbformat 4 for grading."


@dataclass
class LoadedNotebook:
    """A submitted notebook, ready to run: its code cells minus experiments."""

    name: str
    path: Path | None
    cells: list[dict] = field(default_factory=list)  #: {"index", "id", "source"} in notebook order
    error: str | None = None  #: why it cannot be graded at all
    notes: list[str] = field(default_factory=list)


@dataclass
class Submission:
    """One student's submission: a folder (or a single notebook) to grade."""

    student: str
    path: Path
    notebooks: dict[str, Path]  #: notebook name -> file, for those found


def skipped_ids(assignment: Assignment, notebook: str) -> frozenset[str]:
    """Cell ids not run when grading, read from the SOURCE notebook: experiments,
    and nbgrader's test cells (the checks replace them; in a release they are empty)."""
    source = assignment.source_dir / notebook
    if not source.exists():
        return frozenset()
    tests = {cell.get("id") for cell in nbformat.read(source, as_version=4).cells
             if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
             and not cell.get("metadata", {}).get("nbgrader", {}).get("solution")}
    return experiment_cell_ids(source) | tests


_NBGRADER_FLAGS = ("grade_id", "grade", "solution", "locked", "points")


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def metadata_tampering(notebook, assignment: Assignment, name: str) -> list[tuple[int, str]]:
    """(cell index, what) for each change of a submitted notebook's grading
    metadata, judged against the SOURCE notebook (and the release): nbgrader
    flags or points changed, a grade_id the assignment does not have, a graded
    cell given an id that grading skips (an experiment's or a test's), a
    locked test cell edited. None of these changes a grade here (cells are
    told apart by the source's ids), but each is an attempt to."""
    source = assignment.source_dir / name
    if not source.exists():
        return []
    originals = nbformat.read(source, as_version=4).cells
    release = assignment.release_dir / name
    released = {c.get("id"): c for c in nbformat.read(release, as_version=4).cells} if release.exists() else {}
    by_id = {c.get("id"): c for c in originals}
    by_grade_id = {_nbgrader(c)["grade_id"]: c for c in originals if _nbgrader(c).get("grade_id")}
    skipped = skipped_ids(assignment, name)
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        meta, cell_id = _nbgrader(cell), cell.get("id")
        grade_id = meta.get("grade_id")
        original = by_grade_id.get(grade_id)
        if grade_id and original is None:
            found.append((index, f"its nbgrader metadata names a grade_id the assignment does not have ({grade_id!r})"))
        elif grade_id and any(meta.get(k) != _nbgrader(original).get(k) for k in _NBGRADER_FLAGS):
            found.append((index, f"changed the nbgrader metadata (points, grade, solution or locked) of {grade_id!r}"))
        elif grade_id and cell_id != original.get("id") and (
                cell_id in skipped or str(cell_id).startswith(EXPERIMENT_ID_PREFIX)):
            found.append((index, f"gave the graded cell {grade_id!r} the id {cell_id!r}, which grading skips"))
        original = by_id.get(cell_id)
        if original is not None and _nbgrader(original).get("grade") and _nbgrader(original).get("locked"):
            text = str(cell.get("source", "")).strip()
            if text not in (str(original.get("source", "")).strip(),
                            str(released.get(cell_id, {}).get("source", "")).strip()):
                found.append((index, f"edited the locked test cell {cell_id!r}"))
    return found


def load_notebook(name: str, path: Path | None, assignment: Assignment) -> LoadedNotebook:
    """Read a submitted notebook; on any problem, say what is wrong and what to do."""
    loaded = LoadedNotebook(name, path)
    if path is None or not path.is_file():
        loaded.error = NOT_FOUND.format(notebook=name, folder=path.parent if path else "the submission")
        return loaded
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        loaded.error = EMPTY.format(notebook=name)
        return loaded
    try:
        raw = json.loads(text)
        version = int(raw.get("nbformat", 0)) if isinstance(raw, dict) else 0
        notebook = nbformat.reads(text, as_version=4)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        loaded.error = NOT_JSON.format(notebook=name, detail=str(exc).splitlines()[0][:120])
        return loaded
    if version and version < 4:
        loaded.notes.append(OLD_FORMAT.format(notebook=name, version=version))
    for index, what in metadata_tampering(notebook, assignment, name):
        loaded.notes.append(feedback.TAMPERING_NOTE.format(where=f"{name}, cell {index}", what=what))
    skip = skipped_ids(assignment, name)
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code" or cell.get("id") in skip:
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        loaded.cells.append({"index": index, "id": cell.get("id"), "source": source})
    if not loaded.cells:
        loaded.error = NO_CELLS.format(notebook=name)
    return loaded


def one_submission(path: Path, assignment: Assignment) -> Submission:
    """A single student's submission: a notebook file, or their folder (which
    may hold the notebooks directly or in an ``<assignment>/`` folder). A
    notebook file named otherwise than the assignment's notebooks is the one
    its nbgrader cell ids say it is."""
    if path.is_file():
        notebook = notebook_of(path, assignment) or (assignment.notebooks[0] if len(assignment.notebooks) == 1
                                                     else path.name)
        return Submission(_student_of(path.parent, assignment), path, {notebook: path})
    if not _is_student_folder(path, assignment) and (path / assignment.name).is_dir():
        path = path / assignment.name
    return _student_folder(path, assignment)


def find_submissions(paths: list[Path], assignment: Assignment, others: Collection[str] = ()) -> list[Submission]:
    """Expand notebooks, student folders and ``submitted/`` trees into submissions.

    A notebook file is a submission of that notebook alone; a folder holding
    the assignment's notebooks (or an ``<assignment>/`` folder with them) is one
    student's; any other folder is a tree of students' folders. In a tree, a
    student's folder that holds only ``others/`` (the course's other
    assignments) is not a submission of this one; any other is, if only to say
    what is missing.
    """
    found: list[Submission] = []
    for path in map(Path, paths):
        if path.is_file() or _is_student_folder(path, assignment) or (path / assignment.name).is_dir():
            found.append(one_submission(path, assignment))
            continue
        for child in sorted(p for p in path.iterdir() if p.is_dir()):
            theirs = not _is_student_folder(child, assignment) and not (child / assignment.name).is_dir() \
                and any((child / other).is_dir() for other in others)
            if not theirs:
                found.append(one_submission(child, assignment))
    return found


def _is_student_folder(path: Path, assignment: Assignment) -> bool:
    return path.name == assignment.name or any((path / name).exists() for name in assignment.notebooks)


def _student_folder(folder: Path, assignment: Assignment) -> Submission:
    notebooks = {name: folder / name for name in assignment.notebooks if (folder / name).exists()}
    return Submission(_student_of(folder, assignment), folder, notebooks)


def _student_of(folder: Path, assignment: Assignment) -> str:
    folder = folder.resolve()
    return folder.parent.name if folder.name == assignment.name else folder.name
