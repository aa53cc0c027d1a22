"""Every check of the suite, found by its ``@check`` marker, in report order."""

from __future__ import annotations

import importlib
from typing import Callable

from autograder.checks.framework import CheckSpec

MODULES = ("test_tensors", "test_networks", "test_autograd", "test_td0", "test_q", "test_baird")


def all_checks() -> list[tuple[CheckSpec, Callable]]:
    """(spec, check function) for every check, part by part."""
    found = []
    for name in MODULES:
        module = importlib.import_module(f"autograder.checks.{name}")
        for attribute in vars(module).values():
            for mark in getattr(attribute, "pytestmark", []):
                if mark.name == "check" and callable(attribute):
                    found.append((mark.args[0], attribute))
    return found
