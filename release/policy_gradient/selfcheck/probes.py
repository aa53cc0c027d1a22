"""policy_gradient's probes: each exercises one behaviour of the student API and returns what happened.

A probe receives an :class:`~autograder.worker.api.Api` (the student's
namespace in a worker, the reference or a known mistake on the grader's side)
and plain arguments, and returns data. It never compares anything and holds no
expected values. Besides the probes: the networks they hand to the student's
functions, and the short corridor with switched actions (Sutton & Barto
Example 13.1, Figure 13.1) with its objective J(p), on which runs are judged
by what they learn.

This is the only module of the plug-in that enters the worker: it imports the
standard library, numpy, torch, gymnasium and the engine's probe API, never
the reference nor the rest of the plug-in.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

from .api import Api, parameters_of, probe, seed_layers, type_name

#: The optimal probability of "right", p* = 2 − √2 (maximises J below).
P_STAR = 2.0 - math.sqrt(2.0)
#: J(p*) = −(6 + 4√2) ≈ −11.66, the best value a policy blind to the state can reach.
J_STAR = -(6.0 + 4.0 * math.sqrt(2.0))
#: The book's curves start near p = 0.05: preferences (+1.47, −1.47) give p = σ(−2.94) ≈ 0.050.
START_PREFERENCE = 1.47


def corridor_objective(p: float) -> float:
    """J(p) = v_π(S_0) = (2p − 4) / (p(1 − p)) of the untruncated corridor, for
    the policy that goes right with probability p in every state (0 < p < 1)."""
    return (2.0 * p - 4.0) / (p * (1.0 - p))


class ShortCorridor(gym.Env):
    """The short corridor with switched actions (Example 13.1).

    States 0, 1, 2 and the goal 3; every episode starts in state 0. Action 0
    is left and 1 is right, except in state 1 where they are switched. Left in
    state 0 stays in state 0. The reward is −1 on every step, the step into the
    goal included. Every state gives the same observation
    ``np.ones(1, float32)``, so a policy can only choose one p = π(right) for
    all of them. An episode not over after ``max_episode_steps`` steps is
    truncated (``truncated=True``, not terminated).

    The environment keeps its own log: how many steps were taken and the
    undiscounted return and length of every finished episode.
    """

    metadata = {"render_modes": []}
    GOAL = 3

    def __init__(self, max_episode_steps: int = 200):
        self.max_episode_steps = max_episode_steps
        self.observation_space = gym.spaces.Box(1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.steps, self.episode_returns, self.episode_lengths = 0, [], []
        self.state, self.t, self.episode_return, self.ended = 0, 0, 0.0, True

    def observe(self) -> np.ndarray:
        return np.ones(1, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state, self.t, self.episode_return, self.ended = 0, 0, 0.0, False
        return self.observe(), {}

    def move(self, action: int) -> int:
        """The next state: ±1, with the actions switched in state 1 and the wall on the left of state 0."""
        step = 1 if action == 1 else -1
        if self.state == 1:
            step = -step
        return max(self.state + step, 0)

    def step(self, action):
        if self.ended:
            raise RuntimeError("ShortCorridor.step() called after the episode ended (terminated or truncated): "
                               "call env.reset() first")
        if int(action) not in (0, 1):
            raise ValueError(f"ShortCorridor has actions 0 (left) and 1 (right), got {action!r}")
        self.steps += 1
        self.t += 1
        self.state = self.move(int(action))
        reward = -1.0
        terminated = self.state == self.GOAL
        truncated = not terminated and self.t >= self.max_episode_steps
        self.episode_return += reward
        if terminated or truncated:
            self.ended = True
            self.episode_returns.append(self.episode_return)
            self.episode_lengths.append(self.t)
        return self.observe(), reward, terminated, truncated, {}


def set_corridor_start(policy: nn.Module) -> None:
    """Put a ``SoftmaxPolicy(1, 2, hidden)`` at the book's start, p ≈ 0.05:
    ``linear1`` weight 0 and bias 1 (every hidden unit outputs 1), ``linear2``
    weight 0 and bias (+1.47, −1.47)."""
    with torch.no_grad():
        policy.linear1.weight.zero_()
        policy.linear1.bias.fill_(1.0)
        policy.linear2.weight.zero_()
        policy.linear2.bias.copy_(torch.tensor([START_PREFERENCE, -START_PREFERENCE]))


def corridor_p_right(policy: nn.Module) -> float:
    """p = π(right) of a policy network on the corridor's only observation."""
    parameter = next(policy.parameters())
    x = torch.ones(1, dtype=parameter.dtype, device=parameter.device)
    with torch.no_grad():
        return float(torch.softmax(policy(x), dim=-1)[1])


