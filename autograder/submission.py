"""Loading a submission of an assignment: find its notebooks, read them, pick the cells to run.

Bad input never stops grading: a notebook that cannot be read (missing, a
link out of the submission, a pipe, too large, not UTF-8, not JSON, nested
too deep, empty, of an old format) becomes a clear note, and the other
notebooks are still graded. Files are read by :mod:`autograder.nbfile`,
which checks them before any read and never holds their outputs in memory.
Which cells are experiments or tests (not run when grading) comes from the
SOURCE notebooks (:mod:`autograder.notebooks`), never from anything in the
submission.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import feedback, nbfile
from autograder.assignment import Assignment
from autograder.course import copy_order, notebook_of, uploaded_as
from autograder.notebooks import EXPERIMENT, EXPERIMENT_ID_PREFIX, TEST, classify_cells, source_notebook

NOT_FOUND = "{notebook} was not found in {folder}: its parts score 0. Submit it under exactly that name."
NOT_JSON = "{notebook} is not a valid notebook file ({detail}): its parts score 0. Re-download it from Jupyter (File → Download)."
EMPTY = "{notebook} is empty: its parts score 0."
NO_CELLS = "{notebook} has no code cells: its parts score 0."
OLD_FORMAT = "{notebook} is in the old nbformat {version} and was converted to nbformat 4 for grading."
LINK_OUTSIDE = ("{notebook} in {folder} is a symbolic link to a file outside the submission folder, so it was not "
                "read: its parts score 0. Submit the notebook file itself, not a link to it.")
NOT_REGULAR = ("{notebook} in {folder} is a {what}, not a notebook file, so it was not read: its parts score 0. "
               "Submit the notebook file itself.")
TOO_LARGE = ("{notebook} is too large to grade ({what}): its parts score 0. Clear its outputs (Edit → Clear "
             "Outputs of All Cells), remove any large data pasted into its cells, save it and submit it again.")
NOT_UTF8 = ("{notebook} is not valid UTF-8 text (it has bytes that are not UTF-8 {where}): its parts score 0. Open "
            "it in Jupyter, retype the characters there that show as garbage, save it and submit it again.")
TOO_DEEP = ("{notebook} nests its JSON more than {depth} levels deep outside the cell outputs, too deep to read "
            "safely: its parts score 0. Re-download it from Jupyter (File → Download), or copy your code into a "
            "fresh copy of the release notebook.")
NO_MEMORY = ("{notebook} needed more memory to read than the grader had: its parts score 0. Clear its outputs "
             "(Edit → Clear Outputs of All Cells), save it and submit it again; if it is refused again, tell "
             "your instructor.")
OS_ERROR = ("{notebook} in {folder} could not be opened ({reason}): its parts score 0. Check that the file can be "
            "read and submit it again.")
#: not the student's doing: the submission's status is ``error`` (see ``LoadedNotebook.internal``)
RENAMED = "{file} was graded as {notebook}."
INTERNAL = ("{notebook} could not be loaded because the grader failed ({error}): its parts were not graded. This "
            "is not your mistake: tell your instructor.")

_NOTES = {nbfile.MISSING: NOT_FOUND, nbfile.LINK_OUTSIDE: LINK_OUTSIDE, nbfile.NOT_REGULAR: NOT_REGULAR,
          nbfile.TOO_LARGE: TOO_LARGE, nbfile.OS_ERROR: OS_ERROR, nbfile.EMPTY: EMPTY, nbfile.NOT_UTF8: NOT_UTF8,
          nbfile.NOT_JSON: NOT_JSON, nbfile.TOO_DEEP: TOO_DEEP, nbfile.NO_MEMORY: NO_MEMORY}


@dataclass
class LoadedNotebook:
    """A submitted notebook, ready to run: its code cells minus experiments and tests."""

    name: str
    path: Path | None
    cells: list[dict] = field(default_factory=list)  #: {"index", "id", "source"} in notebook order
    error: str | None = None  #: why it cannot be graded at all
    notes: list[str] = field(default_factory=list)
    internal: bool = False  #: the error is the grader's failure, not the submission's


@dataclass
class Submission:
    """One student's submission: a folder (or a single notebook) to grade."""

    student: str
    path: Path
    notebooks: dict[str, Path]  #: notebook name -> file, for those found

    @property
    def folder(self) -> Path:
        """The folder its notebooks must lie in: the submission's, or a lone notebook's own."""
        return self.path if self.path.is_dir() else self.path.parent


def _source_of(assignment: Assignment, notebook: str):
    source = assignment.source_dir / notebook
    return source_notebook(source, assignment.release_dir / notebook) if source.exists() else None


def skipped_ids(assignment: Assignment, notebook: str) -> frozenset[str]:
    """Cell ids not run when grading, read from the SOURCE notebook: experiments,
    and nbgrader's test cells (the checks replace them; in a release they are empty)."""
    source = _source_of(assignment, notebook)
    return frozenset(c.id for c in source.cells if c.role in (EXPERIMENT, TEST)) if source else frozenset()


