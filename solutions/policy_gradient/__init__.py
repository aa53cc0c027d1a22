"""Reference implementations of the ``policy_gradient`` assignment
(Sutton & Barto §13.1-13.4): softmax policies, returns, REINFORCE and
REINFORCE with baseline.

One module per part; every public name of the student API (see the
assignment's spec) is re-exported here. These are the answers: the grader
compares students' code against them, and student code must never be able to
import them while it is graded. The modules import each other relatively, so
the package can be moved as a whole.
"""

from .policies import SoftmaxPolicy, action_probabilities, log_probs, sample_action
from .returns import discounted_returns
from .reinforce import reinforce_loss, reinforce_update, run_reinforce
from .baseline import reinforce_baseline_update, run_reinforce_baseline

__all__ = [
    "SoftmaxPolicy", "action_probabilities", "log_probs", "sample_action",
    "discounted_returns",
    "reinforce_loss", "reinforce_update", "run_reinforce",
    "reinforce_baseline_update", "run_reinforce_baseline",
]