# --- networks with given weights, owned by the grader ---------------------------------------


class PreferenceNet(nn.Module):
    """A small ReLU network that the probes hand to the student's functions as
    the policy (its output: one preference per action) or as the value
    function (one output): so each function is tested apart from the student's
    own ``SoftmaxPolicy``. Named layers as ``SoftmaxPolicy``'s, so the corridor
    probes can set the book's start."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class CorridorPolicy(nn.Module):
    """``SoftmaxPolicy(1, 2, 1)`` of the spec, the grader's own: ``linear1``, ``linear2``."""

    def __init__(self, hidden: int = 1):
        super().__init__()
        self.linear1 = nn.Linear(1, hidden)
        self.linear2 = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(torch.relu(self.linear1(x)))


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def make_net(sizes: list[int], seed: int, device: str, dtype: str = "float32", scale: float = 0.5) -> PreferenceNet:
    """A network whose weights depend only on ``seed``: the same on both sides."""
    generator = torch.Generator().manual_seed(seed)
    net = PreferenceNet(sizes)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return net.to(device=device, dtype=DTYPES[dtype])


def _any(t: torch.Tensor) -> bool | None:
    """Whether a tensor holds anything but zeros; None on the meta device, which has no values."""
    return None if t.device.type == "meta" else bool(t.abs().sum() > 0)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- Part 1: softmax policies ---------------------------------------------------------------


@probe
def softmax_policy(api: Api, args: list[int], x: torch.Tensor, seed: int, device: str = "cpu") -> dict:
    """``api.SoftmaxPolicy(*args)`` with seeded weights in ``linear1``, ``linear2`` (in that order), on ``x``."""
    net = api.SoftmaxPolicy(*args)
    shapes = seed_layers(net, ["linear1", "linear2"], seed)
    net = net.to(device)
    return {"is_module": isinstance(net, nn.Module), "layers": shapes, "output": net(x.to(device))}


@probe
def action_probabilities(api: Api, sizes: list[int], x: torch.Tensor, seed: int, device: str = "cpu",
                         dtype: str = "float32") -> Any:
    policy = make_net(sizes, seed, device, dtype)
    return api.action_probabilities(policy, x.to(device))


@probe
def log_probs(api: Api, sizes: list[int], states: torch.Tensor, actions: torch.Tensor, seed: int,
              device: str = "cpu", dtype: str = "float32", gap: float | None = None,
              with_gradient: bool = True) -> dict:
    """ln π(a|s) of a seeded policy, and the gradient of their sum in θ (they must be differentiable).
    ``gap``: the last layer's bias puts the first action ``gap`` preferences above the others (where
    ln(softmax) is −inf, its gradient is NaN in places that depend on how it was written: not returned)."""
    policy = make_net(sizes, seed, device, dtype)
    if gap is not None:
        with torch.no_grad():
            policy.layers[-1].weight.zero_()
            policy.layers[-1].bias.fill_(0.0)
            policy.layers[-1].bias[0] = gap
    result = api.log_probs(policy, states.to(device), actions.to(device))
    gradient = None
    if with_gradient and isinstance(result, torch.Tensor) and result.requires_grad:
        gradient = list(torch.autograd.grad(result.sum(), list(policy.parameters()), allow_unused=True))
        gradient = [g if g is not None else torch.zeros_like(p) for g, p in zip(gradient, policy.parameters())]
    return {"log_probs": result.detach() if isinstance(result, torch.Tensor) else result,
            "differentiable": isinstance(result, torch.Tensor) and result.requires_grad, "gradient": gradient}


class ChosenDraws:
    """A stand-in for ``numpy.random.Generator`` whose ``random()`` returns given
    numbers: a draw that equals a cumulative probability shows a boundary mistake.
    Any other method is refused (the spec allows exactly one ``rng.random()``)."""

    def __init__(self, draws: list[float]):
        self._draws, self.used = list(draws), 0

    def random(self, *args: Any, **kwargs: Any) -> float:
        if args or kwargs or self.used >= len(self._draws):
            raise RuntimeError("sample_action may call rng.random() exactly once, with no arguments")
        self.used += 1
        return self._draws[self.used - 1]

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"sample_action may draw only with rng.random(), not rng.{name}")


