"""The pytorch_vfa assignment: tensors, networks, autograd, semi-gradient TD(0)
and control, Baird's counterexample (Sutton & Barto §9.3, §10.1-10.2, §11.2).

The contract is ``assignment-spec.md``. This package is its grading plug-in:
``probes.py`` (sent to the worker), ``checks/`` (one ``test_<part>.py`` per
part; each check declares its points), ``mistakes.py`` (known mistakes),
``feedback.py`` (what its own diagnosis codes mean). The reference is
``solutions.pytorch_vfa``; the notebooks are ``source/pytorch_vfa/``.
"""

from autograder.assignment import Assignment, Part

ASSIGNMENT = Assignment(
    name="pytorch_vfa",
    title="PyTorch and value function approximation",
    parts=(
        Part(1, "tensors", "tensors", "pytorch_basics.ipynb"),
        Part(2, "networks", "networks", "pytorch_basics.ipynb"),
        Part(3, "autograd", "autograd and optimisation", "pytorch_basics.ipynb"),
        Part(4, "td0", "semi-gradient TD(0) prediction", "value_approximation.ipynb"),
        Part(5, "q", "action values", "value_approximation.ipynb"),
        Part(6, "baird", "Baird's counterexample", "value_approximation.ipynb"),
    ),
    reference="solutions.pytorch_vfa",
    # On Gradescope, the whole runs show after the due date: their feedback prints the reference's run
    # (its weights after the spec's seeded draws), which resubmitting could be fitted to; every other
    # check names its mistake at once. Students see no total before then (Gradescope hides it).
    visibility={"td0.run": "after_due_date", "q.run_sarsa": "after_due_date", "baird.run_td": "after_due_date"},
)