_NBGRADER_FLAGS = ("grade_id", "grade", "solution", "locked", "points")


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def metadata_tampering(notebook, assignment: Assignment, name: str) -> list[tuple[int, str]]:
    """(cell index, what) for each change of a submitted notebook's grading
    metadata, judged against the SOURCE notebook (and the release): nbgrader
    flags or points changed, a grade_id the assignment does not have, a graded
    cell given an id that grading skips (an experiment's or a test's), a
    locked test cell edited. None of these changes a grade here (which cells
    run is decided from the source, and a cell that grading needs always runs:
    :mod:`autograder.notebooks`), but each is an attempt to."""
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
        if grade_id is not None and not isinstance(grade_id, str):
            grade_id = repr(grade_id)  # a list would not even be hashable: it names no cell, which is the point
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


def load_notebook(name: str, path: Path | None, assignment: Assignment, folder: Path | None = None) -> LoadedNotebook:
    """Read a submitted notebook; on any problem, say what is wrong and what to do.

    ``folder`` is the submission's folder, which the file must lie in (by
    default its own folder). A failure of the grader itself while loading is
    an error too, marked ``internal``: never a silent zero.
    """
    loaded = LoadedNotebook(name, path)
    if path is None:
        loaded.error = NOT_FOUND.format(notebook=name, folder="the submission")
        return loaded
    if path.name != name and uploaded_as(path.name, [name]) == name:  # "value_approximation (1).ipynb"
        loaded.notes.append(RENAMED.format(file=path.name, notebook=name))
    try:
        read = nbfile.read_notebook(path, folder or path.parent)
        _choose_cells(loaded, read, assignment)
    except nbfile.Unreadable as problem:
        loaded.error = _NOTES[problem.kind].format(notebook=name, folder=path.parent, **problem.details)
    except Exception as exc:  # noqa: BLE001 - one notebook's failure never stops the others' grading
        loaded.cells, loaded.internal = [], True
        loaded.error = INTERNAL.format(notebook=name, error=f"{type(exc).__name__}: {exc}"[:300])
    return loaded


def _choose_cells(loaded: LoadedNotebook, read: nbfile.NotebookFile, assignment: Assignment) -> None:
    notebook, name = read.notebook, loaded.name
    if read.version < 4:
        loaded.notes.append(OLD_FORMAT.format(notebook=name, version=read.version))
    for index, what in metadata_tampering(notebook, assignment, name):
        loaded.notes.append(feedback.TAMPERING_NOTE.format(where=f"{name}, cell {index}", what=what))
    source = _source_of(assignment, name)
    from autograder.checks.registry import graded_functions  # imports the plug-in's checks: only when grading

    choices = classify_cells(notebook.cells, source, graded_functions(assignment, name)) if source else []
    skipped = {choice.index for choice in choices if choice.skipped}
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code" or index in skipped:
            continue
        source_text = cell.get("source", "")
        source_text = "".join(source_text) if isinstance(source_text, list) else str(source_text)
        loaded.cells.append({"index": index, "id": cell.get("id"), "source": source_text})
    if not loaded.cells:
        loaded.error = NO_CELLS.format(notebook=name)


def one_submission(path: Path, assignment: Assignment) -> Submission:
    """A single student's submission: a notebook file, or their folder (which
    may hold the notebooks directly or in an ``<assignment>/`` folder). A
    notebook file named otherwise than the assignment's notebooks is the one
    its nbgrader cell ids say it is. Anything but a folder is taken for a
    notebook file (a pipe, say), which its loading then refuses with a note."""
    if not path.is_dir():
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
        if not path.is_dir() or _is_student_folder(path, assignment) or (path / assignment.name).is_dir():
            found.append(one_submission(path, assignment))
            continue
        for child in sorted(p for p in path.iterdir() if p.is_dir()):
            theirs = not _is_student_folder(child, assignment) and not (child / assignment.name).is_dir() \
                and any((child / other).is_dir() for other in others)
            if not theirs:
                found.append(one_submission(child, assignment))
    return found


def _is_student_folder(path: Path, assignment: Assignment) -> bool:
    return path.name == assignment.name or bool(notebook_files(path, assignment))


def notebook_files(folder: Path, assignment: Assignment) -> dict[str, Path]:
    """The assignment's notebooks in ``folder``: each under its own name, else as a browser or file
    manager renamed it (``value_approximation (1).ipynb``; of several copies, the latest)."""
    found = {name: folder / name for name in assignment.notebooks if (folder / name).exists()}
    try:
        entries = sorted((p.name for p in folder.iterdir()), key=copy_order)
    except OSError:
        return found
    copies: dict[str, Path] = {}
    for entry in entries:
        name = uploaded_as(entry, assignment.notebooks)
        if name is not None and name not in found:
            copies[name] = folder / entry  # sorted oldest first: the last one stays
    return found | copies


def _student_folder(folder: Path, assignment: Assignment) -> Submission:
    return Submission(_student_of(folder, assignment), folder, notebook_files(folder, assignment))


def _student_of(folder: Path, assignment: Assignment) -> str:
    folder = folder.resolve()
    return folder.parent.name if folder.name == assignment.name else folder.name
