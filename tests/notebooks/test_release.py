"""The committed student release: up to date, free of answers, stubs that keep the signatures."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.nbgrader_course import ASSIGNMENT_NOTEBOOKS, ASSIGNMENTS, NBGRADER, REPO, \
    release_notebook, run_nbgrader, source_notebook

EACH = pytest.mark.parametrize("assignment, name", ASSIGNMENT_NOTEBOOKS,
                               ids=[f"{a}/{n}" for a, n in ASSIGNMENT_NOTEBOOKS])

SOLUTION_REGION = re.compile(
    r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION$", re.M | re.S)
HIDDEN_REGION = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS\n.*?^[ \t]*### END HIDDEN TESTS\n?",
                           re.M | re.S)
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"


def cells_by_id(notebook) -> dict:
    return {cell.id: cell for cell in notebook.cells}


def role(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    return "solution" if meta.get("solution") else "grade" if meta.get("grade") else "other"


def files_under(folder: Path) -> list[str]:
    """Every file of a folder, by its path in it (Python's byte-code caches aside)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_what_generate_assignment_builds(nbgrader_course: Path, assignment: str):
    """The notebooks and the self-check that nbgrader copies from source/<assignment>/ (whose own freshness
    tests/assignments/test_selfcheck_cases.py checks)."""
    built = nbgrader_course / "release" / assignment
    committed = REPO / "release" / assignment
    names = files_under(built)
    assert "selfcheck/cases.json" in names
    assert names == files_under(committed), "release/ holds other files"
    for name in names:
        assert (built / name).read_bytes() == (committed / name).read_bytes(), (
            f"release/{assignment}/{name} is out of date with source/: run `make release` "
            f"(autograder selfcheck and nbgrader generate_assignment {assignment} --force) and commit release/")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_has_no_grader_to_shadow_and_no_reference(assignment: str):
    """Under `nbgrader autograde` a notebook runs in autograded/<student>/<assignment>/: a folder or module
    `autograder` there would shadow the engine that the hidden test cells import. The self-check's copies
    import each other only."""
    folder = REPO / "release" / assignment
    for name in files_under(folder):
        path = folder / name
        assert not {"autograder", "autograder.py", "solutions", "assignments"} & set(Path(name).parts), name
        if path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text())):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                assert not [m for m in modules if m.split(".")[0] in ("autograder", "solutions", "assignments")], \
                    (name, modules)


@EACH
def test_release_keeps_every_cell_and_its_id(assignment, name):
    assert [c.id for c in release_notebook(name, assignment).cells] == [c.id for c in source_notebook(name, assignment).cells]


@EACH
def test_release_holds_no_solution_and_no_hidden_test(assignment, name):
    text = (REPO / "release" / assignment / f"{name}.ipynb").read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                   "import solutions"):
        assert marker not in text
    release = cells_by_id(release_notebook(name, assignment))
    for cell in source_notebook(name, assignment).cells:
        answers = [m.group(0) for m in SOLUTION_REGION.finditer(cell.source)]
        answers += [m.group(0) for m in HIDDEN_REGION.finditer(cell.source)]
        released = {line.strip() for line in release[cell.id].source.splitlines()}
        for answer in answers:
            lines = [line.strip() for line in answer.splitlines()[1:-1]]
            leaked = [line for line in lines if line and not line.startswith("#") and line in released]
            assert not leaked, f"{name}.ipynb, cell {cell.id}: the release still has {leaked}"


@EACH
def test_release_stubs_are_the_source_with_each_solution_replaced_by_a_stub(assignment, name):
    release = cells_by_id(release_notebook(name, assignment))
    for cell in source_notebook(name, assignment).cells:
        if role(cell) == "solution":
            expected = SOLUTION_REGION.sub(lambda m: STUB.format(indent=m["indent"]), cell.source)
            assert release[cell.id].source == expected
            outside = SOLUTION_REGION.sub("", cell.source)  # the signatures a student must keep
            headers = [line for line in outside.splitlines() if re.match(r"\s*(def|class) \w+\(", line)]
            assert headers and all(header in release[cell.id].source for header in headers)
        elif role(cell) == "grade":
            assert release[cell.id].source == HIDDEN_REGION.sub("", cell.source).rstrip("\n")
        else:  # markdown, provided code, visible tests, experiments: as written
            assert release[cell.id].source == cell.source


@EACH
def test_every_release_stub_raises_not_implemented_error(assignment, name):
    """Run the release's provided and solution cells, then call every function and
    class they define (with placeholder arguments): each must raise NotImplementedError."""
    namespace: dict = {}
    stubs = []
    for cell in release_notebook(name, assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or cell.id.endswith("-tests"):
            continue
        if not (meta.get("locked") or meta.get("solution")):
            continue  # scratch and experiment cells
        exec(compile(cell.source, cell.id, "exec"), namespace)
        if meta.get("solution"):
            stubs += [node for node in ast.parse(cell.source).body
                      if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert stubs
    for node in stubs:
        target = namespace[node.name]
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
                    None) if isinstance(node, ast.ClassDef) else node
        n_args = len(init.args.args) - (1 if isinstance(node, ast.ClassDef) else 0)
        with pytest.raises(NotImplementedError):
            target(*[None] * n_args)


@EACH
def test_release_is_valid_nbformat_4_5(assignment, name):
    notebook = release_notebook(name, assignment)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)


def test_nbgrader_validate_passes_the_instructors_notebook_and_fails_the_stubs(nbgrader_course: Path):
    """`nbgrader validate` runs a notebook where it lies (the self-check beside it) and reads its test cells."""
    source = run_nbgrader(nbgrader_course, "validate", "source/pytorch_vfa/pytorch_basics.ipynb", timeout=600)
    assert "Success! Your notebook passes all the tests." in source.stdout, source.stdout[-2000:]
    release = subprocess.run([str(NBGRADER), "validate", "release/pytorch_vfa/pytorch_basics.ipynb"],
                             cwd=nbgrader_course, capture_output=True, text=True, timeout=600)
    assert "VALIDATION FAILED ON 15 CELL(S)!" in release.stdout and "NotImplementedError" in release.stdout, \
        release.stdout[-2000:] + release.stderr[-2000:]
