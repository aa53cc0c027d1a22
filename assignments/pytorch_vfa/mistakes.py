"""pytorch_vfa's known mistakes, written as wrong versions of reference functions.

A check runs its probe on each known mistake of the function it grades; when
the student's result matches a mistake's (and not the reference's) the check
names that mistake's diagnosis code (explained in ``feedback.py``). Grader
side only: never sent to a worker.
"""

from __future__ import annotations

import types
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import solutions.pytorch_vfa as reference
from solutions.pytorch_vfa.baird import LOWER_STATE, N_STATES, baird_features
from solutions.pytorch_vfa.control import q_values, state_action
from solutions.pytorch_vfa.td import as_input, td_target

LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "half_mse": lambda delta: 0.5 * delta.pow(2).mean(),
    "mse": lambda delta: delta.pow(2).mean(),  # double-step
    "td_error": lambda delta: delta.mean(),  # the course notebook's loss
    "negated": lambda delta: -0.5 * delta.pow(2).mean(),  # sign-flipped
}


def _step(optimizer, estimate, target, loss: str, zero_grad: bool = True) -> torch.Tensor:
    """A gradient step on ``loss(target − estimate)``; the target is NOT detached here."""
    delta = target - estimate
    if zero_grad:
        optimizer.zero_grad()
    LOSSES[loss](delta).backward()
    optimizer.step()
    return delta.detach()


PROBE_ACTIONS = 2  #: SARSA's signature has no n_actions; the probes' networks have two actions


def _variant(rule: str, target: str | None = None, *, loss: str = "half_mse", detach: bool = True,
             honor_terminal: bool = True, zero_grad: bool = True) -> Callable:
    """A (possibly wrong) semi-gradient update with the signature of ``rule``
    (``td0``, ``sarsa``, ``q_learning``) and the bootstrap ``target``: ``v``
    (v̂(S′)), ``q_next`` (q̂(S′,A′)), ``q_max`` (max_a q̂(S′,a)) or ``q_min`` (a
    non-greedy action's value); by default the rule's own."""
    target = target or {"td0": "v", "sarsa": "q_next", "q_learning": "q_max"}[rule]

    def update(net, optimizer, state, *args):
        if rule == "td0":
            reward, next_state, terminated, gamma = args
            next_action, n_actions = None, PROBE_ACTIONS
        elif rule == "sarsa":
            action, reward, next_state, next_action, terminated, gamma = args
            n_actions = PROBE_ACTIONS
        else:
            action, reward, next_state, terminated, gamma, n_actions = args
            next_action = None
        state, next_state = as_input(state, net), as_input(next_state, net)
        if rule == "td0":
            estimate = net(state).squeeze(-1)
        else:
            estimate = net(state_action(state, action)).squeeze(-1)
        if target == "v":
            next_value = net(next_state).squeeze(-1)
        elif target == "q_next":
            next_value = net(state_action(next_state, next_action)).squeeze(-1)
        else:
            all_next = q_values(net, next_state, n_actions)
            next_value = all_next.max(-1).values if target == "q_max" else all_next.min(-1).values
        if detach:
            next_value = next_value.detach()
        bootstrapped = td_target(reward, next_value, terminated if honor_terminal else False, gamma)
        return _step(optimizer, estimate, bootstrapped, loss, zero_grad)

    return update


def _update_mistakes(rule: str) -> list[tuple[str, Callable]]:
    return [
        # the course notebook's update exactly: δ as the loss, through the target, no termination
        ("td-error-as-loss", _variant(rule, loss="td_error", detach=False, honor_terminal=False)),
        ("td-error-as-loss", _variant(rule, loss="td_error", detach=False)),
        ("td-error-as-loss", _variant(rule, loss="td_error")),
        ("target-not-detached", _variant(rule, detach=False)),
        ("terminal-bootstrap", _variant(rule, honor_terminal=False)),
        ("double-step", _variant(rule, loss="mse")),
        ("sign-flipped", _variant(rule, loss="negated")),
        ("grad-accumulation", _variant(rule, zero_grad=False)),
    ]


# --- Parts 1-3 -------------------------------------------------------------------------


def _copying_tensor_from_data(data):
    return torch.tensor(data)


def _copying_flat_view(x):
    return x.reshape(-1).clone()


def _network_with_output_activation(base: type[nn.Module], activation: Callable) -> type[nn.Module]:
    class WithActivation(base):
        def forward(self, x):
            return activation(super().forward(x))

    return WithActivation


def _accumulating_logistic_gradients(x, y, w, b):
    loss = F.binary_cross_entropy_with_logits(x @ w + b, y)
    loss.backward()
    return w.grad, b.grad


def _accumulating_train_step(model, optimizer, loss_fn, x, target):
    loss = loss_fn(model(x), target)
    loss.backward()
    optimizer.step()
    return loss.item()


def _recording_predict(model, x):
    return model(x)


# --- Parts 4-5: runs --------------------------------------------------------------------


class _TruncationEnds(gym.Wrapper):
    """The mistake as an environment: a truncated episode is reported as terminated."""

    def step(self, action):
        state, reward, terminated, truncated, info = self.env.step(action)
        return state, reward, terminated or truncated, truncated, info


def _truncation_as_termination(run: Callable) -> Callable:
    """A reference run that stops bootstrapping on truncation."""
    return lambda env, *args: run(_TruncationEnds(env), *args)


