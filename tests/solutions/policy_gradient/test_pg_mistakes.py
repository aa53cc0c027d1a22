"""The known mistakes of policy_gradient (``assignments/policy_gradient/mistakes.py``).

Every mistake must be an honest mistake: on the spec's separating inputs
(T = 4, γ = 0.5, rewards (1, −2, 3, 0.5); float32 preferences 200 apart for
the log-probabilities; a batch of states for the softmax's axis; a few
stand-in draws equal to cumulative probabilities for the sampler) it gives a
result other than the reference's, and no two mistakes of one function give
the same result, so that a check can name the code from the result alone.
A "result" is everything a check can observe: the return value, the
parameters after an update, the gradients left in ``.grad``.

"Same" means equal to rtol 1e-7 / atol 1e-9 (NaN equal to NaN): far looser
than float64 rounding on these small inputs, far tighter than the O(0.01-1)
differences that the mistakes make.
"""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from pg_closed_forms import SEPARATING_GAMMA, SEPARATING_REWARDS, LinearBaseline, SeparatingEpisode, linear_policy
from assignments.policy_gradient import mistakes
from assignments.policy_gradient.mistakes import MISTAKES, NEW_CODES
import solutions.policy_gradient as reference

SPEC_CODES = {
    "missing", "not-implemented", "error", "timeout", "wrong-shape", "wrong-dtype", "wrong-device",
    "activation-on-output", "grad-accumulation", "sign-flipped", "tampering",
    "unstable-log-prob", "returns-not-discounted", "returns-wrong-direction", "episode-return-everywhere",
    "missing-discount-weight", "mean-not-sum", "baseline-not-detached", "no-improvement",
}
#: The spec's codes that some function can show, each of which must have a known mistake.
SPEC_MISTAKE_CODES = {
    "activation-on-output", "unstable-log-prob", "returns-not-discounted", "returns-wrong-direction",
    "episode-return-everywhere", "missing-discount-weight", "mean-not-sum", "sign-flipped",
    "grad-accumulation", "baseline-not-detached", "no-improvement",
}


def same(x, y) -> bool:
    if isinstance(x, (tuple, list)):
        return isinstance(y, (tuple, list)) and len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        x, y = torch.as_tensor(x).double(), torch.as_tensor(y).double()
        return x.shape == y.shape and torch.allclose(x, y, rtol=1e-7, atol=1e-9, equal_nan=True)
    if isinstance(x, float) or isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-7, abs_tol=1e-9)
    return x == y


# --- the probes: one per graded function -----------------------------------------------------


def separating_episode():
    env, states = SeparatingEpisode(), []
    obs, _ = env.reset()
    for a in (0, 1, 1, 0):
        states.append(obs)
        obs = env.step(a)[0]
    return torch.tensor(np.array(states)), torch.tensor([0, 1, 1, 0]), list(SEPARATING_REWARDS)


def with_stale_grads(*modules):
    for module in modules:
        for p in module.parameters():
            p.grad = torch.full_like(p, 0.5)


def params_and_grads(*modules):
    return [t.detach().clone() for m in modules for p in m.parameters() for t in (p, p.grad) if t is not None]


def probe_SoftmaxPolicy(cls):
    torch.manual_seed(0)
    policy = cls(3, 2, 4).double()
    with torch.no_grad():
        return policy(torch.from_numpy(np.random.default_rng(1).normal(size=(5, 3))))


def probe_action_probabilities(fn):
    states = torch.from_numpy(np.random.default_rng(2).normal(size=(5, 3)))
    with torch.no_grad():
        return fn(linear_policy(3, 2, seed=3), states)


def probe_log_probs(fn):
    policy = nn.Linear(3, 2)  # float32, preferences about 200 apart
    with torch.no_grad():
        policy.weight.copy_(torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.2, -0.1]]))
        policy.bias.copy_(torch.tensor([100.0, -100.0]))
    states = torch.tensor(np.random.default_rng(4).normal(size=(4, 3)), dtype=torch.float32)
    return fn(policy, states, torch.tensor([0, 1, 1, 0])).detach()


class Draws:
    """Stand-in draws: first the given numbers, then a seeded generator's."""

    def __init__(self, *values):
        self.values, self.rng, self.calls = list(values), np.random.default_rng(5), 0

    def random(self):
        self.calls += 1
        return self.values.pop(0) if self.values else self.rng.random()


def probe_sample_action(fn):
    torch.manual_seed(0)  # for a sampler that uses torch's generator
    probs = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    draws = Draws(0.25, 0.5, 0.0)  # exactly on the cumulative probabilities
    return [fn(probs, draws) for _ in range(40)], draws.calls


def probe_discounted_returns(fn):
    return fn(torch.tensor(SEPARATING_REWARDS, dtype=torch.float64), SEPARATING_GAMMA)


def probe_reinforce_loss(fn):
    log_pi = torch.tensor([-0.3, -1.2, -0.7, -2.0], dtype=torch.float64, requires_grad=True)
    G = torch.tensor([0.8125, -0.375, 3.25, 0.5], dtype=torch.float64, requires_grad=True)  # e.g. δ with a graph
    loss = fn(log_pi, G, SEPARATING_GAMMA)
    loss.backward()
    return loss.detach(), log_pi.grad, G.grad if G.grad is not None else torch.zeros(4, dtype=torch.float64)


