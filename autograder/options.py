"""Every grading option, declared once: the command line, the checks' pytest
plugin and the in-kernel checks read the same declaration (flag, default, help).

pytest-timeout owns pytest's ``--timeout``, so an option may have another
spelling there (``pytest_flag``); it is still this one declaration, with this
default and this help.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


class UsageError(ValueError):
    """A request that cannot be carried out as given; the message says how to fix it."""


@dataclass(frozen=True)
class Option:
    """One option: its name in code (``dest``), its flag and what it means."""

    dest: str
    flag: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    action: str | None = None  #: argparse's (``append``: the option may be given several times)
    pytest_flag: str | None = None  #: the spelling under pytest, where ``flag`` is taken there

    @property
    def pytest_dest(self) -> str:
        """Its name in pytest's ``config.getoption``: pytest-timeout has ``timeout``, too."""
        return self.pytest_flag.lstrip("-").replace("-", "_") if self.pytest_flag else self.dest

    def kwargs(self, dest: str | None = None) -> dict:
        """What argparse and pytest's parser both take."""
        kwargs: dict[str, Any] = {"dest": dest or self.dest, "default": self.default, "help": self.help}
        for key in ("type", "choices", "metavar", "action"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        return kwargs


DEVICES = ("auto", "cpu", "cuda")
SANDBOXES = ("auto", "bwrap", "process")

ASSIGNMENT = Option(
    "assignment", "--assignment",
    "the assignment to grade (default: the one the submissions belong to, by their path "
    "submitted/<student>/<assignment>/ or their notebooks; else the course's "
    "CourseDirectory.assignment_id)")
COURSE_ROOT = Option(
    "course_root", "--course-root",
    "the course directory, holding assignments/, solutions/ and source/ (default: "
    "CourseDirectory.root of ./nbgrader_config.py, else the working directory)", type=Path, metavar="DIR")
SEED = Option("seed", "--seed", "base seed of every check; every report prints it (default %(default)s)",
              default=20251, type=int)
DEVICE = Option("device", "--device", "where the checks run the student's code and the reference: "
                "auto (cuda where available), cpu or cuda (default %(default)s)", default="auto", choices=DEVICES)
TIMEOUT = Option("timeout", "--timeout", "seconds one notebook cell, or one check's call, may run "
                 "(default %(default)s)", default=60.0, type=float, metavar="SECONDS", pytest_flag="--cell-timeout")
SANDBOX = Option("sandbox", "--sandbox", "how student code is confined: bwrap (bubblewrap namespaces), process "
                 "(resource limits only; see the README), auto: bwrap where it works (default %(default)s)",
                 default="auto", choices=SANDBOXES)
MEMORY_LIMIT = Option("memory_limit", "--memory-limit", "memory limit of each student process, in GiB "
                      "(default %(default)s)", default=4.0, type=float, metavar="GIB")

#: what both the command line and the checks' pytest plugin take
GRADING = (ASSIGNMENT, COURSE_ROOT, SEED, DEVICE, TIMEOUT, SANDBOX, MEMORY_LIMIT)

# --- reports: options of ``autograder grade`` alone ---------------------------------------

CSV_COLUMN_CHOICES = ("groups", "checks")
CSV_COLUMNS = Option("csv_columns", "--csv-columns", "the score columns of --format csv after student and score: "
                     "groups (one per part, the default) or checks (one per check, named <group>.<check>, for "
                     "importing grades per question)", default="groups", choices=CSV_COLUMN_CHOICES)
VISIBILITY = Option("visibility", "--visibility", "with --format gradescope: when students see a check, "
                    "overriding the assignment's declaration: CHECK=WHEN for one check, or WHEN for all, where "
                    "WHEN is visible, after_due_date, after_published or hidden; may be repeated (the last one for "
                    "a check wins)", action="append", metavar="[CHECK=]WHEN")

#: what ``autograder grade`` adds to GRADING for its reports
REPORTS = (CSV_COLUMNS, VISIBILITY)


def visibility_overrides(given: list[str] | None, checks: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """``--visibility`` values as check -> when; a bare ``WHEN`` applies to every check, in order given.

    Raises:
        UsageError: an unknown check or value (the message lists the choices).
    """
    found: dict[str, str] = {}
    for item in given or []:
        name, sep, when = item.rpartition("=")
        if when not in allowed:
            raise UsageError(f"{VISIBILITY.flag} {item!r}: {when!r} is not one of {', '.join(allowed)}")
        if sep and name not in checks:
            raise UsageError(f"{VISIBILITY.flag} {item!r}: the assignment has no check {name!r} (its checks: "
                             f"{', '.join(checks)})")
        found.update({name: when} if sep else dict.fromkeys(checks, when))
    return found


def add_to_argparse(parser: argparse.ArgumentParser, options: tuple[Option, ...] = GRADING) -> None:
    for option in options:
        parser.add_argument(option.flag, **option.kwargs())


def add_to_pytest(group: Any, options: tuple[Option, ...] = GRADING) -> None:
    """Add ``options`` to a pytest option group (``parser.getgroup(...)``)."""
    for option in options:
        kwargs = option.kwargs(option.pytest_dest)
        kwargs["help"] = kwargs["help"].replace("%(default)s", str(option.default))  # pytest formats no defaults
        group.addoption(option.pytest_flag or option.flag, **kwargs)


def resolve_device(choice: str, cuda_available: Callable[[], bool] | None = None) -> str:
    """``auto``, ``cpu`` or ``cuda`` as the device to grade on.

    Raises:
        UsageError: ``cuda`` on a machine without CUDA, or an unknown choice.
    """
    if choice not in DEVICES:
        raise UsageError(f"{DEVICE.flag} {choice!r}: choose one of {', '.join(DEVICES)}")
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available
    if choice == "cuda" and not cuda_available():
        raise UsageError(f"{DEVICE.flag} cuda: CUDA is not available on this machine "
                         "(torch.cuda.is_available() is False). Use --device cpu or auto.")
    if choice == "auto":
        return "cuda" if cuda_available() else "cpu"
    return choice


def memory_bytes(gib: float) -> int:
    """``--memory-limit`` in bytes; it must be positive."""
    if not gib > 0:
        raise UsageError(f"{MEMORY_LIMIT.flag} must be positive, got {gib}")
    return int(gib * 2**30)
