"""Loading a submission: find its notebooks, read them, pick the cells to run.

Bad input never stops grading: a notebook that is missing, not JSON, empty or
of an old format becomes a clear note, and the other notebook is still graded.
Which cells are experiments or tests (not run when grading) comes from the
SOURCE notebooks, never from anything in the submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import spec
from autograder.assignment import experiment_cell_ids

COURSE_ROOT = Path(__file__).resolve().parents[1]

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


def skipped_ids(course_root: Path, notebook: str) -> frozenset[str]:
    """Cell ids not run when grading, read from the SOURCE notebook: experiments,
    and nbgrader's test cells (the checks replace them; in a release they are empty)."""
    source = course_root / "source" / spec.ASSIGNMENT / notebook
    if not source.exists():
        return frozenset()
    tests = {cell.get("id") for cell in nbformat.read(source, as_version=4).cells
             if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
             and not cell.get("metadata", {}).get("nbgrader", {}).get("solution")}
    return experiment_cell_ids(source) | tests


def load_notebook(name: str, path: Path | None, course_root: Path = COURSE_ROOT) -> LoadedNotebook:
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
    skip = skipped_ids(course_root, name)
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code" or cell.get("id") in skip:
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        loaded.cells.append({"index": index, "id": cell.get("id"), "source": source})
    if not loaded.cells:
        loaded.error = NO_CELLS.format(notebook=name)
    return loaded


def one_submission(path: Path) -> Submission:
    """A single student's submission: a notebook file, or their folder (which
    may hold the notebooks directly or in an ``<assignment>/`` folder)."""
    if path.is_file():
        return Submission(_student_of(path.parent), path, {path.name: path})
    if not _is_student_folder(path) and (path / spec.ASSIGNMENT).is_dir():
        path = path / spec.ASSIGNMENT
    return _student_folder(path)


def find_submissions(paths: list[Path]) -> list[Submission]:
    """Expand notebooks, student folders and ``submitted/`` trees into submissions.

    A notebook file is a submission of that notebook alone; a folder holding
    the assignment's notebooks (or an ``<assignment>/`` folder with them) is one
    student's; any other folder is a tree of students' folders.
    """
    found: list[Submission] = []
    for path in map(Path, paths):
        if path.is_file() or _is_student_folder(path) or (path / spec.ASSIGNMENT).is_dir():
            found.append(one_submission(path))
        else:
            found += [one_submission(child) for child in sorted(p for p in path.iterdir() if p.is_dir())]
    return found


def _is_student_folder(path: Path) -> bool:
    return any((path / name).exists() for name in spec.NOTEBOOKS)


def _student_folder(folder: Path) -> Submission:
    notebooks = {name: folder / name for name in spec.NOTEBOOKS if (folder / name).exists()}
    return Submission(_student_of(folder), folder, notebooks)


def _student_of(folder: Path) -> str:
    folder = folder.resolve()
    return folder.parent.name if folder.name == spec.ASSIGNMENT else folder.name