@probe
def sample_action(api: Api, probs: Any, seed: int, calls: int, as_tensor: bool = True,
                  dtype: str = "float32", device: str = "cpu", draws: list[float] | None = None) -> dict:
    """Many calls with one generator (or with chosen draws): the actions, their
    types and how many draws the calls used (the generator's next draw)."""
    if isinstance(probs, torch.Tensor) and as_tensor:
        probs = probs.to(device=device, dtype=DTYPES[dtype])
    elif isinstance(probs, torch.Tensor):
        probs = probs.tolist()
    rng = ChosenDraws(draws) if draws is not None else np.random.default_rng(seed)
    actions = [api.sample_action(probs, rng) for _ in range(calls)]
    after = rng.used if isinstance(rng, ChosenDraws) else float(rng.random())
    return {"actions": [int(a) if isinstance(a, (int, np.integer)) else None for a in actions],
            "types": sorted({type_name(a) for a in actions}), "next_draw": after}


# --- Part 2: returns ------------------------------------------------------------------------


@probe
def discounted_returns(api: Api, rewards: Any, gamma: float, device: str = "cpu", kind: str = "tensor") -> Any:
    """``api.discounted_returns`` of rewards given as a tensor (on ``device``), a list or an array."""
    if kind == "list":
        rewards = rewards.tolist()
    elif kind == "array":
        rewards = rewards.numpy()
    else:
        rewards = rewards.to(device)
    return api.discounted_returns(rewards, gamma)


# --- Part 3: REINFORCE ----------------------------------------------------------------------


@probe
def reinforce_loss(api: Api, log_probs: torch.Tensor, returns: torch.Tensor, gamma: float,
                   device: str = "cpu") -> dict:
    """The loss, its gradient in each ln π, and whether any gradient reached the returns
    (they must be constants: the probe passes them with ``requires_grad``)."""
    log_pi = log_probs.to(device).requires_grad_()
    G = returns.to(device).requires_grad_()
    loss = api.reinforce_loss(log_pi, G, gamma)
    grads: list = [None, None]
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        grads = list(torch.autograd.grad(loss.sum(), [log_pi, G], allow_unused=True))
    return {"loss": loss.detach() if isinstance(loss, torch.Tensor) else loss,
            "gradient": grads[0] if grads[0] is not None else torch.zeros_like(log_pi),
            "returns_gradient": grads[1] is not None and _any(grads[1]) is not False}


def _episode(states: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, device: str,
             rewards_as: str) -> tuple:
    rewards = rewards.tolist() if rewards_as == "list" else rewards.to(device)
    return states.to(device), actions.to(device), rewards


@probe
def reinforce_update(api: Api, sizes: list[int], seed: int, lr: float, states: torch.Tensor,
                     actions: torch.Tensor, rewards: torch.Tensor, gamma: float, device: str = "cpu",
                     dtype: str = "float32", rewards_as: str = "tensor") -> dict:
    """One update of a seeded policy with SGD, its stale gradients set beforehand: the returned loss and
    the change of θ."""
    policy = make_net(sizes, seed, device, dtype)
    before = parameters_of(policy)
    optimizer = torch.optim.SGD(policy.parameters(), lr=lr)
    for p in policy.parameters():  # stale gradients of an earlier episode: a correct update clears them
        p.grad = torch.full_like(p, 0.25)
    loss = api.reinforce_update(policy, optimizer, *_episode(states, actions, rewards, device, rewards_as), gamma)
    return {"loss": _float(loss), "loss_type": type_name(loss),
            "step": [a - b for a, b in zip(parameters_of(policy), before)]}


