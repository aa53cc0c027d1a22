"""Part 6 (Baird's counterexample, Sutton & Barto §11.2, Figures 11.1-11.2).

* ``baird_features`` is the book's feature matrix, written out by hand.
* ``baird_semi_gradient`` equals the closed form ``−ρ δ x(s)`` with ρ = 7 for
  solid, 0 for dashed and ``δ = γ v̂(s′) − v̂(s)``, for every (s, s′, a) and
  several w; it changes neither ``w`` nor ``w.grad``.
* ``baird_expected_td`` equals an independent NumPy DP built from the book's
  equations (transition matrix of π, uniform state weighting) and gives the
  spec's numbers: w_8 ≈ 9.63 after 100 sweeps, ≈ 335.0 after 1000.
* ``run_baird_td`` replays exactly with its pinned randomness and diverges on
  every seed tried.
"""

import numpy as np
import pytest
import torch

from solutions.pytorch_vfa import baird_expected_td, baird_features, baird_semi_gradient, run_baird_td

W0 = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 1.0)
ALPHA, GAMMA = 0.01, 0.99

# The book's Figure 11.1, rows = states 1..7, columns = w_1..w_8.
BOOK_FEATURES = np.array(
    [
        [2, 0, 0, 0, 0, 0, 0, 1],
        [0, 2, 0, 0, 0, 0, 0, 1],
        [0, 0, 2, 0, 0, 0, 0, 1],
        [0, 0, 0, 2, 0, 0, 0, 1],
        [0, 0, 0, 0, 2, 0, 0, 1],
        [0, 0, 0, 0, 0, 2, 0, 1],
        [0, 0, 0, 0, 0, 0, 1, 2],
    ],
    dtype=np.float64,
)


def test_baird_features_are_the_books():
    x = baird_features()
    assert x.shape == (7, 8)
    assert x.dtype.is_floating_point
    np.testing.assert_array_equal(x.numpy(), BOOK_FEATURES)


# --- the semi-gradient ----------------------------------------------------------


