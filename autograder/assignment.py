"""The plug-in API: what an assignment declares, and what the engine reads from it.

An assignment is a package ``assignments/<name>/`` of a course directory (see
:mod:`autograder.course`). Its ``__init__.py`` declares ``ASSIGNMENT =
Assignment(...)``; the rest are modules of its own, named in that declaration:

* ``probes`` -- the probes, the only module that enters the sandboxed worker.
  It imports nothing else of the plug-in (nor the reference): the standard
  library, numpy, torch, gymnasium and :mod:`autograder.worker.api` only.
* ``checks/`` -- the checks, a pytest suite: ``test_*.py`` files of functions
  marked ``@check(...)`` (:mod:`autograder.checks`). A check's points are
  declared there and nowhere else; a part's points are the sum of its checks'.
* ``mistakes`` -- ``MISTAKES``: for each graded name, its known mistakes as
  (diagnosis code, wrong version of the reference function).
* ``feedback`` -- ``DIAGNOSES``: what each diagnosis code that the engine does
  not know means, in words for a student; ``RETEACH``: for each of those codes,
  a line for the instructor on what to re-teach when it hits many students;
  ``RESULT_FIELDS``: what each field of the probes' results is, as feedback
  names it.
* the reference, a package of the course named by ``reference``
  (``solutions.<name>``), which the known mistakes are variants of.

It may also say when students see each check's result on Gradescope
(``visibility``, Gradescope's four values; :data:`VISIBILITIES`).

The engine imports none of these by a fixed name: it is handed an
:class:`Assignment` and reads them through it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping

from autograder.worker.staging import WorkerCode

#: when Gradescope shows a test's result to students (https://gradescope-autograders.readthedocs.io/en/latest/specs/,
#: "Controlling Test Case Visibility"); instructors always see every test
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")


@dataclass(frozen=True)
class Part:
    """One graded part: a score group of the reports, in one notebook."""

    number: int
    group: str  #: the score group in reports
    title: str  #: as feedback names it: "Part <number> (<title>)"
    notebook: str  #: file name of the notebook that holds it


@dataclass(frozen=True)
class Assignment:
    """An assignment as its plug-in declares it.

    ``folder`` and ``package`` are filled in when the course loads the plug-in;
    everything else is the plug-in's own declaration.
    """

    name: str  #: the assignment id, as nbgrader names it (``source/<name>/``)
    title: str
    parts: tuple[Part, ...]
    reference: str  #: the reference package, importable from the course directory (``solutions.<name>``)
    probes: str = "probes"  #: module of the plug-in with the probes (the only one sent to the worker)
    checks: str = "checks"  #: folder of the plug-in with the check files ``test_*.py``
    mistakes: str = "mistakes"  #: module of the plug-in with ``MISTAKES``
    feedback: str = "feedback"  #: module of the plug-in with ``DIAGNOSES``, ``RETEACH`` and ``RESULT_FIELDS``
    #: check name -> when students see it on Gradescope (declared as a dict; kept as sorted pairs, hashable)
    visibility: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    default_visibility: str = "visible"  #: of every check that ``visibility`` does not name
    folder: Path | None = field(default=None, compare=False)  #: the plug-in's folder
    package: str | None = field(default=None, compare=False)  #: the plug-in's package, ``assignments.<name>``

    def __post_init__(self) -> None:
        pairs = tuple(sorted(dict(self.visibility).items()))
        for where, value in [("default_visibility", self.default_visibility), *pairs]:
            if value not in VISIBILITIES:
                raise ValueError(f"assignment {self.name!r}: visibility {value!r} of {where} is not one of "
                                 f"Gradescope's: {', '.join(VISIBILITIES)}")
        object.__setattr__(self, "visibility", pairs)  # frozen, and hashed (functools caches take assignments)

    # -- what the declaration names -------------------------------------------------------

    @property
    def notebooks(self) -> tuple[str, ...]:
        """The notebook file names, in the parts' order."""
        return tuple(dict.fromkeys(part.notebook for part in self.parts))

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(part.group for part in self.parts)

    def visibility_of(self, check: str) -> str:
        """When students see ``check`` on Gradescope: as declared, else the default."""
        return dict(self.visibility).get(check, self.default_visibility)

    def part(self, group: str) -> Part:
        for part in self.parts:
            if part.group == group:
                return part
        raise KeyError(f"{self.name} has no part with the group {group!r} (its groups: {', '.join(self.groups)})")

    # -- the plug-in's modules, imported when first needed ----------------------------------

    def module(self, name: str) -> ModuleType:
        """A module of the plug-in (``probes``, ``mistakes``, ...), by its name in the declaration."""
        return importlib.import_module(f"{self._package()}.{name}")

    @property
    def probes_module(self) -> ModuleType:
        return self.module(self.probes)

    @property
    def probes_file(self) -> Path:
        return self._folder() / f"{self.probes}.py"

    @property
    def checks_dir(self) -> Path:
        return self._folder() / self.checks

    @property
    def reference_module(self) -> ModuleType:
        return importlib.import_module(self.reference)

    @property
    def mistakes_table(self) -> dict[str, list[tuple[str, Callable]]]:
        return getattr(self.module(self.mistakes), "MISTAKES", {})

    @property
    def diagnoses(self) -> dict[str, str]:
        return getattr(self.module(self.feedback), "DIAGNOSES", {})

    @property
    def reteach(self) -> dict[str, str]:
        """For the class report: a line on what to re-teach for each of its own codes (``feedback.RETEACH``)."""
        return getattr(self.module(self.feedback), "RETEACH", {})

    @property
    def result_fields(self) -> dict[str, str]:
        return getattr(self.module(self.feedback), "RESULT_FIELDS", {})

    def reference_folder(self) -> Path:
        """The folder of the reference package (without importing it)."""
        spec = importlib.util.find_spec(self.reference)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"{self.name}: its reference package {self.reference!r} was not found")
        return Path(next(iter(spec.submodule_search_locations))).resolve()

    # -- where its files are ------------------------------------------------------------------

    @property
    def course_root(self) -> Path:
        """The course directory the plug-in was loaded from (``<root>/assignments/<name>/``)."""
        return self._folder().parent.parent

    @property
    def source_dir(self) -> Path:
        return self.course_root / "source" / self.name

    @property
    def release_dir(self) -> Path:
        return self.course_root / "release" / self.name

    def worker_code(self, denied: tuple[Path | str, ...] = ()) -> WorkerCode:
        """What this assignment's workers run (its probes), and what they must
        not see: the course directory (its plug-ins, reference, notebooks),
        the plug-in and the reference wherever they are, and ``denied``."""
        keep_out = (self.course_root, self._folder(), self.reference_folder(), *denied)
        return WorkerCode(f"{self._package()}.{self.probes}", str(self.probes_file), self.reference,
                          denied=tuple(dict.fromkeys(str(Path(p).resolve()) for p in keep_out)))

    def files(self) -> list[Path]:
        """Every file that decides how this assignment is graded: the plug-in's
        code, the reference's, and the source and release notebooks (which
        cells are graded, skipped or locked)."""
        found: set[Path] = set()
        for folder in (self._folder(), self.reference_folder()):
            found |= {p for p in folder.rglob("*.py") if "__pycache__" not in p.parts}
        for folder in (self.source_dir, self.release_dir):
            found |= set(folder.glob("*.ipynb"))
        return sorted(found)

    def _folder(self) -> Path:
        if self.folder is None:
            raise RuntimeError(f"the assignment {self.name!r} was declared but not loaded from a course")
        return self.folder

    def _package(self) -> str:
        if self.package is None:
            raise RuntimeError(f"the assignment {self.name!r} was declared but not loaded from a course")
        return self.package
