"""Known mistakes can be told apart on the cases the checks give them: each differs
from the reference on at least one case of its function's check, and two
mistakes named differently never give the same results on all of them (else the
check could not say which one a student made). The cases are the checks' own,
captured from their ``ctx.grade`` call, at the default seed."""

from __future__ import annotations

import itertools

import pytest

from autograder.checks import framework
from autograder.checks.framework import codes_of, derive_seed
from autograder.checks.reference import reference_of
from autograder.checks.registry import all_checks
from autograder.compare import compare
from autograder.options import SEED
from autograder.selfcheck.build import recorded
from tests.course import COURSE

CHECKS = [(assignment, meta, check) for assignment in COURSE.assignments() for meta, check in all_checks(assignment)
          if reference_of(assignment).mistakes.get(meta.function)]


def outcomes(assignment, meta, check) -> tuple[list, list, dict]:
    capture = recorded(meta, check, derive_seed(SEED.default, meta.name))
    reference = reference_of(assignment)
    run = lambda api: [framework.run_reference(case, api, capture.seed, reference) for case in capture.cases]  # noqa
    return capture.cases, run(reference.api()), {(i, codes_of(code)): run(api) for i, (code, _, api)
                                                 in enumerate(reference.mistaken_apis(meta.function))}


def same(cases, a, b) -> bool:
    return all(x.kind == y.kind == "ok" and compare(x.value, y.value, case.tol).ok or
               x.kind == y.kind != "ok" for case, x, y in zip(cases, a, b))


@pytest.mark.parametrize("assignment, meta, check", CHECKS, ids=[f"{a.name}:{m.name}" for a, m, _ in CHECKS])
def test_known_mistakes_are_apart_on_the_checks_cases(assignment, meta, check):
    cases, expected, mistakes = outcomes(assignment, meta, check)
    assert cases
    for (i, codes), got in mistakes.items():
        assert not same(cases, got, expected), f"{meta.name}: mistake {i} {codes} gives the reference's results"
    for ((i, a), first), ((j, b), second) in itertools.combinations(mistakes.items(), 2):
        if a != b:
            assert not same(cases, first, second), f"{meta.name}: mistakes {i} {a} and {j} {b} give the same results"