def _run_sarsa_skipping_terminal_updates(env, q, optimizer, n_steps, gamma, epsilon, seed):
    """The course notebook's control loop: no update on a terminal transition."""
    rng = np.random.default_rng(seed)
    n = int(env.action_space.n)

    def policy(s):
        with torch.no_grad():
            return reference.epsilon_greedy(q_values(q, s, n), epsilon, rng)

    state, _ = env.reset(seed=seed)
    action = policy(state)
    returns, total = [], 0.0
    for _ in range(n_steps):
        next_state, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        next_action = action if terminated else policy(next_state)
        if not terminated:
            reference.semi_gradient_sarsa_update(q, optimizer, state, action, reward, next_state,
                                                 next_action, False, gamma)
        if terminated or truncated:
            returns.append(total)
            total = 0.0
            state, _ = env.reset()
            action = policy(state)
        else:
            state, action = next_state, next_action
    return returns


def _no_exploration(q_values, epsilon, rng):
    return int(torch.as_tensor(q_values).argmax())


def _draws_but_never_explores(q_values, epsilon, rng):
    rng.random()
    return int(torch.as_tensor(q_values).argmax())


def _always_random(q_values, epsilon, rng):
    return int(rng.integers(q_values.shape[-1]))


# --- Part 6: Baird ----------------------------------------------------------------------


def _course_features():
    """The course notebook's features: ``2w_i + w_8`` for every state, the lower one too."""
    x = torch.zeros(N_STATES, 8)
    for i in range(N_STATES):
        x[i, i] = 2.0
        x[i, 7] = 1.0
    return x


def _baird_gradient_variant(*, rho: Callable[[int], float] | None = None, detach: bool = True,
                            sign: float = 1.0, features=baird_features) -> Callable:
    def baird_semi_gradient(w, state, next_state, action, gamma):
        x = features().to(w)
        ratio = rho(action) if rho else (7.0 if action == 1 else 0.0)
        target = gamma * (x[next_state] @ w)
        if detach:
            target = target.detach()
        delta = target - x[state] @ w
        (gradient,) = torch.autograd.grad(sign * 0.5 * ratio * delta**2, w)
        return gradient

    return baird_semi_gradient


def _expected_td_variant(*, features=baird_features, sign: float = 1.0) -> Callable:
    def baird_expected_td(w0, n_sweeps, alpha, gamma):
        x = features().to(w0)
        w = w0.detach().clone()
        history = [w]
        for _ in range(n_sweeps):
            v = x @ w
            w = w + sign * alpha / N_STATES * ((gamma * v[LOWER_STATE] - v) @ x)
            history.append(w)
        return torch.stack(history)

    return baird_expected_td


def _rebound(function: Callable, **names: Callable) -> Callable:
    """``function`` calling ``names`` instead of the globals of those names."""
    return types.FunctionType(function.__code__, {**function.__globals__, **names}, function.__name__,
                              function.__defaults__, function.__closure__)


def _run_baird_variant(gradient: Callable) -> Callable:
    """The reference run, stepping with a wrong gradient."""
    return _rebound(reference.run_baird_td, baird_semi_gradient=gradient)


_NO_RATIO = _baird_gradient_variant(rho=lambda action: 1.0)

#: For each graded name, its known mistakes: (diagnosis code, wrong version).
MISTAKES: dict[str, list[tuple[str, Callable]]] = {
    "tensor_from_data": [("copy-not-view", _copying_tensor_from_data)],
    "flat_view": [("copy-not-view", _copying_flat_view)],
    "NeuralNetwork": [
        ("activation-on-output", _network_with_output_activation(reference.NeuralNetwork, F.relu)),
        ("activation-on-output", _network_with_output_activation(reference.NeuralNetwork, lambda z: F.softmax(z, -1))),
    ],
    "ValueFunction": [("activation-on-output", _network_with_output_activation(reference.ValueFunction, F.relu))],
    "logistic_gradients": [("grad-accumulation", _accumulating_logistic_gradients)],
    "train_step": [("grad-accumulation", _accumulating_train_step)],
    "predict_no_grad": [("graph-recorded", _recording_predict)],
    "td_target": [("terminal-bootstrap", lambda r, v, t, g: td_target(r, v, False, g))],
    "semi_gradient_td0_update": _update_mistakes("td0"),
    "semi_gradient_sarsa_update": _update_mistakes("sarsa") + [("sarsa-uses-max", _variant("sarsa", "q_max"))],
    "semi_gradient_q_learning_update": _update_mistakes("q_learning") + [
        ("q-learning-uses-next-action", _variant("q_learning", "q_min"))],
    "epsilon_greedy": [("no-exploration", _draws_but_never_explores), ("no-exploration", _no_exploration),
                       ("always-random", _always_random)],
    "run_td0": [("truncation-as-termination", _truncation_as_termination(reference.run_td0))],
    "run_sarsa": [
        ("truncation-as-termination", _truncation_as_termination(reference.run_sarsa)),
        ("terminal-update-skipped", _run_sarsa_skipping_terminal_updates),
    ],
    "baird_features": [("wrong-features", _course_features)],
    "baird_semi_gradient": [
        ("no-importance-ratio", _NO_RATIO),
        ("target-not-detached", _baird_gradient_variant(detach=False)),
        ("sign-flipped", _baird_gradient_variant(sign=-1.0)),
        ("wrong-features", _baird_gradient_variant(features=_course_features)),
    ],
    "baird_expected_td": [
        ("wrong-features", _expected_td_variant(features=_course_features)),
        ("sign-flipped", _expected_td_variant(sign=-1.0)),
    ],
    "run_baird_td": [
        ("no-importance-ratio", _run_baird_variant(_NO_RATIO)),
        ("wrong-features", _run_baird_variant(_baird_gradient_variant(features=_course_features))),
        ("sign-flipped", _run_baird_variant(_baird_gradient_variant(sign=-1.0))),
    ],
}
