"""Reference implementations of the ``pytorch_vfa`` assignment (Sutton & Barto §9.3, §10.1-10.2, §11.2).

One module per part of the assignment; every public name of the student API
(see the assignment spec) is re-exported here. These are the answers: the
grader compares students' code against them, and student code must never be
able to import them while it is graded.
"""

from .tensors import (
    add_axis,
    column,
    columns_concatenated,
    columns_stacked,
    drop_singleton_axes,
    flat_view,
    move_first_axis_last,
    select_device,
    tensor_from_data,
)
from .networks import NeuralNetwork, ValueFunction, predict_class
from .gradients import logistic_gradients, predict_no_grad, train_step
from .td import run_td0, semi_gradient_td0_update, td_target
from .control import (
    epsilon_greedy,
    q_values,
    run_sarsa,
    semi_gradient_q_learning_update,
    semi_gradient_sarsa_update,
)
from .baird import (
    baird_expected_td,
    baird_features,
    baird_semi_gradient,
    run_baird_td,
)

__all__ = [
    "tensor_from_data", "column", "columns_concatenated", "columns_stacked",
    "move_first_axis_last", "drop_singleton_axes", "add_axis", "flat_view",
    "select_device",
    "NeuralNetwork", "predict_class", "ValueFunction",
    "logistic_gradients", "train_step", "predict_no_grad",
    "td_target", "semi_gradient_td0_update", "run_td0",
    "q_values", "epsilon_greedy", "semi_gradient_sarsa_update",
    "semi_gradient_q_learning_update", "run_sarsa",
    "baird_features", "baird_semi_gradient", "baird_expected_td", "run_baird_td",
]
