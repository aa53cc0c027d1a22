"""Known mistakes of the ``policy_gradient`` assignment, written as wrong
versions of the reference functions (same signatures).

A check runs its probe on each known mistake of the function it grades; when
the student's result matches a mistake's (and not the reference's) the check
names that mistake's diagnosis code. Grader side only: never sent to a worker.

Every mistake differs from the reference on the spec's separating inputs
(T = 4, γ = 0.5, rewards (1, −2, 3, 0.5), with stale gradients in ``.grad``;
float32 preferences 200 apart for the log-probabilities; a batch of states for
the softmax's axis; for a run, an environment whose every episode is that
example), and no two mistakes of one function agree there:
``tests/solutions/policy_gradient/test_pg_mistakes.py`` checks both. Notes:

* A tuple of codes names several mistakes at once: when γ is ignored in both
  the returns and the weight, the spec asks for both codes.
* ``baseline-not-detached`` has two versions: one changes Δw, the other (the
  value step taken before the policy's backward) changes only the value
  parameters' leftover ``.grad``.
* ``sampling-boundary`` differs only where u equals a cumulative probability
  exactly; a probe shows it with a stand-in generator whose ``random()``
  returns chosen numbers (e.g. 0.25 for probabilities (0.25, 0.25, 0.5)).
* ``rng.choice(n, p=probs)`` is not listed: numpy draws one ``random()`` and
  searches the cumulative sum the same way, so it agrees with the reference.
"""

from __future__ import annotations

import types
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from solutions.policy_gradient import (
    SoftmaxPolicy,
    discounted_returns,
    reinforce_loss,
    reinforce_update,
    run_reinforce,
    run_reinforce_baseline,
)
from solutions.policy_gradient.policies import as_input, log_probs
from solutions.policy_gradient.returns import as_rewards

#: Codes used here that the spec's table does not have.
NEW_CODES: dict[str, str] = {
    "softmax-wrong-axis": "the softmax (or log-softmax) is taken over the batch axis, not over the actions",
    "sampling-boundary": "the action is the smallest a with u <= cumsum[a] instead of u < cumsum[a]",
    "unpinned-randomness": "the action is drawn from another generator (torch.multinomial), not from the one rng.random()",
    "greedy-not-sampled": "the most probable action is taken instead of a sample from π",
    "discounted-value-step": "the value step is weighted by γ^t too (§13.4 weights only the θ step)",
    "delta-after-value-step": "the θ step uses a δ recomputed after the w step, not the δ from the weights before the update",
}


def _rebound(function: Callable, **names: Callable) -> Callable:
    """``function`` calling ``names`` instead of the globals of those names."""
    return types.FunctionType(function.__code__, {**function.__globals__, **names}, function.__name__,
                              function.__defaults__, function.__closure__)


# --- Part 1: softmax policies ------------------------------------------------------------


class _SoftmaxOnOutput(SoftmaxPolicy):
    """``forward`` returns probabilities, not preferences (softmax applied twice downstream)."""

    def forward(self, x):
        return torch.softmax(super().forward(x), dim=-1)


def _probabilities_over_batch(policy, state):
    return torch.softmax(policy(as_input(state, policy)), dim=0)


def _log_of_softmax(policy, states, actions):
    preferences = policy(as_input(states, policy))
    actions = torch.as_tensor(actions, dtype=torch.long, device=preferences.device)
    return torch.log(torch.softmax(preferences, dim=-1)).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def _log_softmax_over_batch(policy, states, actions):
    preferences = policy(as_input(states, policy))
    actions = torch.as_tensor(actions, dtype=torch.long, device=preferences.device)
    return F.log_softmax(preferences, dim=0).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def _probabilities(probs) -> np.ndarray:
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().to("cpu", torch.float64).numpy()
    return np.asarray(probs, dtype=np.float64)


def _sample_at_or_below(probs, rng):
    cumulative = np.cumsum(_probabilities(probs))
    return min(int(np.searchsorted(cumulative, rng.random(), side="left")), len(cumulative) - 1)


def _sample_with_torch(probs, rng):
    return int(torch.multinomial(torch.as_tensor(probs).detach().cpu().float(), 1))


def _greedy(probs, rng):
    rng.random()  # keeps the pinned draws, so only the choice is wrong
    return int(np.argmax(_probabilities(probs)))


# --- Part 2: returns ---------------------------------------------------------------------


def _undiscounted_returns(rewards, gamma):
    return discounted_returns(rewards, 1.0)


def _forward_returns(rewards, gamma):
    """G′_t = R_{t+1} + γ G′_{t−1}: accumulated from the start of the episode."""
    rewards = as_rewards(rewards)
    G = torch.zeros_like(rewards)
    previous = 0.0
    for t in range(rewards.shape[0]):
        previous = rewards[t] + gamma * previous
        G[t] = previous
    return G


def _reversed_returns(rewards, gamma):
    return discounted_returns(rewards, gamma).flip(0)


