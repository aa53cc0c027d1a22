"""The course notebook's own Baird cell, kept as a regression test of what it
computes, and why that is not the semi-gradient the assignment asks for.

The notebook (0-based indices) uses v(s_i) = 2 w[i] + w[7] for ALL seven
states, and the "loss" ``alpha * (0 + gamma * v(w)[next_state] - v(w)[state])``
with alpha = 0.8, gamma = 0.95. For state 5 -> next state 6 it prints
``w.grad = [0, 0, 0, 0, 0, -1.6, 1.52, -0.04]``:
  d/dw[5] = -2 alpha = -1.6, d/dw[6] = 2 alpha gamma = 1.52,
  d/dw[7] = alpha (gamma - 1) = -0.04,
whatever w is, because that loss is linear in w (the TD error itself, not its
square) and its gradient runs through the bootstrapped target too.
"""

import pytest
import torch

from solutions.pytorch_vfa import baird_features, baird_semi_gradient

ALPHA, GAMMA = 0.8, 0.95
STATE, NEXT_STATE = 5, 6
COURSE_GRAD = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, -1.6, 1.52, -0.04])


def course_v(w):
    return [2 * w[0] + w[7], 2 * w[1] + w[7], 2 * w[2] + w[7], 2 * w[3] + w[7],
            2 * w[4] + w[7], 2 * w[5] + w[7], 2 * w[6] + w[7]]


def course_grad(w0: torch.Tensor) -> torch.Tensor:
    w = w0.detach().clone().requires_grad_()
    loss = ALPHA * (0 + GAMMA * course_v(w)[NEXT_STATE] - course_v(w)[STATE])
    loss.backward()
    return w.grad


def course_features() -> torch.Tensor:
    """The course's feature matrix, read off its v with autograd (row s = ∇_w v(s))."""
    return torch.autograd.functional.jacobian(lambda w: torch.stack(course_v(w)), torch.zeros(8))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_course_cell_gradient_is_the_printed_one_for_any_w(seed):
    w = torch.randn(8, generator=torch.Generator().manual_seed(seed)) * 5
    torch.testing.assert_close(course_grad(w), COURSE_GRAD)


def test_course_gradient_is_not_the_semi_gradient():
    w = torch.randn(8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    w_leaf = w.clone().requires_grad_()
    semi = baird_semi_gradient(w_leaf, STATE, NEXT_STATE, 1, GAMMA)  # solid: ρ = 7, book features
    x = baird_features().double()
    delta = GAMMA * x[NEXT_STATE] @ w - x[STATE] @ w
    torch.testing.assert_close(semi, -7 * delta * x[STATE])

    course = course_grad(w.float()).double()
    assert not torch.allclose(semi, course)
    # No component from the target: the semi-gradient is a multiple of x(S) only,
    # so w[6] (which only the lower state's features use) gets nothing ...
    assert semi[6].item() == 0.0
    assert torch.linalg.matrix_rank(torch.stack([semi, x[STATE]])).item() == 1
    # ... while the course's gradient has one, 2 alpha gamma, from γ v(S') alone.
    assert course[6].item() == pytest.approx(2 * ALPHA * GAMMA)
    # Its w[5] and w[7] components are -alpha x_course(S) + alpha gamma x_course(S'),
    # the gradient of both ends of the TD error, not δ ∇v(S).
    xc = course_features().double()
    torch.testing.assert_close(course, ALPHA * (GAMMA * xc[NEXT_STATE] - xc[STATE]))


def test_course_gradient_ignores_the_td_error():
    # Where δ = 0 (the value estimates are already consistent) the semi-gradient
    # is 0, yet the course's "loss" still pushes w by the same amount.
    w = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    assert (baird_semi_gradient(w, STATE, NEXT_STATE, 1, GAMMA) == 0).all()
    torch.testing.assert_close(course_grad(w.detach().float()), COURSE_GRAD)


def test_course_features_differ_from_the_books_for_the_lower_state_only():
    xc, xb = course_features(), baird_features()
    assert torch.equal(xc[:6], xb[:6])  # upper states agree: 2 e_i + e_8
    assert xc[6].tolist() == [0, 0, 0, 0, 0, 0, 2, 1]  # course: 2 w_7 + w_8
    assert xb[6].tolist() == [0, 0, 0, 0, 0, 0, 1, 2]  # book:   w_7 + 2 w_8