@pytest.mark.parametrize("w_seed", [0, 1, 2])
def test_baird_semi_gradient_closed_form_for_every_transition(w_seed):
    rng = np.random.default_rng(w_seed)
    w_np = rng.normal(scale=3.0, size=8)
    gamma = [0.99, 0.9, 0.5][w_seed]
    for state in range(7):
        for action, next_states in ((0, range(6)), (1, [6])):
            for next_state in next_states:
                w = torch.tensor(w_np, requires_grad=True)
                gradient = baird_semi_gradient(w, state, next_state, action, gamma)
                rho = 7.0 if action == 1 else 0.0
                x = BOOK_FEATURES
                delta = gamma * x[next_state] @ w_np - x[state] @ w_np
                expected = -rho * delta * x[state]
                assert gradient.shape == (8,)
                # float64 throughout; a few products and sums: agreement to ~1e-15 relative.
                np.testing.assert_allclose(gradient.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
                assert torch.equal(w.detach(), torch.tensor(w_np))  # w unchanged
                assert w.grad is None  # nothing accumulated


def test_baird_semi_gradient_has_no_target_component():
    # Solid from an upper state: δ ≠ 0 and the gradient lies along x(s) only;
    # w_7 (index 6) appears only in x(s_7) = the target's features, so its component is 0.
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    gradient = baird_semi_gradient(w, 2, 6, 1, GAMMA)
    assert gradient[6].item() == 0.0
    delta = GAMMA * (10 + 2 * 1) - (2 * 1 + 1)
    np.testing.assert_allclose(gradient.detach().numpy(), -7 * delta * BOOK_FEATURES[2], rtol=1e-12)
    assert gradient.abs().sum() > 0


def test_baird_semi_gradient_leaves_existing_grad_alone():
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    w.grad = torch.full((8,), 3.0, dtype=torch.float64)
    first = baird_semi_gradient(w, 0, 6, 1, GAMMA)
    second = baird_semi_gradient(w, 0, 6, 1, GAMMA)
    assert torch.equal(first, second)
    assert (w.grad == 3.0).all()


def test_baird_dashed_gradient_is_zero():
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    for state in range(7):
        assert (baird_semi_gradient(w, state, 3, 0, GAMMA) == 0).all()


# --- expected TD / DP ------------------------------------------------------------


def numpy_expected_td(w0, n_sweeps, alpha, gamma):
    """Semi-gradient DP from the book (eq. 11.9 family, Figure 11.2 right):
    w ← w + α Σ_s μ(s) (E_π[R + γ v̂(S′) | s] − v̂(s)) x(s), μ uniform (the
    behaviour policy's stationary distribution: dashed 6/7 spread over the six
    upper states, solid 1/7 to the lower one), π always solid, rewards 0."""
    n = 7
    p_pi = np.zeros((n, n))  # P_π[s, s'] under the target policy
    p_pi[:, 6] = 1.0
    r_pi = np.zeros(n)
    mu = np.full(n, 1 / n)
    x = BOOK_FEATURES
    # μ is really the behaviour's stationary distribution:
    p_b = np.zeros((n, n))
    p_b[:, :6] = 6 / 7 / 6
    p_b[:, 6] += 1 / 7
    np.testing.assert_allclose(mu @ p_b, mu)
    w = np.array(w0, dtype=np.float64)
    history = [w]
    for _ in range(n_sweeps):
        v = x @ w
        w = w + alpha * x.T @ (mu * (r_pi + gamma * p_pi @ v - v))
        history.append(w)
    return np.array(history)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_baird_expected_td_matches_the_spec_numbers(dtype):
    history = baird_expected_td(torch.tensor(W0, dtype=dtype), 1000, ALPHA, GAMMA)
    assert history.shape == (1001, 8)
    assert torch.equal(history[0], torch.tensor(W0, dtype=dtype))
    assert round(history[100, 7].item(), 2) == 9.63
    assert round(history[1000, 7].item(), 1) == 335.0


def test_baird_expected_td_matches_numpy_dp():
    history = baird_expected_td(torch.tensor(W0, dtype=torch.float64), 1000, ALPHA, GAMMA)
    expected = numpy_expected_td(W0, 1000, ALPHA, GAMMA)
    # 1000 float64 sweeps in different operation orders: rounding grows at most
    # to ~1e-13 relative; 1e-9 is safe and far below any modelling difference.
    np.testing.assert_allclose(history.numpy(), expected, rtol=1e-9, atol=1e-9)
    assert expected[100, 7] == pytest.approx(9.63, abs=0.005)
    assert expected[1000, 7] == pytest.approx(335.0, abs=0.05)


@pytest.mark.parametrize("seed", [0, 1])
def test_baird_expected_td_matches_numpy_dp_elsewhere(seed):
    w0 = np.random.default_rng(seed).normal(size=8)
    history = baird_expected_td(torch.tensor(w0), 50, 0.05, 0.9)
    np.testing.assert_allclose(history.numpy(), numpy_expected_td(w0, 50, 0.05, 0.9), rtol=1e-9, atol=1e-12)


def test_baird_expected_td_is_deterministic_and_leaves_w0_alone():
    w0 = torch.tensor(W0)
    a = baird_expected_td(w0, 20, ALPHA, GAMMA)
    b = baird_expected_td(w0, 20, ALPHA, GAMMA)
    assert torch.equal(a, b)
    assert torch.equal(w0, torch.tensor(W0))
    assert baird_expected_td(w0, 0, ALPHA, GAMMA).shape == (1, 8)


# --- sampled off-policy TD -------------------------------------------------------


def numpy_baird_td(w0, n_steps, alpha, gamma, seed):
    """Off-policy semi-gradient TD(0), w ← w + α ρ δ x(S), with the spec's pinned randomness."""
    rng = np.random.default_rng(seed)
    x = BOOK_FEATURES
    w = np.array(w0, dtype=np.float64)
    history = [w]
    state = int(rng.integers(7))
    for _ in range(n_steps):
        if rng.random() < 6 / 7:
            rho, next_state = 0.0, int(rng.integers(6))
        else:
            rho, next_state = 7.0, 6
        delta = gamma * x[next_state] @ w - x[state] @ w
        w = w + alpha * rho * delta * x[state]
        history.append(w)
        state = next_state
    return np.array(history)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_run_baird_td_replays_the_pinned_randomness(seed):
    history = run_baird_td(torch.tensor(W0, dtype=torch.float64), 300, ALPHA, GAMMA, seed)
    assert history.shape == (301, 8)
    assert not history.requires_grad
    expected = numpy_baird_td(W0, 300, ALPHA, GAMMA, seed)
    # Exact arithmetic up to rounding; a different use of the rng (another start
    # state, an extra draw, dashed/solid swapped) changes the path at O(α).
    np.testing.assert_allclose(history.numpy(), expected, rtol=1e-9, atol=1e-9)


# Divergence, measured (seeds 0-19, α = 0.01, γ = 0.99, w0 as in the book):
# ‖w_1000‖ / ‖w_0‖ = 24-55 (every seed), ‖w_2000‖ / ‖w_0‖ = 254-699,
# ‖w_3000‖ / ‖w_0‖ = 2731-9484, w_8 after 3000 steps 2.2e4-7.5e4.
# The test asks for a 10-fold growth in 1000 steps on each of 20 seeds.
BAIRD_SEEDS = range(20)


def test_run_baird_td_diverges_on_every_seed():
    w0 = torch.tensor(W0, dtype=torch.float64)
    factors = []
    for seed in BAIRD_SEEDS:
        history = run_baird_td(w0, 1000, ALPHA, GAMMA, seed)
        norms = history.norm(dim=1)
        assert torch.isfinite(norms).all()
        factors.append((norms[-1] / norms[0]).item())
        assert norms[-1] > norms[500] > norms[0]  # still growing, not a one-off spike
    assert min(factors) > 10, factors
