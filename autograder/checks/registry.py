"""Every check of an assignment, found by its ``@check`` marker, in report order."""

from __future__ import annotations

import functools
import importlib
from typing import Callable

from autograder.assignment import Assignment
from autograder.checks.framework import CheckSpec


def check_modules(assignment: Assignment) -> list[str]:
    """The module names of an assignment's check files (``checks/test_*.py``), as pytest imports them."""
    package = f"{assignment.package}.{assignment.checks}"
    return [f"{package}.{path.stem}" for path in sorted(assignment.checks_dir.glob("test_*.py"))]


def all_checks(assignment: Assignment) -> list[tuple[CheckSpec, Callable]]:
    """(spec, check function) for every check of ``assignment``, part by part."""
    found = []
    for name in check_modules(assignment):
        module = importlib.import_module(name)
        for attribute in vars(module).values():
            for mark in getattr(attribute, "pytestmark", []):
                if mark.name == "check" and callable(attribute) and getattr(attribute, "__module__", None) == name:
                    found.append((mark.args[0], attribute))
    order = {group: i for i, group in enumerate(assignment.groups)}
    return sorted(found, key=lambda item: order.get(item[0].group, len(order)))  # stable: file order within a part


def points_by_group(assignment: Assignment) -> dict[str, float]:
    """Each part's points: the sum of its checks' (declared once, in ``@check``)."""
    totals = {group: 0.0 for group in assignment.groups}
    for meta, _ in all_checks(assignment):
        totals[meta.group] = totals.get(meta.group, 0.0) + meta.points
    return totals


@functools.lru_cache(maxsize=None)
def graded_functions(assignment: Assignment, notebook: str | None = None) -> tuple[str, ...]:
    """The names the assignment's checks grade (those of one notebook's parts, if given), in check order."""
    groups = {part.group for part in assignment.parts if notebook is None or part.notebook == notebook}
    return tuple(dict.fromkeys(meta.function for meta, _ in all_checks(assignment) if meta.group in groups))
