"""Part 3 (autograd): ``logistic_gradients`` against the closed form,
``train_step`` against a hand-made SGD step, ``predict_no_grad``.

Closed form of the mean binary cross-entropy with logits z = x @ w + b:
L = mean_k [softplus(z_k) - y_k z_k] over all N elements of z, so
dL/dz = (sigmoid(z) - y) / N, grad_w = x^T dL/dz (the outer product x ⊗ dL/dz
for a 1-D x), grad_b = dL/dz summed over the batch.

Everything runs in float64; the closed form and autograd do the same few
operations in a different order, so they agree to ~1e-15 relative. The
tolerance 1e-10 leaves room for that and still rejects any real mistake (a
missing 1/N, a sum instead of a mean, a transposed x are all O(1) errors).
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from solutions.pytorch_vfa import NeuralNetwork, logistic_gradients, predict_no_grad, train_step

TIGHT = dict(rtol=1e-10, atol=1e-12)


def closed_form(x, y, w, b):
    z = x @ w + b
    dz = (torch.sigmoid(z) - y) / z.numel()
    if x.dim() == 1:
        return torch.outer(x, dz), dz
    return x.T @ dz, dz.sum(0)


def make_problem(batch, n_in, n_out, seed, soft_labels=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, n_in, generator=g, dtype=torch.float64)
    shape = (*batch, n_out)
    y = torch.rand(shape, generator=g, dtype=torch.float64)
    if not soft_labels:
        y = (y > 0.5).double()
    w = torch.randn(n_in, n_out, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n_out, generator=g, dtype=torch.float64, requires_grad=True)
    return x, y, w, b


@pytest.mark.parametrize(
    "batch, n_in, n_out, soft",
    [((), 5, 3, False), ((), 4, 1, True), ((1,), 5, 3, False), ((8,), 5, 3, False), ((16,), 3, 4, True), ((7,), 1, 1, False)],
)
def test_logistic_gradients_match_closed_form(batch, n_in, n_out, soft):
    x, y, w, b = make_problem(batch, n_in, n_out, seed=n_in * 10 + n_out, soft_labels=soft)
    grad_w, grad_b = logistic_gradients(x, y, w, b)
    expected_w, expected_b = closed_form(x, y, w.detach(), b.detach())
    assert grad_w.shape == w.shape and grad_b.shape == b.shape
    torch.testing.assert_close(grad_w, expected_w, **TIGHT)
    torch.testing.assert_close(grad_b, expected_b, **TIGHT)


def test_logistic_gradients_course_example():
    # The course's cell: x = ones(5), y = zeros(3): every row of grad_w equals grad_b = sigmoid(z)/3.
    torch.manual_seed(0)
    x, y = torch.ones(5), torch.zeros(3)
    w = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    grad_w, grad_b = logistic_gradients(x, y, w, b)
    expected_b = torch.sigmoid(x @ w.detach() + b.detach()) / 3
    torch.testing.assert_close(grad_b, expected_b)
    torch.testing.assert_close(grad_w, expected_b.expand(5, 3))


@pytest.mark.parametrize("batch", [(), (6,)])
def test_logistic_gradients_do_not_accumulate(batch):
    x, y, w, b = make_problem(batch, 4, 2, seed=3)
    first = logistic_gradients(x, y, w, b)
    assert w.grad is None and b.grad is None  # nothing was left in .grad
    second = logistic_gradients(x, y, w, b)
    torch.testing.assert_close(second[0], first[0], rtol=0, atol=0)
    torch.testing.assert_close(second[1], first[1], rtol=0, atol=0)
    assert w.grad is None and b.grad is None

    # With stale gradients already present they are neither used nor changed.
    w.grad = torch.full_like(w, 7.0)
    b.grad = torch.full_like(b, -3.0)
    third = logistic_gradients(x, y, w, b)
    torch.testing.assert_close(third[0], first[0], rtol=0, atol=0)
    torch.testing.assert_close(third[1], first[1], rtol=0, atol=0)
    assert (w.grad == 7.0).all() and (b.grad == -3.0).all()


def test_logistic_gradients_leave_w_and_b_unchanged():
    x, y, w, b = make_problem((5,), 3, 2, seed=4)
    w0, b0 = w.detach().clone(), b.detach().clone()
    logistic_gradients(x, y, w, b)
    assert torch.equal(w.detach(), w0) and torch.equal(b.detach(), b0)


# --- train_step ---------------------------------------------------------------


def make_model(seed):
    torch.manual_seed(seed)
    return NeuralNetwork(4, 3, 8).double()


def expected_sgd_step(model, loss_fn, x, target, lr):
    """Loss and parameters after one plain SGD step, computed by hand."""
    params = list(model.parameters())
    loss = loss_fn(model(x), target)
    grads = torch.autograd.grad(loss, params)
    return loss.item(), [(p - lr * g).detach() for p, g in zip(params, grads)]


def test_train_step_is_one_sgd_step_and_returns_the_pre_step_loss():
    model = make_model(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 4, generator=g, dtype=torch.float64)
    target = torch.randn(10, 3, generator=g, dtype=torch.float64)
    loss_fn = nn.MSELoss()
    expected_loss, expected_params = expected_sgd_step(model, loss_fn, x, target, lr=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = train_step(model, optimizer, loss_fn, x, target)
    assert type(loss) is float
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for p, e in zip(model.parameters(), expected_params):
        torch.testing.assert_close(p.detach(), e, **TIGHT)
    # The loss after the step is lower (a small step down the gradient), so the returned one was before it.
    assert loss_fn(model(x), target).item() < loss


def test_train_step_clears_stale_gradients():
    model = make_model(2)
    x = torch.randn(6, 4, dtype=torch.float64)
    target = torch.randint(0, 3, (6,))
    loss_fn = nn.CrossEntropyLoss()
    _, expected_params = expected_sgd_step(model, loss_fn, x, target, lr=0.05)
    for p in model.parameters():  # garbage left from some earlier backward pass
        p.grad = torch.full_like(p, 100.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train_step(model, optimizer, loss_fn, x, target)
    for p, e in zip(model.parameters(), expected_params):
        torch.testing.assert_close(p.detach(), e, **TIGHT)


def test_train_step_twice_reduces_loss_without_accumulating():
    model = make_model(3)
    x = torch.randn(8, 4, dtype=torch.float64)
    target = torch.randn(8, 3, dtype=torch.float64)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train_step(model, optimizer, loss_fn, x, target)
    # The second step's update uses only the second step's gradient.
    expected_loss, expected_params = expected_sgd_step(model, loss_fn, x, target, lr=0.05)
    loss = train_step(model, optimizer, loss_fn, x, target)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for p, e in zip(model.parameters(), expected_params):
        torch.testing.assert_close(p.detach(), e, **TIGHT)


# --- predict_no_grad ----------------------------------------------------------


def test_predict_no_grad_records_no_graph():
    model = make_model(4)
    x = torch.randn(5, 4, dtype=torch.float64)
    out = predict_no_grad(model, x)
    assert out.grad_fn is None
    assert not out.requires_grad
    torch.testing.assert_close(out, model(x).detach(), rtol=0, atol=0)
    assert torch.is_grad_enabled()  # grad mode is back on afterwards
