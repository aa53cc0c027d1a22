"""The course directory, its assignments, and which assignment a submission is.

**The course directory** is, in this order:

1. ``--course-root DIR``;
2. else the ``CourseDirectory.root`` that ``nbgrader_config.py`` in the working
   directory sets (relative to that file's folder);
3. else the working directory.

It is never where the engine is installed. As in nbgrader, it holds
``source/<name>/`` and ``release/<name>/``; for the grader it also holds the
plug-ins, ``assignments/<name>/`` (a package each, declaring ``ASSIGNMENT``:
:mod:`autograder.assignment`), and the reference packages they name
(``solutions/<name>/``). An assignment exists when its plug-in declares it.
A grading process serves one course: its plug-ins are imported as the
package ``assignments``, with the course directory on ``sys.path``.

**Which assignment** a batch is, without ``--assignment``: the one its
submissions belong to, by their path (``submitted/<student>/<name>/``, a
student's ``<name>/`` folder, a notebook named as one of the assignment's) or,
for a notebook named otherwise, by its cells' nbgrader ``grade_id`` s, which
the assignment's source notebooks define. Where that names no single
assignment, the course's ``CourseDirectory.assignment_id`` (in its
``nbgrader_config.py``) applies if it is one of the candidates; a course with a
single assignment needs no more; otherwise it is a usage error that names the
choices.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autograder.assignment import Assignment
from autograder.nbfile import Unreadable, read_json
from autograder.options import ASSIGNMENT, COURSE_ROOT, UsageError

PLUGINS = "assignments"  #: the folder (and package) of a course's plug-ins
CONFIG_FILE = "nbgrader_config.py"
NOTEBOOK_SUFFIX = ".ipynb"


@dataclass(frozen=True)
class Course:
    """A course directory, and the assignment it grades when nothing else tells."""

    root: Path
    default_assignment: str | None = None  #: ``CourseDirectory.assignment_id`` of its nbgrader config

    def names(self) -> list[str]:
        """The assignments whose plug-ins the course has."""
        folder = self.root / PLUGINS
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file() and p.name.isidentifier())

    def assignment(self, name: str) -> Assignment:
        """The assignment ``name``, loaded from its plug-in.

        Raises:
            UsageError: the course has no such assignment (the message lists those it has).
        """
        names = self.names()
        if name not in names:
            have = ", ".join(repr(n) for n in names) or f"none (no {PLUGINS}/<name>/ plug-in under {self.root})"
            raise UsageError(f"unknown assignment {name!r}: the course at {self.root} has {have}. "
                             f"Pass one of them with {ASSIGNMENT.flag}, or the right course with {COURSE_ROOT.flag}.")
        return _load(self.root.resolve(), name)

    def assignments(self) -> list[Assignment]:
        return [self.assignment(name) for name in self.names()]

    def resolve(self, name: str | None, paths: list[Path]) -> Assignment:
        """The assignment to grade ``paths`` as (see the module docstring)."""
        if name:
            return self.assignment(name)
        names = self.names()
        if not names:
            raise UsageError(f"the course at {self.root} has no assignment (no {PLUGINS}/<name>/ plug-in): "
                             f"pass the course directory with {COURSE_ROOT.flag}")
        found = sorted(set().union(*(assignments_of(path, self) for path in paths))) if paths else []
        if len(found) == 1:
            return self.assignment(found[0])
        candidates = found or names
        if self.default_assignment in candidates:
            return self.assignment(self.default_assignment)
        if len(candidates) == 1:
            return self.assignment(candidates[0])
        which = "the submissions belong to " + " and ".join(found) if found else \
            "nothing in the submissions tells which assignment they are"
        raise UsageError(f"which assignment? {which}. Pass {ASSIGNMENT.flag} NAME (one of "
                         f"{', '.join(names)}), or set c.CourseDirectory.assignment_id in the course's {CONFIG_FILE}.")



def find_course(course_root: Path | None = None, cwd: Path | None = None) -> Course:
    """The course directory (see the module docstring) and its default assignment."""
    cwd = Path.cwd() if cwd is None else cwd
    if course_root is not None:
        root = Path(course_root)
        if not root.is_dir():
            raise UsageError(f"{COURSE_ROOT.flag} {root}: no such folder")
    else:
        root = nbgrader_setting(cwd, "root") or cwd
        root = (cwd / root) if not Path(root).is_absolute() else Path(root)
    root = root.resolve()
    return Course(root, nbgrader_setting(root, "assignment_id") or nbgrader_setting(cwd, "assignment_id"))


def nbgrader_setting(folder: Path, name: str) -> str | None:
    """``c.CourseDirectory.<name>`` as ``folder/nbgrader_config.py`` sets it, if it does with a literal string.

    The file is read, not run: running it imports nbgrader (seconds). A
    setting computed at run time is not seen here; pass ``--course-root`` or
    ``--assignment`` instead.
    """
    path = folder / CONFIG_FILE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    value = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if ast.unparse(target) == f"c.CourseDirectory.{name}":
                    value = node.value.value
    return value


def assignments_of(path: Path, course: Course) -> set[str]:
    """The course's assignments that a submission PATH belongs to, by its path
    and its notebooks (see the module docstring); empty when nothing tells."""
    names = course.names()
    path = Path(path)
    by_folder = _named_folders(path, names)
    if by_folder:
        return by_folder
    if path.is_file():
        by_name = {name for name in names if uploaded_as(path.name, course.assignment(name).notebooks)}
        if by_name:
            return by_name
        ids = grade_ids(path)  # the assignments whose source notebooks share the most cell ids with it
        shared = {name: max((len(ids & known) for known in _source_grade_ids(course.assignment(name).source_dir)
                             .values()), default=0) for name in names}
        best = max(shared.values(), default=0)
        return {name for name, count in shared.items() if count == best > 0}
    files = [p.name for p in _entries(path) if p.is_file()]
    return {name for name in names if any(uploaded_as(f, course.assignment(name).notebooks) for f in files)}


def _named_folders(path: Path, names: list[str]) -> set[str]:
    """Assignments named by folders: the path's own (or a notebook's folder), a
    student folder's ``<name>/``, a ``submitted/`` tree's ``<student>/<name>/``."""
    if path.is_file():
        return {path.parent.name} & set(names)
    if path.name in names:
        return {path.name}
    found = set()
    for child in _folders(path):
        found |= {child.name} & set(names) or {grandchild.name for grandchild in _folders(child)} & set(names)
    return found


#: what a browser or a file manager appends to a second download or a copy: "name (1)", "name(2)", "name 2",
#: "name - Copy", "name - Copy (2)", "name copy 3"
_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|\s+\d+|\s+-\s+copy(?:\s*\(\d+\))?|\s+copy(?:\s+\d+)?)$", re.IGNORECASE)


def uploaded_as(file_name: str, notebooks: Iterable[str]) -> str | None:
    """Which of ``notebooks`` the file ``file_name`` is by its name: the name itself, or
    that name as a browser renames a second download (``value_approximation (1).ipynb``)
    or a file manager a copy, in any letter case."""
    notebooks = list(notebooks)
    if file_name in notebooks:
        return file_name
    path = Path(file_name)
    if path.suffix.lower() != NOTEBOOK_SUFFIX:
        return None
    stem = _COPY_SUFFIX.sub("", path.stem).casefold()
    return next((name for name in notebooks if Path(name).stem.casefold() == stem), None)


def copy_order(file_name: str) -> tuple:
    """Sorts copies of one notebook oldest first: ``x.ipynb``, ``x (1).ipynb``, ``x (2)``, …, ``x (10)``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", file_name))


