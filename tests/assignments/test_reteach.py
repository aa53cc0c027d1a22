"""The class report's re-teach lines: every diagnosis code an assignment can name has one, for the instructor."""

from __future__ import annotations

import pytest

from autograder import feedback
from autograder.checks.framework import codes_of
from tests.assignments.fixtures import covered_codes
from tests.course import COURSE

ASSIGNMENTS = COURSE.assignments()


def nameable_codes(assignment) -> set[str]:
    """Every code a check of the assignment can name: the engine's, the plug-in's explained ones, its known
    mistakes' and its fixtures'."""
    mistakes = {code for versions in assignment.mistakes_table.values() for named, _ in versions
                for code in codes_of(named)}
    return set(feedback.DIAGNOSES) | set(assignment.diagnoses) | mistakes | covered_codes(assignment)


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=[a.name for a in ASSIGNMENTS])
def test_every_code_an_assignment_can_name_has_a_reteach_line(assignment):
    missing = sorted(code for code in nameable_codes(assignment) if not feedback.reteach(code, assignment.reteach))
    assert missing == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=[a.name for a in ASSIGNMENTS])
def test_no_reteach_line_is_for_a_code_that_cannot_be_named(assignment):
    assert set(assignment.reteach) - nameable_codes(assignment) == set()  # a misspelt code would never show


def test_the_engine_has_a_line_for_each_of_its_own_codes():
    assert set(feedback.RETEACH) == set(feedback.DIAGNOSES)
    assert feedback.reteach("timeout", {"timeout": "the plug-in's own"}) == "the plug-in's own"
    assert feedback.reteach("timeout") == feedback.RETEACH["timeout"] and feedback.reteach("no-such-code") is None
