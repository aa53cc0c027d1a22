"""The release notebooks in a Jupyter kernel, as a student runs them: a fixture's answers filled in,
the release folder alone (a copy, as uploaded to Colab), and neither the grader, the reference nor
pytest importable. Each visible test cell's self-check names the fixture's mistake where grading does."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from scripts.build_submissions import build, read_edits
from tests.course import FIXTURES
from tests.notebooks.nbgrader_course import REPO

CELL_TIMEOUT_S = 300
#: an IPython start-up file: what a student's kernel lacks cannot be imported, whatever is installed here
BLOCKER = '''\
import sys


class _NotInAStudentsKernel:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("autograder", "solutions", "assignments", "pytest", "_pytest"):
            raise ModuleNotFoundError(f"No module named {name!r} (a student's kernel has no grader)")
        return None


sys.meta_path.insert(0, _NotInAStudentsKernel())
'''
IMPORTS = '''\
for name in ("autograder", "solutions", "assignments", "pytest", "selfcheck"):
    try:
        __import__(name)
        print(name, "is importable")
    except ImportError:
        print(name, "is not importable")
'''


def students_notebook(assignment: str, notebook: str, fixture: str, work: Path) -> nbformat.NotebookNode:
    """The release notebook with the fixture's answers (the instructor's, with its edits) in its solution
    cells; experiments left out (they only take time), a last cell that tries the forbidden imports."""
    built = build(read_edits(FIXTURES / assignment / f"{fixture}.py"), work, notebooks=(notebook,))
    answers = {cell.id: cell.source for cell in nbformat.read(built / notebook, as_version=4).cells}
    release = nbformat.read(REPO / "release" / assignment / notebook, as_version=4)
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.id]
    release.cells = [c for c in release.cells if not c.id.startswith("experiment-")]
    release.cells.append(nbformat.v4.new_code_cell(IMPORTS))
    return release


def run_in_a_students_kernel(notebook: nbformat.NotebookNode, folder: Path, home: Path) -> nbformat.NotebookNode:
    startup = home / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-no-grader.py").write_text(BLOCKER)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(IPYTHONDIR=str(home), OMP_NUM_THREADS="1")
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, startup_timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute(env=env)
    return notebook


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


RUNS = [("pytorch_vfa", "value_approximation", "td-error-as-loss", "td0-update-tests", "td0.update"),
        ("pytorch_vfa", "pytorch_basics", "copy-not-view", "flat-view-tests", "tensors.flat_view"),
        ("policy_gradient", "policy_gradient", "mean-not-sum", "reinforce-loss-tests", "reinforce.loss")]


@pytest.mark.parametrize("assignment, notebook, fixture, cell_id, check", RUNS, ids=[r[2] for r in RUNS])
def test_the_visible_test_cell_names_the_mistake_in_a_students_kernel(tmp_path, assignment, notebook, fixture,
                                                                      cell_id, check):
    folder = tmp_path / assignment  # the release folder alone
    shutil.copytree(REPO / "release" / assignment, folder, ignore=shutil.ignore_patterns("__pycache__"))
    started = time.perf_counter()
    ran = run_in_a_students_kernel(students_notebook(assignment, f"{notebook}.ipynb", fixture, tmp_path / "built"),
                                   folder, tmp_path / "ipython")
    print(f"\n{assignment}/{notebook}.ipynb with {fixture}: {time.perf_counter() - started:.1f} s")
    assert text_of(ran.cells[-1]).split("\n")[:5] == [
        "autograder is not importable", "solutions is not importable", "assignments is not importable",
        "pytest is not importable", "selfcheck is importable"]
    cells = {cell.id: cell for cell in ran.cells}
    printed = text_of(cells[cell_id])
    assert printed.startswith(f"{check} (self-check on "), printed
    assert f"): failed\n" in printed.split("\n")[0] + "\n" and f"Likely mistake [{fixture}]:" in printed, printed
    for cell in ran.cells:  # every other visible test cell: the instructor's answers pass their self-checks
        if cell.id.endswith("-tests") and not cell.id.endswith("hidden-tests") and cell.id != cell_id:
            first = text_of(cell).split("\n")[0]
            assert first.endswith(": passed") or "cannot tell offline" in text_of(cell), (cell.id, text_of(cell))
