"""The engine knows no assignment: no file of ``autograder/`` imports a plug-in or
a reference, nor names an assignment, one of its checks or graded functions,
in code or in string literals (docstrings and comments included)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from autograder.checks.registry import all_checks
from tests.course import COURSE, REPO

ENGINE = REPO / "autograder"


def assignment_words() -> set[str]:
    """What names an assignment: its name, its plug-in's and reference's modules, its
    checks, and its graded functions (those that cannot be ordinary words)."""
    words = set()
    for assignment in COURSE.assignments():
        words |= {assignment.name, assignment.package, assignment.reference}
        for meta, _ in all_checks(assignment):
            words.add(meta.name)
            if "_" in meta.function or meta.function[:1].isupper():
                words.add(meta.function)
    return words


def course_packages() -> set[str]:
    return {top for assignment in COURSE.assignments()
            for top in (assignment.package.partition(".")[0], assignment.reference.partition(".")[0])}


def scan(files: list[Path], words: set[str], packages: set[str]) -> list[str]:
    """Every import of a course package and every mention of an assignment's word, as ``file:line: what``."""
    found = []
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) +
                         r")(?![\w])")
    dotted = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(packages))) + r")\.\w")
    for path in files:
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path}:{node.lineno}: imports {m}" for m in modules if m.partition(".")[0] in packages]
        for number, line in enumerate(text.splitlines(), start=1):
            found += [f"{path}:{number}: names {m.group(1)}" for m in pattern.finditer(line)]
            found += [f"{path}:{number}: names the module {m.group(0)}…" for m in dotted.finditer(line)]
    return found


def test_the_scan_sees_every_assignment_of_the_course():
    words = assignment_words()
    assert {"pytorch_vfa", "td0.update", "semi_gradient_td0_update", "solutions.pytorch_vfa"} <= words
    assert len(COURSE.names()) >= 1 and all(name in words for name in COURSE.names())


def test_the_engine_names_no_assignment():
    files = sorted(p for p in ENGINE.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) > 20
    assert scan(files, assignment_words(), course_packages()) == []


@pytest.mark.parametrize("line", ['import solutions.pytorch_vfa', 'from assignments.pytorch_vfa import probes',
                                  'NAME = "td0.update"', '# calls semi_gradient_td0_update', 'x = "pytorch_vfa"',
                                  'importlib.import_module("assignments.pytorch_vfa.mistakes")'])
def test_the_scan_finds_a_reference(tmp_path, line):
    engine_file = tmp_path / "engine_module.py"
    engine_file.write_text(f'"""An engine module."""\n{line}\n')
    assert scan([engine_file], assignment_words(), course_packages()), line


PROBE_IMPORTS = {"numpy", "torch", "gymnasium"}  #: besides the standard library and the engine's worker package


@pytest.mark.parametrize("assignment", COURSE.assignments(), ids=lambda a: a.name)
def test_a_probes_module_imports_nothing_else_of_its_plug_in_nor_the_reference(assignment):
    """The probes are the only part of a plug-in that enters the worker (a copy of that one file)."""
    tree = ast.parse(assignment.probes_file.read_text())
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append("." * node.level + (node.module or ""))
    assert imported
    for name in imported:
        top = name.partition(".")[0]
        allowed = name == "autograder.worker" or name.startswith("autograder.worker.") or top in PROBE_IMPORTS \
            or (top in sys.stdlib_module_names and not name.startswith("."))
        assert allowed, f"{assignment.probes_file} imports {name}"


def test_the_sandboxed_modules_import_only_each_other() -> None:
    """A worker's sandbox holds only :data:`autograder.worker.SANDBOXED`: a module there that
    imports another of the engine would fail only once it is staged."""
    import autograder.worker

    allowed = {f"autograder.worker.{name}" for name in autograder.worker.SANDBOXED} | {"autograder.worker",
                                                                                      "autograder"}
    outside = []
    for name in autograder.worker.SANDBOXED:
        path = ENGINE / "worker" / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            outside += [f"{path.name}:{node.lineno}: {m}" for m in modules
                        if m.startswith("autograder") and m not in allowed]
    assert not outside, "sandboxed modules import what their sandbox lacks:\n" + "\n".join(outside)