@probe
def reinforce_baseline_update(api: Api, policy_sizes: list[int], value_sizes: list[int], seed: int,
                              lr_theta: float, lr_w: float, states: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, gamma: float, device: str = "cpu",
                              dtype: str = "float32", rewards_as: str = "tensor") -> dict:
    """One update of a seeded policy and value network (SGD each, stale gradients set): the losses, the
    changes of θ and w, and what of the value parameters' leftover ``.grad`` the value step did not use:
    with SGD the step was −α^w times the gradient it used, so ``leftover = .grad + Δw/α^w``, 0 when no
    other gradient was left there (or when ``.grad`` is empty), the policy loss's gradient in w when δ
    was not detached."""
    policy = make_net(policy_sizes, seed, device, dtype)
    value = make_net(value_sizes, seed + 1, device, dtype)
    theta, w = parameters_of(policy), parameters_of(value)
    policy_optimizer = torch.optim.SGD(policy.parameters(), lr=lr_theta)
    value_optimizer = torch.optim.SGD(value.parameters(), lr=lr_w)
    for p in [*policy.parameters(), *value.parameters()]:  # stale gradients: a correct update clears them
        p.grad = torch.full_like(p, 0.25)
    losses = api.reinforce_baseline_update(policy, value, policy_optimizer, value_optimizer,
                                           *_episode(states, actions, rewards, device, rewards_as), gamma)
    value_step = [a - b for a, b in zip(parameters_of(value), w)]
    leftover = []
    for p, dw in zip(value.parameters(), value_step):
        grad = p.grad.detach() if p.grad is not None else torch.zeros_like(p)
        leftover.append(grad + dw / lr_w if _any(grad) else torch.zeros_like(grad))
    pair = list(losses) if isinstance(losses, (tuple, list)) else [losses]
    return {"losses": [_float(x) for x in pair], "loss_types": [type_name(x) for x in pair],
            "policy_step": [a - b for a, b in zip(parameters_of(policy), theta)], "value_step": value_step,
            "leftover": leftover}


# --- Parts 3 and 4: runs --------------------------------------------------------------------


def _cartpole(max_episode_steps: int):
    return gym.make("CartPole-v1", max_episode_steps=max_episode_steps)


@probe
def run_reinforce(api: Api, n_episodes: int, gamma: float, seed: int, lr: float, max_episode_steps: int,
                  hidden: int = 16, device: str = "cpu") -> dict:
    """``run_reinforce`` on CartPole (truncated short) with a seeded policy and SGD: the returns and θ."""
    env = _cartpole(max_episode_steps)
    policy = make_net([4, hidden, 2], seed, device)
    optimizer = torch.optim.SGD(policy.parameters(), lr=lr)
    returns = api.run_reinforce(env, policy, optimizer, n_episodes, gamma, seed)
    env.close()
    return {"returns": [_float(r) for r in returns], "parameters": parameters_of(policy)}


@probe
def run_reinforce_baseline(api: Api, n_episodes: int, gamma: float, seed: int, lr_theta: float, lr_w: float,
                           max_episode_steps: int, hidden: int = 16, device: str = "cpu") -> dict:
    """``run_reinforce_baseline`` on CartPole (truncated short) with a seeded policy, a linear value
    function and SGD."""
    env = _cartpole(max_episode_steps)
    policy = make_net([4, hidden, 2], seed, device)
    value = make_net([4, 1], seed + 1, device)  # linear: any order of the two steps can backpropagate
    optimizers = torch.optim.SGD(policy.parameters(), lr=lr_theta), torch.optim.SGD(value.parameters(), lr=lr_w)
    returns = api.run_reinforce_baseline(env, policy, value, *optimizers, n_episodes, gamma, seed)
    env.close()
    return {"returns": [_float(r) for r in returns], "parameters": parameters_of(policy),
            "value_parameters": parameters_of(value)}


@probe
def corridor_run(api: Api, n_episodes: int, seed: int, lr_theta: float, gamma: float = 1.0,
                 lr_w: float | None = None, max_episode_steps: int = 200, device: str = "cpu") -> dict:
    """A run (REINFORCE, or with baseline when ``lr_w`` is given) on the short corridor from the book's
    start p ≈ 0.05, SGD on ``linear2.bias`` only (and on a constant baseline's bias): p(right) at the
    end, and the environment's log (steps taken, episode returns) with the run's own."""
    env = ShortCorridor(max_episode_steps)
    policy = CorridorPolicy()
    set_corridor_start(policy)
    policy = policy.to(device)
    for p in policy.parameters():
        p.requires_grad_(False)
    policy.linear2.bias.requires_grad_(True)
    policy_optimizer = torch.optim.SGD([policy.linear2.bias], lr=lr_theta)
    if lr_w is None:
        reported = api.run_reinforce(env, policy, policy_optimizer, n_episodes, gamma, seed)
    else:
        value = nn.Linear(1, 1).to(device)  # the observation is always 1: a constant baseline, its bias
        with torch.no_grad():
            value.weight.zero_()
            value.bias.zero_()
        value.weight.requires_grad_(False)
        value_optimizer = torch.optim.SGD([value.bias], lr=lr_w)
        reported = api.run_reinforce_baseline(env, policy, value, policy_optimizer, value_optimizer, n_episodes,
                                              gamma, seed)
    return {"p_right": corridor_p_right(policy), "steps": env.steps, "returns": list(env.episode_returns),
            "reported": [_float(r) for r in reported]}
