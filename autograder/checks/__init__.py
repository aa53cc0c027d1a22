"""The check-authoring API, and the pytest plugin that runs an assignment's checks.

An assignment's check files (``assignments/<name>/checks/test_*.py``) import
what they need from here::

    from autograder.checks import Case, FLOAT32_STEP, call, check

    @check("part.target", group="part", points=4, function="target")
    def test_target(ctx):
        ctx.grade([Case("target", {...}, call("target", ...), FLOAT32_STEP)])

``pytest assignments/<name>/checks --submission PATH`` runs them with pytest's
own output (:mod:`autograder.checks.pytest_plugin`); ``autograder grade``
drives the same suite and turns it into reports.
"""

from autograder.checks.framework import Case, CheckContext, CheckSpec, Outcome, call, check, show
from autograder.compare import EXACT, FLOAT32_RUN, FLOAT32_STEP, Tolerance
from autograder.scoring import PARTIAL_FOR_FORM

__all__ = ["Case", "CheckContext", "CheckSpec", "EXACT", "FLOAT32_RUN", "FLOAT32_STEP", "Outcome",
           "PARTIAL_FOR_FORM", "Tolerance", "call", "check", "show"]
