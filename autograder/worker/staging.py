"""What a worker runs, copied into a folder of its own: the one thing of the
grader a sandbox shows (:mod:`autograder.worker.sandbox`).

The copy holds the engine's worker package (the modules that run inside a
worker, :data:`autograder.worker.SANDBOXED`) and the assignment's probes
module, under the probes' package path with empty ``__init__.py`` files: the
rest of the engine, the plug-in's checks, known mistakes and feedback texts,
and the reference never enter it. Workers import from it first
(:func:`boot_command`), so an editable install's path hooks are never needed.

Standard library only: the command line stages before it imports torch.
"""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import autograder
import autograder.worker

ENGINE_DIR = Path(autograder.__file__).resolve().parent
WORKER_DIR = Path(autograder.worker.__file__).resolve().parent


@dataclass(frozen=True)
class WorkerCode:
    """What a worker needs to know of the assignment it serves, and what it must not see."""

    probes: str  #: the probes module, e.g. ``assignments.<name>.probes``
    probes_file: str  #: its source file
    reference: str = "solutions"  #: the reference package: never importable in a worker
    #: folders and files of the grader that student code may not read (the course, the engine, ...)
    denied: tuple[str, ...] = ()


def stage(folder: Path, code: WorkerCode) -> Path:
    """Copy what a worker runs into ``folder`` (created); return it."""
    target = folder / "autograder"
    (target / "worker").mkdir(parents=True)
    shutil.copyfile(ENGINE_DIR / "__init__.py", target / "__init__.py")
    for name in ("__init__", *autograder.worker.SANDBOXED):
        shutil.copyfile(WORKER_DIR / f"{name}.py", target / "worker" / f"{name}.py")
    *packages, module = code.probes.split(".")
    where = folder
    for package in packages:  # the plug-in's packages, empty: nothing of them but the probes comes along
        where = where / package
        where.mkdir(exist_ok=True)
        (where / "__init__.py").touch()
    shutil.copyfile(code.probes_file, where / f"{module}.py")
    return folder


@functools.cache
def engine_files() -> tuple[str, ...]:
    """The engine's package folder and what its installation wrote elsewhere
    (an editable install's path hook and records, the ``.dist-info``): all of
    it the grader's, none of it for a sandbox."""
    found = {str(ENGINE_DIR)}
    names = set(importlib.metadata.packages_distributions().get(ENGINE_DIR.name, []))
    # every copy of the records (an editable install's .dist-info, the checkout's .egg-info), not the first
    for dist in (d for name in names for d in importlib.metadata.distributions(name=name)):
        record = getattr(dist, "_path", None)  # the .dist-info (or .egg-info) folder itself
        if record is not None:
            found.add(str(Path(record).resolve()))
        for file in dist.files or []:
            path = Path(dist.locate_file(file)).resolve()
            if not path.is_relative_to(ENGINE_DIR):
                found.add(str(path))
    return tuple(sorted(found))


def boot_command(folder: Path, module: str, *args: str) -> list[str]:
    """A Python command that runs ``module.main(*args)`` from the staged code.

    ``-I``: no environment variables, user site or script folder on the path;
    ``-B``: no bytecode written (a worker importing a module without cached
    bytecode would write into site-packages, which the guard reports)."""
    boot = f"import sys; sys.path.insert(0, {str(folder)!r}); import {module}; {module}.main(sys.argv[1:])"
    return [sys.executable, "-I", "-B", "-c", boot, *args]
