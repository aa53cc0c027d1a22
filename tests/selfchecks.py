"""What the self-check's tests share: the committed release's self-check, loaded as a student's
kernel loads it, and a fixture's answers as a kernel's namespace."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import linecache
import sys
from pathlib import Path
from types import ModuleType

import nbformat

from scripts.build_submissions import Edits, build
from tests.course import COURSE

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def release_selfcheck(assignment: str) -> ModuleType:
    """``release/<assignment>/selfcheck`` imported as the package ``selfcheck_<assignment>`` (both
    assignments' packages are called ``selfcheck`` in their folders; one process needs both)."""
    folder = REPO / "release" / assignment / "selfcheck"
    name = f"selfcheck_{assignment}"
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def notebook_namespace(notebook: nbformat.NotebookNode) -> dict:
    """What a kernel holds after running a notebook's code cells, its test cells and experiments aside
    (their output dropped). Each cell's source is kept where tracebacks read it, as IPython keeps it."""
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and not meta.get("grade") and not cell.id.startswith("experiment-"):
                filename = f"<cell {cell.id}>"
                linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
                exec(compile(cell.source, filename, "exec"), namespace)
    return namespace


def fixture_namespaces(edits: Edits, folder: Path) -> dict[str, dict]:
    """A fixture's answers (the instructor's, with its edits), one namespace per notebook of its assignment."""
    notebooks = COURSE.assignment(edits.assignment).notebooks
    built = build(edits, folder, notebooks=notebooks)
    return {name: notebook_namespace(nbformat.read(built / name, as_version=4)) for name in notebooks}
