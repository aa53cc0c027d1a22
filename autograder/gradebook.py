"""``autograder grade --gradebook``: the results in nbgrader's gradebook.

:func:`record_results` writes what ``autograder grade`` found where nbgrader's
own tools look for it, so that ``nbgrader export`` and ``nbgrader
generate_feedback`` work as if ``nbgrader autograde`` had graded:

* the gradebook (an sqlite file, created if missing) holds the assignment, its
  notebooks and grade cells. ``nbgrader generate_assignment`` normally records
  them; when the assignment (or one of its notebooks) is missing, it is
  recorded here from the source notebooks, by the same nbgrader preprocessors
  that ``generate_assignment`` runs (locked cells, checksums, ``SaveCells``);
* every student gets a submission (``Gradebook.add_submission``, or the one
  already there), and every hidden test grade cell's ``auto_score`` is the
  score of the check that the cell runs: the ``run_checks("<check>", …)`` call
  in the cell's source, as the gradebook recorded it. Visible tests (0-point
  grade cells) score 0 of 0. A manual score that a grader gave is kept;
* ``autograded/<student>/<assignment>/<notebook>.ipynb`` next to the gradebook
  (``nbgrader generate_feedback`` reads those): the submitted notebook with
  the locked cells restored from the gradebook (the hidden tests included),
  other outputs cleared, and each hidden test cell given the outputs it would
  have had under ``nbgrader autograde``: the check's feedback printed, then
  the plots of what the check measured (as on the students' pages,
  :mod:`autograder.pages`: image outputs, which ``generate_feedback``
  embeds), then the score as the cell's result, or the one-line ``NoPoints``
  error for 0 (see :mod:`autograder.in_kernel`). nbgrader's
  ``determine_grade`` reads the same score from these cells as the gradebook
  holds (it reads errors and results, not images).

The student's ``timestamp.txt`` (nbgrader's submission time) is copied and
recorded, as ``nbgrader autograde`` does.
"""

from __future__ import annotations

import base64
import re
import shutil
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell, new_output

from autograder.assignment import Assignment
from autograder.nbfile import read_notebook
from autograder.results import CheckResult, SubmissionResult
from autograder.submission import one_submission

if TYPE_CHECKING:  # nbgrader is imported when needed: `autograder grade` without --gradebook never loads it
    from nbgrader.api import Gradebook, SourceCell

#: ``run_checks("<group>.<check>", …)`` in a hidden test cell: the check it runs
RUN_CHECKS = re.compile(r"""^\s*run_checks\(\s*["']([\w.]+)["']""", re.M)
DEFAULT_COURSE_ID = "default_course"  #: nbgrader's own default


class GradebookError(RuntimeError):
    """The gradebook cannot take these results; the message says what to do."""


@dataclass(frozen=True)
class GradeCell:
    """A grade cell of the gradebook, and the check whose score it gets."""

    notebook: str  #: notebook name without ``.ipynb``, as nbgrader names it
    name: str  #: the cell's grade id
    max_score: float
    source: str  #: the cell's source as the gradebook holds it (hidden tests included)
    check: str | None  #: the check it runs; None for a visible test worth 0 points


def record_results(results: Iterable[SubmissionResult], gradebook: Path, assignment: Assignment) -> list[Path]:
    """Record graded submissions in ``gradebook`` and write their autograded notebooks.

    Args:
        results: what ``autograder grade`` returned, one per student.
        gradebook: the nbgrader gradebook file (``gradebook.db`` of a course);
            created if missing. The autograded notebooks go to the
            ``autograded/`` folder beside it.
        assignment: the assignment graded; its source notebooks describe it
            where the gradebook lacks it.

    Returns:
        The autograded notebooks written.

    Raises:
        GradebookError: the gradebook's assignment has hidden test cells that
            run no known check (it was generated from another source), or the
            source notebooks it needs are missing.
    """
    from nbgrader.api import Gradebook

    gradebook = Path(gradebook).resolve()
    if not gradebook.parent.is_dir():
        raise GradebookError(f"--gradebook {gradebook}: the folder {gradebook.parent} does not exist")
    db_url = f"sqlite:///{gradebook}"
    course_id = ensure_assignment(db_url, assignment, course_id=_course_id(gradebook.parent))
    written: list[Path] = []
    name = assignment.name
    with Gradebook(db_url, course_id=course_id) as gb:
        cells = grade_cells(gb, assignment)
        for result in results:
            folder = gradebook.parent / "autograded" / result.student / name
            _record_scores(gb, result, cells, name, _submitted_timestamp(result))
            written += _write_autograded(result, cells, gb, folder, assignment)
    return written