def probe_reinforce_update(fn):
    policy = linear_policy(4, 2, seed=6)
    with_stale_grads(policy)
    states, actions, rewards = separating_episode()
    loss = fn(policy, torch.optim.SGD(policy.parameters(), lr=0.1), states, actions, rewards, SEPARATING_GAMMA)
    return loss, [p.detach().clone() for p in policy.parameters()]


def probe_reinforce_baseline_update(fn):
    policy, value = linear_policy(4, 2, seed=7), LinearBaseline(4, seed=8)
    with_stale_grads(policy, value)
    states, actions, rewards = separating_episode()
    losses = fn(policy, value, torch.optim.SGD(policy.parameters(), lr=0.1),
                torch.optim.SGD(value.parameters(), lr=0.05), states, actions, rewards, SEPARATING_GAMMA)
    return list(losses), params_and_grads(policy, value)


def probe_run_reinforce(fn):
    torch.manual_seed(0)
    policy = linear_policy(4, 2, seed=9, scale=0.3)
    returns = fn(SeparatingEpisode(), policy, torch.optim.SGD(policy.parameters(), lr=0.1), 3, SEPARATING_GAMMA, 0)
    return returns, [p.detach().clone() for p in policy.parameters()]


def probe_run_reinforce_baseline(fn):
    torch.manual_seed(0)
    policy, value = linear_policy(4, 2, seed=10, scale=0.3), LinearBaseline(4, seed=11)
    returns = fn(SeparatingEpisode(), policy, value, torch.optim.SGD(policy.parameters(), lr=0.1),
                 torch.optim.SGD(value.parameters(), lr=0.05), 3, SEPARATING_GAMMA, 0)
    return returns, params_and_grads(policy, value)


PROBES = {name[len("probe_"):]: probe for name, probe in globals().items() if name.startswith("probe_")}


# --- the checks ------------------------------------------------------------------------------------


def test_every_graded_function_has_a_probe_and_mistakes():
    assert set(MISTAKES) == set(reference.__all__) == set(PROBES)


def test_every_mistake_code_of_the_spec_is_covered():
    # A tuple of codes names several mistakes at once (γ ignored in both the returns and the weight).
    codes = {part for entries in MISTAKES.values() for code, _ in entries
             for part in (code if isinstance(code, tuple) else (code,))}
    assert SPEC_MISTAKE_CODES <= codes
    assert codes <= SPEC_CODES | set(NEW_CODES), codes - SPEC_CODES - set(NEW_CODES)
    assert not set(NEW_CODES) & SPEC_CODES
    assert set(NEW_CODES) <= codes  # no unused new code


def test_the_probes_reproduce_the_reference():
    for name, probe in PROBES.items():
        assert same(probe(getattr(reference, name)), probe(getattr(reference, name))), name


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_mistake_differs_from_the_reference(name):
    probe = PROBES[name]
    right = probe(getattr(reference, name))
    for code, wrong in MISTAKES[name]:
        assert not same(probe(wrong), right), f"{name}: the {code} mistake looks right on the separating inputs"


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_no_two_mistakes_look_alike(name):
    probe = PROBES[name]
    results = [(code, probe(wrong)) for code, wrong in MISTAKES[name]]
    for (code_a, a), (code_b, b) in itertools.combinations(results, 2):
        assert not same(a, b), f"{name}: {code_a} and {code_b} give the same result"


def test_mistake_factories_without_a_mistake_are_the_reference():
    """The variants' builders, with every option at its default, give the reference:
    so each mistake differs from the reference by its one wrong option only."""
    assert same(probe_reinforce_loss(mistakes._loss_variant()), probe_reinforce_loss(reference.reinforce_loss))
    assert same(probe_reinforce_baseline_update(mistakes._baseline_variant()),
                probe_reinforce_baseline_update(reference.reinforce_baseline_update))


def test_the_hidden_baseline_mistake_shows_only_in_the_value_grad():
    """The value-first ``baseline-not-detached``: right Δθ, Δw and losses, wrong leftover value .grad."""
    hidden = [wrong for code, wrong in MISTAKES["reinforce_baseline_update"] if code == "baseline-not-detached"][-1]
    (losses, tensors), (right_losses, right_tensors) = (probe_reinforce_baseline_update(f) for f in
                                                         (hidden, reference.reinforce_baseline_update))
    # params_and_grads order: W, W.grad, b, b.grad, w, w.grad, c, c.grad
    assert same(losses, right_losses)
    assert same(tensors[:5], right_tensors[:5]) and same(tensors[6], right_tensors[6])
    assert not same(tensors[5], right_tensors[5])


def test_unstable_log_prob_is_infinite_only_in_float32():
    wrong = dict(MISTAKES["log_probs"])["unstable-log-prob"]
    assert torch.isinf(probe_log_probs(wrong)).any()
    assert torch.isfinite(probe_log_probs(reference.log_probs)).all()
