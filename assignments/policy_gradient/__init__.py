"""The policy_gradient assignment: softmax policies, returns, REINFORCE and
REINFORCE with baseline (Sutton & Barto §13.1-13.4).

The contract is ``policy-gradient-spec.md``. This package is its grading
plug-in: ``probes.py`` (sent to the worker), ``checks/`` (one
``test_<part>.py`` per part; each check declares its points), ``mistakes.py``
(known mistakes), ``feedback.py`` (what its own diagnosis codes mean). The
reference is ``solutions.policy_gradient``; the notebook is
``source/policy_gradient/``.
"""

from autograder.assignment import Assignment, Part

ASSIGNMENT = Assignment(
    name="policy_gradient",
    title="Policy-gradient methods",
    parts=(
        Part(1, "policy", "softmax policies", "policy_gradient.ipynb"),
        Part(2, "returns", "returns", "policy_gradient.ipynb"),
        Part(3, "reinforce", "REINFORCE", "policy_gradient.ipynb"),
        Part(4, "baseline", "REINFORCE with baseline", "policy_gradient.ipynb"),
    ),
    reference="solutions.policy_gradient",
    # On Gradescope, the whole runs show after the due date (as in pytorch_vfa: their feedback prints
    # the reference's run); every other check names its mistake at once.
    visibility={"reinforce.run": "after_due_date", "baseline.run": "after_due_date"},
)
