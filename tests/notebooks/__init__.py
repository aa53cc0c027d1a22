"""Tests of the nbgrader assignment: source notebooks, release, autograding."""