def _episode_return_everywhere(rewards, gamma):
    G = discounted_returns(rewards, gamma)
    return G[:1].expand_as(G).clone() if G.numel() else G


RETURNS_MISTAKES: list[tuple[str | tuple[str, ...], Callable]] = [
    ("returns-not-discounted", _undiscounted_returns),
    ("returns-wrong-direction", _forward_returns),
    ("returns-wrong-direction", _reversed_returns),
    ("episode-return-everywhere", _episode_return_everywhere),
]


# --- Part 3: REINFORCE -------------------------------------------------------------------


def _loss_variant(*, discount: bool = True, reduce: str = "sum", sign: float = 1.0,
                  first_return: bool = False, detach: bool = True) -> Callable:
    """A (possibly wrong) ``reinforce_loss``."""

    def loss(log_probs, returns, gamma):
        G = torch.as_tensor(returns)
        G = (G.detach() if detach else G).to(log_probs)
        if first_return:
            G = G[:1].expand_as(G)
        t = torch.arange(log_probs.shape[0], dtype=log_probs.dtype, device=log_probs.device)
        weight = gamma ** t if discount else torch.ones_like(t)
        terms = weight * G * log_probs
        return -sign * (terms.sum() if reduce == "sum" else terms.mean())

    return loss


_NO_DISCOUNT_WEIGHT = _loss_variant(discount=False)
_MEAN = _loss_variant(reduce="mean")
_NEGATED = _loss_variant(sign=-1.0)

LOSS_MISTAKES: list[tuple[str, Callable]] = [
    ("missing-discount-weight", _NO_DISCOUNT_WEIGHT),
    ("mean-not-sum", _MEAN),
    ("sign-flipped", _NEGATED),
    ("episode-return-everywhere", _loss_variant(first_return=True)),
    # Only visible through a returns tensor that requires grad (δ from a value network).
    ("baseline-not-detached", _loss_variant(detach=False)),
]


def _accumulating_reinforce_update(policy, optimizer, states, actions, rewards, gamma):
    G = discounted_returns(as_input(rewards, policy), gamma)
    loss = reinforce_loss(log_probs(policy, states, actions), G, gamma)
    loss.backward()  # no zero_grad: adds to whatever .grad holds
    optimizer.step()
    return loss.item()


def _update_with(**names: Callable) -> Callable:
    return _rebound(reinforce_update, **names)


UPDATE_MISTAKES: list[tuple[str | tuple[str, ...], Callable]] = [
    *[(code, _update_with(discounted_returns=wrong)) for code, wrong in RETURNS_MISTAKES],
    ("missing-discount-weight", _update_with(reinforce_loss=_NO_DISCOUNT_WEIGHT)),
    (("returns-not-discounted", "missing-discount-weight"),
     _update_with(discounted_returns=_undiscounted_returns, reinforce_loss=_NO_DISCOUNT_WEIGHT)),
    ("mean-not-sum", _update_with(reinforce_loss=_MEAN)),
    ("sign-flipped", _update_with(reinforce_loss=_NEGATED)),
    ("grad-accumulation", _accumulating_reinforce_update),
]


def _no_update(policy, optimizer, states, actions, rewards, gamma):
    return 0.0


def _run_with(run: Callable, update_name: str, update: Callable) -> Callable:
    """The reference run, calling a wrong update."""
    return _rebound(run, **{update_name: update})


def _run_mistakes(run: Callable, update_name: str, updates: list[tuple[str, Callable]],
                  no_update: Callable) -> list[tuple[str, Callable]]:
    return [
        *[(code, _run_with(run, update_name, wrong)) for code, wrong in updates],
        ("no-improvement", _run_with(run, update_name, no_update)),
    ]


# --- Part 4: REINFORCE with baseline ------------------------------------------------------


def _baseline_variant(*, returns: Callable = discounted_returns, policy_loss: Callable = reinforce_loss,
                      squeeze: bool = True, value_reduce: str = "sum", discount_value: bool = False,
                      value_sign: float = 1.0, zero_grad: bool = True, order: str = "together") -> Callable:
    """A (possibly wrong) ``reinforce_baseline_update``. δ reaches ``policy_loss``
    with its graph: the reference loss detaches it, ``_loss_variant(detach=False)`` does not.

    ``order``: ``together`` (both backward, then both steps: the reference),
    ``value-first`` (the value step, then the policy's backward and step: a
    graph through v̂ then leaves its gradient in the value's ``.grad``) or
    ``recompute`` (the value step, then δ recomputed with the new w).
    """

    def update(policy, value, policy_optimizer, value_optimizer, states, actions, rewards, gamma):
        G = returns(as_input(rewards, value), gamma)
        value_states = as_input(states, value)

        def deltas() -> torch.Tensor:
            v = value(value_states)
            return G - (v.squeeze(-1) if squeeze else v)  # unsqueezed: (T,) − (T, 1) is (T, T)

        delta = deltas()
        t = torch.arange(delta.shape[0], dtype=delta.dtype, device=delta.device)
        weight = (gamma ** t if discount_value else torch.ones_like(t)).reshape(-1, *[1] * (delta.dim() - 1))
        squared = weight * delta.pow(2)
        value_loss = value_sign * 0.5 * (squared.sum() if value_reduce == "sum" else squared.mean())
        log_pi = log_probs(policy, states, actions)

        if zero_grad:
            policy_optimizer.zero_grad()
            value_optimizer.zero_grad()
        if order == "together":
            loss_pi = policy_loss(log_pi, delta, gamma)
            value_loss.backward(retain_graph=True)  # δ's graph may still be needed by loss_pi
            loss_pi.backward()
            policy_optimizer.step()
            value_optimizer.step()
        else:
            value_loss.backward(retain_graph=True)
            value_optimizer.step()
            loss_pi = policy_loss(log_pi, delta if order == "value-first" else deltas(), gamma)
            loss_pi.backward()
            policy_optimizer.step()
        return loss_pi.item(), value_loss.item()

    return update


