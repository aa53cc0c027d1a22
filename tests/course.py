"""The course of this repository, as the tests see it: its root and its assignments."""

from __future__ import annotations

from pathlib import Path

from autograder.course import find_course

REPO = Path(__file__).resolve().parents[1]
COURSE = find_course(REPO)
PYTORCH_VFA = COURSE.assignment("pytorch_vfa")
POLICY_GRADIENT = COURSE.assignment("policy_gradient")
FIXTURES = REPO / "tests" / "fixtures" / "submissions"