def ensure_assignment(db_url: str, plugin: Assignment, *, course_id: str = DEFAULT_COURSE_ID) -> str:
    """Make sure the gradebook knows the assignment and every notebook of it.

    A notebook that is missing is recorded from the assignment's source
    notebooks the way ``nbgrader generate_assignment`` records it. Returns the
    course id the assignment belongs to."""
    from nbgrader.api import Gradebook, MissingEntry

    assignment, source_dir = plugin.name, plugin.source_dir
    with Gradebook(db_url, course_id=course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
            course_id, known = record.course_id or course_id, {nb.name for nb in record.notebooks}
        except MissingEntry:
            record, known = None, set()
        missing = [source_dir / name for name in plugin.notebooks if Path(name).stem not in known]
        for path in missing:  # checked before anything is written
            if not path.is_file():
                raise GradebookError(
                    f"the gradebook has no notebook {path.stem!r} of {assignment!r}, and {path} (to record it "
                    f"from) does not exist: run `nbgrader generate_assignment {assignment}` in the course, or "
                    "pass the course with --course-root")
        if record is None:
            gb.add_assignment(assignment)
    for path in missing:
        _save_cells(db_url, path, assignment)
    return course_id


def _save_cells(db_url: str, path: Path, assignment: str) -> None:
    """``nbgrader generate_assignment``'s preprocessors up to ``SaveCells``, in memory: the
    gradebook gets the notebook, its grade, solution and locked cells with their checksums."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, ClearSolutions, ComputeChecksums,
                                        LockCells, SaveCells)

    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    resources = {"nbgrader": {"notebook": path.stem, "assignment": assignment, "db_url": db_url}}
    for step in (LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
                 SaveCells()):
        notebook, resources = step.preprocess(notebook, resources)


def grade_cells(gb: Gradebook, plugin: Assignment) -> list[GradeCell]:
    """Every grade cell of the assignment in the gradebook, with the check it runs."""
    from autograder.checks.registry import all_checks

    known = {meta.name for meta, _ in all_checks(plugin)}
    assignment = plugin.name
    cells = []
    for notebook in gb.find_assignment(assignment).notebooks:
        for cell in notebook.grade_cells:
            source = gb.find_source_cell(cell.name, notebook.name, assignment).source
            match = RUN_CHECKS.search(source)
            check = match.group(1) if match else None
            if cell.max_score and check not in known:
                raise GradebookError(
                    f"grade cell {cell.name!r} of {notebook.name} in the gradebook is worth {cell.max_score:g} "
                    f"points but runs no check of this grader ({check or 'no run_checks call'}): the gradebook "
                    "was made from other source notebooks. Run `nbgrader generate_assignment` again, or use a "
                    "fresh gradebook.")
            cells.append(GradeCell(notebook.name, cell.name, float(cell.max_score), source, check))
    return cells


def _record_scores(gb: Gradebook, result: SubmissionResult, cells: list[GradeCell], assignment: str,
                   timestamp: str | None) -> None:
    from nbgrader.api import MissingEntry

    gb.update_or_create_student(result.student)
    try:
        submission = gb.find_submission(assignment, result.student)
        if timestamp:
            submission.timestamp = _parse_timestamp(timestamp) or submission.timestamp
    except MissingEntry:
        parsed = _parse_timestamp(timestamp) if timestamp else None
        with warnings.catch_warnings():
            # nbgrader's add_submission builds its rows before adding them to the session, and
            # SQLAlchemy 2 warns on the autoflush in between (nbgrader autograde's too); harmless
            warnings.filterwarnings("ignore", message=r"Object of type <Submitted", module="nbgrader")
            gb.add_submission(assignment, result.student, **({"timestamp": parsed} if parsed else {}))
    checks = {check.name: check for check in result.checks}
    for cell in cells:
        grade = gb.find_grade(cell.name, cell.notebook, assignment, result.student)
        grade.auto_score = checks[cell.check].score if cell.check in checks else 0.0
        # as nbgrader's SaveAutoGrades: a grader's manual score stays and asks for review;
        # a submission that could not be graded at all asks for it too
        grade.needs_manual_grade = grade.manual_score is not None or result.status == "error"
    gb.db.commit()


def _parse_timestamp(text: str):
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text)
    except (ValueError, TypeError, OverflowError):
        return None


def _submitted_timestamp(result: SubmissionResult) -> str | None:
    path = _submission_folder(result) / "timestamp.txt"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _submission_folder(result: SubmissionResult) -> Path:
    path = Path(result.path)
    return path.parent if path.is_file() else path


# --- autograded notebooks ------------------------------------------------------------------

def _write_autograded(result: SubmissionResult, cells: list[GradeCell], gb: Gradebook, folder: Path,
                      plugin: Assignment) -> list[Path]:
    submitted = one_submission(Path(result.path), plugin).notebooks if Path(result.path).exists() else {}
    assignment = plugin.name
    checks = {check.name: check for check in result.checks}
    written = []
    for name in sorted({cell.notebook for cell in cells}):
        notebook = _read(submitted.get(f"{name}.ipynb"), _submission_folder(result)) \
            or _read(plugin.release_dir / f"{name}.ipynb", plugin.release_dir)
        if notebook is None:
            continue  # nothing to show: generate_feedback skips this notebook
        ours = [cell for cell in cells if cell.notebook == name]
        notebook = autograded_notebook(notebook, ours, _locked_cells(gb, name, assignment),
                                       _solution_cells(gb, name, assignment), checks, result)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.ipynb"
        nbformat.write(notebook, path)
        written.append(path)
    timestamp = _submission_folder(result) / "timestamp.txt"
    if written and timestamp.is_file():
        shutil.copy(timestamp, folder / "timestamp.txt")
    return written


def _read(path: Path | None, folder: Path) -> NotebookNode | None:
    """The notebook, read as grading reads it (checked first, outputs dropped: they are cleared anyway)."""
    if path is None:
        return None
    try:
        return read_notebook(path, folder).notebook
    except Exception:  # noqa: BLE001 - a broken submission is graded (and explained) elsewhere
        return None


def _locked_cells(gb: Gradebook, notebook: str, assignment: str) -> dict[str, SourceCell]:
    return {cell.name: cell for cell in gb.find_notebook(notebook, assignment).source_cells if cell.locked}


def _solution_cells(gb: Gradebook, notebook: str, assignment: str) -> set[str]:
    return {cell.name for cell in gb.find_notebook(notebook, assignment).solution_cells}


def autograded_notebook(notebook: NotebookNode, cells: list[GradeCell], locked: dict[str, SourceCell],
                        solutions: set[str], checks: dict[str, CheckResult],
                        result: SubmissionResult) -> NotebookNode:
    """The submitted ``notebook`` as ``nbgrader autograde`` would leave it, with the
    check results as the hidden test cells' outputs.

    Locked cells get the gradebook's source back; nbgrader metadata that the
    gradebook does not know is dropped (``generate_feedback`` would fail on
    it); grade cells a student deleted are added at the end; every other
    output is cleared (nothing here ran)."""
    grades = {cell.name: cell for cell in cells}
    known = set(grades) | set(locked) | solutions
    seen: set[str] = set()
    execution_count = 0
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in seen or grade_id not in known:
            cell.get("metadata", {}).pop("nbgrader", None)  # unknown, or a copy of a graded cell
            grade_id = None
        if grade_id is not None:
            seen.add(grade_id)
            cell.metadata["nbgrader"] = _metadata(grade_id, grades.get(grade_id), grade_id in locked,
                                                  grade_id in solutions)
            if grade_id in locked:
                cell.source = locked[grade_id].source
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if grade_id in grades and grades[grade_id].check is not None:
            execution_count += 1
            cell.outputs, cell.execution_count = _outputs(grades[grade_id], checks, result, execution_count)
    for grade in cells:  # deleted by the student: graded all the same, so shown
        if grade.name not in seen:
            cell = new_code_cell(grade.source, metadata={"nbgrader": _metadata(grade.name, grade, True, False)})
            if notebook.nbformat_minor < 5:
                del cell["id"]  # cell ids came with nbformat 4.5
            if grade.check is not None:
                execution_count += 1
                cell.outputs, cell.execution_count = _outputs(grade, checks, result, execution_count)
            notebook.cells.append(cell)
    return notebook


def _metadata(grade_id: str, grade: GradeCell | None, locked: bool, solution: bool) -> dict:
    meta = {"grade": grade is not None, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if grade is not None:
        meta["points"] = grade.max_score
    return meta


def _outputs(cell: GradeCell, checks: dict[str, CheckResult], result: SubmissionResult,
             execution_count: int) -> tuple[list, int]:
    """What the hidden test cell printed and returned under ``nbgrader autograde`` (see in_kernel)."""
    from autograder.in_kernel import NoPoints

    check = checks.get(cell.check)
    if check is not None:
        feedback, score = check.feedback, check.score
    else:
        why = result.error or "the grader reported no result for it"
        feedback, score = f"{cell.check} (0/{cell.max_score:g} points): not graded\n{why}", 0.0
    outputs = [new_output("stream", name="stdout", text=feedback.rstrip("\n") + "\n")]
    if check is not None:
        outputs += _plots(check)
    if score > 0:
        outputs.append(new_output("execute_result", data={"text/plain": repr(round(score, 2))},
                                  execution_count=execution_count))
    else:
        error = NoPoints.for_check(cell.check, cell.max_score)
        outputs.append(new_output("error", ename=type(error).__name__, evalue=str(error),
                                  traceback=error._render_traceback_()))
    return outputs, execution_count


def _plots(check: CheckResult) -> list[NotebookNode]:
    """The check's plots as image outputs (rendered here, after grading: matplotlib only now)."""
    from autograder.pages import check_plots

    return [new_output("display_data", data={"image/png": base64.b64encode(png).decode("ascii"),
                                             "text/plain": f"<plot: {title}>"})
            for title, png in check_plots(check.to_dict())]


def _course_id(course: Path) -> str:
    """The course id of the course's ``nbgrader_config.py``, or nbgrader's default."""
    config_file = course / "nbgrader_config.py"
    if not config_file.is_file():
        return DEFAULT_COURSE_ID
    try:
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader(config_file.name, path=str(course)).load_config()
        return str(config.CourseDirectory.get("course_id") or DEFAULT_COURSE_ID)
    except Exception:  # noqa: BLE001 - a config that does not load leaves nbgrader's default
        return DEFAULT_COURSE_ID
