"""No points for nothing: for every graded function (or class) of every assignment,
a submission where it does nothing, one where it returns zeros and one where it
returns NaN score 0 on its checks.

Each submission is the instructor's notebooks with one more cell at the end of
the graded function's notebook, which replaces it (a class: its ``forward``):

* ``nothing``: returns None, changes nothing;
* ``zeros``: the right result's structure, with every number zero (computed on
  copies of the arguments, so that nothing is updated in place);
* ``nan``: the same, with every number NaN.

The functions that call it keep their own code: whether they are credited
given it is the business of the error-carried-forward tests. All the
submissions are graded in one batch.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.assignment import Assignment
from autograder.checks.registry import all_checks
from autograder.cli import main
from tests.course import COURSE

VARIANTS = ("nothing", "zeros", "nan")

#: defines _blank(value, fill): the value's structure with every number replaced by fill
BLANK = '''
import copy as _copy
import torch as _torch

def _blank(value, fill):
    if isinstance(value, _torch.Tensor):
        return _torch.full(value.shape, fill, dtype=value.dtype if value.is_floating_point() or fill == 0
                           else _torch.float32, device=value.device)
    if isinstance(value, dict):
        return {key: _blank(item, fill) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_blank(item, fill) for item in value)
    if isinstance(value, bool):
        return False if fill == 0 else fill
    return fill
'''


def replacement(name: str, variant: str, is_class: bool) -> str:
    fill = "0.0" if variant == "zeros" else "float('nan')"
    if is_class:
        body = "return None" if variant == "nothing" else f"return _blank(super().forward(*args, **kwargs), {fill})"
        return f"{BLANK}\n_original_{name} = {name}\n\nclass {name}(_original_{name}):\n" \
               f"    def forward(self, *args, **kwargs):\n        {body}\n"
    if variant == "nothing":
        return f"def {name}(*args, **kwargs):\n    return None\n"
    return (f"{BLANK}\n_original_{name} = {name}\n\ndef {name}(*args, **kwargs):\n"
            f"    args, kwargs = _copy.deepcopy((args, kwargs))  # nothing the caller passed is changed\n"
            f"    return _blank(_original_{name}(*args, **kwargs), {fill})\n")


def graded(assignment: Assignment) -> dict[str, str]:
    """Each graded name -> the notebook that defines it."""
    return {meta.function: assignment.part(meta.group).notebook for meta, _ in all_checks(assignment)}


def is_class(name: str) -> bool:
    return name[:1].isupper()  # the specs' convention: classes are CamelCase, functions snake_case


def build(assignment: Assignment, batch: Path) -> dict[str, tuple[str, str]]:
    """The submissions of ``assignment``; student -> (graded name, variant)."""
    students = {}
    for name, notebook in graded(assignment).items():
        for variant in VARIANTS:
            student = f"{name}-{variant}"
            folder = batch / student / assignment.name
            folder.mkdir(parents=True)
            for other in assignment.notebooks:
                shutil.copy(assignment.source_dir / other, folder / other)
            nb = nbformat.read(folder / notebook, as_version=4)
            cell = nbformat.v4.new_code_cell(replacement(name, variant, is_class(name)))
            cell["id"] = f"replaced-{name}"[:64]
            nb.cells.append(cell)
            nbformat.write(nb, folder / notebook)
            students[student] = (name, variant)
    return students


@pytest.fixture(scope="module", params=COURSE.assignments(), ids=lambda a: a.name)
def graded_batch(request, tmp_path_factory) -> tuple[Assignment, dict, dict]:
    assignment = request.param
    batch = tmp_path_factory.mktemp(f"nothing-{assignment.name}") / "submitted"
    students = build(assignment, batch)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(batch), "--assignment", assignment.name, "--format", "json", "--jobs", "2",
                     "--timeout", "5", "--no-cache"])
    assert code == 0, err.getvalue()
    report = {s["student"]: s for s in json.loads(out.getvalue())["submissions"]}
    return assignment, students, report


def test_doing_nothing_returning_zeros_or_nan_scores_nothing(graded_batch):
    assignment, students, report = graded_batch
    functions = {meta.name: meta.function for meta, _ in all_checks(assignment)}
    earned = {}
    for student, (name, variant) in students.items():
        submission = report[student]
        assert submission["status"] == "graded", submission["error"]
        for check in submission["checks"]:
            if functions[check["name"]] == name and check["score"] > 0:
                earned[f"{check['name']} ({variant})"] = f"{check['score']}/{check['max_score']}: " \
                                                          f"{check['feedback'].splitlines()[:3]}"
    assert earned == {}, json.dumps(earned, indent=1)


def test_every_graded_name_was_replaced(graded_batch):
    """The replacement ran (the check saw it): none of them scored full marks either way."""
    assignment, students, report = graded_batch
    assert len(students) == len(VARIANTS) * len(graded(assignment))
    for student, (name, _) in students.items():
        assert report[student]["score"] < 100, student