def notebook_of(path: Path, assignment: Assignment) -> str | None:
    """Which of the assignment's notebooks the notebook file ``path`` is: by
    its file name (:func:`uploaded_as`), else by the nbgrader ``grade_id`` s of
    its cells (those its source notebooks define)."""
    by_name = uploaded_as(path.name, assignment.notebooks)
    if by_name:
        return by_name
    ids = grade_ids(path)
    overlaps = {notebook: len(ids & known) for notebook, known in _source_grade_ids(assignment.source_dir).items()
                if notebook in assignment.notebooks}
    best = max(overlaps.items(), key=lambda item: item[1], default=(None, 0))
    return best[0] if best[1] > 0 else None


def grade_ids(path: Path) -> frozenset[str]:
    """The nbgrader ``grade_id`` s of a notebook's cells; none if it cannot be read
    (read as grading reads it: :func:`autograder.nbfile.read_json`)."""
    try:
        cells = read_json(path, path.parent).get("cells", [])
        return frozenset(str(cell["metadata"]["nbgrader"]["grade_id"]) for cell in cells
                         if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict)
                         and isinstance(cell["metadata"].get("nbgrader"), dict)
                         and cell["metadata"]["nbgrader"].get("grade_id"))
    except (Unreadable, AttributeError, TypeError):
        return frozenset()


def _entries(path: Path) -> list[Path]:
    """What a folder holds, sorted; nothing if it is no folder or cannot be listed."""
    try:
        return sorted(path.iterdir()) if path.is_dir() else []
    except OSError:
        return []


def _folders(path: Path) -> list[Path]:
    return [p for p in _entries(path) if p.is_dir()]


@functools.cache
def _source_grade_ids(folder: Path) -> dict[str, frozenset[str]]:
    """notebook name -> the ``grade_id`` s of a source notebook's cells."""
    return {path.name: grade_ids(path) for path in sorted(folder.glob(f"*{NOTEBOOK_SUFFIX}"))}


@functools.cache
def _load(root: Path, name: str) -> Assignment:
    _use_course(root)
    package = f"{PLUGINS}.{name}"
    module = importlib.import_module(package)
    declared = getattr(module, "ASSIGNMENT", None)
    folder = root / PLUGINS / name
    if not isinstance(declared, Assignment):
        raise UsageError(f"{folder / '__init__.py'} declares no ASSIGNMENT = autograder.assignment.Assignment(...)")
    if declared.name != name:
        raise UsageError(f"{folder / '__init__.py'} declares the assignment {declared.name!r}; "
                         f"its folder must have that name")
    groups = [part.group for part in declared.parts]
    if not groups or len(set(groups)) != len(groups):
        raise UsageError(f"{folder / '__init__.py'}: an assignment declares one or more parts with distinct groups")
    return dataclasses.replace(declared, folder=folder, package=package)


def _use_course(root: Path) -> None:
    """Make the course's plug-ins and reference importable (``assignments``, ``solutions``)."""
    loaded = sys.modules.get(PLUGINS)
    where = Path(getattr(loaded, "__file__", "") or "").resolve().parent.parent if loaded else None
    if loaded is not None and where != root:
        raise UsageError(f"this process already grades the course at {where}; the course at {root} needs "
                         "a process of its own")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
