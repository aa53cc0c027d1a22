"""Fixtures of the notebook tests: one generated nbgrader course per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.nbgrader_course import make_course


@pytest.fixture(scope="session")
def nbgrader_course(tmp_path_factory) -> Path:
    """A generated course root (read-only for tests: copy it to change it)."""
    return make_course(tmp_path_factory.mktemp("course") / "root")