_UNDETACHED = _loss_variant(detach=False)

#: The mistakes a run can show: every one changes θ or w.
_BASELINE_STEP_MISTAKES: list[tuple[str | tuple[str, ...], Callable]] = [
    ("baseline-not-detached", _baseline_variant(policy_loss=_UNDETACHED)),
    *[(code, _baseline_variant(returns=wrong)) for code, wrong in RETURNS_MISTAKES],
    ("missing-discount-weight", _baseline_variant(policy_loss=_NO_DISCOUNT_WEIGHT)),
    (("returns-not-discounted", "missing-discount-weight"),
     _baseline_variant(returns=_undiscounted_returns, policy_loss=_NO_DISCOUNT_WEIGHT)),
    ("mean-not-sum", _baseline_variant(policy_loss=_MEAN, value_reduce="mean")),
    ("sign-flipped", _baseline_variant(policy_loss=_NEGATED)),
    ("sign-flipped", _baseline_variant(value_sign=-1.0)),
    ("grad-accumulation", _baseline_variant(zero_grad=False)),
    ("wrong-shape", _baseline_variant(squeeze=False)),
    ("discounted-value-step", _baseline_variant(discount_value=True)),
    ("delta-after-value-step", _baseline_variant(order="recompute")),
]

BASELINE_MISTAKES: list[tuple[str | tuple[str, ...], Callable]] = _BASELINE_STEP_MISTAKES + [
    # Δθ and Δw are right; only the value parameters' leftover .grad shows it.
    ("baseline-not-detached", _baseline_variant(policy_loss=_UNDETACHED, order="value-first")),
]


def _no_baseline_update(policy, value, policy_optimizer, value_optimizer, states, actions, rewards, gamma):
    return 0.0, 0.0


def _run_with_sampler(run: Callable, sample_action: Callable) -> Callable:
    """The reference run, acting with a wrong ``sample_action``."""
    generate_episode = run.__globals__["generate_episode"]
    return _rebound(run, generate_episode=_rebound(generate_episode, sample_action=sample_action))


SAMPLE_MISTAKES: list[tuple[str, Callable]] = [
    ("sampling-boundary", _sample_at_or_below),
    ("unpinned-randomness", _sample_with_torch),
    ("greedy-not-sampled", _greedy),
]

#: The sampling mistakes a run shows on its returns and parameters (a boundary tie almost never happens).
_RUN_SAMPLE_MISTAKES = [(code, wrong) for code, wrong in SAMPLE_MISTAKES if code != "sampling-boundary"]

#: For each graded name, its known mistakes: (diagnosis code or codes, wrong version).
MISTAKES: dict[str, list[tuple[str | tuple[str, ...], Callable]]] = {
    "SoftmaxPolicy": [("activation-on-output", _SoftmaxOnOutput)],
    "action_probabilities": [("softmax-wrong-axis", _probabilities_over_batch)],
    "log_probs": [("unstable-log-prob", _log_of_softmax), ("softmax-wrong-axis", _log_softmax_over_batch)],
    "sample_action": SAMPLE_MISTAKES,
    "discounted_returns": RETURNS_MISTAKES,
    "reinforce_loss": LOSS_MISTAKES,
    "reinforce_update": UPDATE_MISTAKES,
    "run_reinforce": _run_mistakes(run_reinforce, "reinforce_update", UPDATE_MISTAKES, _no_update) + [
        (code, _run_with_sampler(run_reinforce, wrong)) for code, wrong in _RUN_SAMPLE_MISTAKES],
    "reinforce_baseline_update": BASELINE_MISTAKES,
    "run_reinforce_baseline": _run_mistakes(run_reinforce_baseline, "reinforce_baseline_update",
                                            _BASELINE_STEP_MISTAKES, _no_baseline_update) + [
        (code, _run_with_sampler(run_reinforce_baseline, wrong)) for code, wrong in _RUN_SAMPLE_MISTAKES],
}
