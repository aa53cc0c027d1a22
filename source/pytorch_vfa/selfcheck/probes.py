"""pytorch_vfa's probes: each exercises one behaviour of the student API and returns what happened.

A probe receives an :class:`~autograder.worker.api.Api` (the student's
namespace in a worker, the reference or a known mistake on the grader's side)
and plain arguments, and returns data: tensors, numbers, lists, dicts. It never
compares anything and holds no expected values, so it is safe to run next to
student code. This is the only module of the plug-in that enters the worker: it
imports nothing else of it, nor the reference.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .api import Api, parameters_of, probe, seed_layers, type_name


# --- helpers: networks with given weights, owned by the grader -------------------------


class Mlp(nn.Module):
    """A small ReLU network that the probes hand to student functions, so an
    update is tested independently of the student's own network classes."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def make_mlp(sizes: list[int], seed: int, device: str, dtype=torch.float32) -> Mlp:
    """A network whose weights depend only on ``seed``: the same on both sides."""
    generator = torch.Generator().manual_seed(seed)
    net = Mlp(sizes)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return net.to(device=device, dtype=dtype)


def on(device: str, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(device) for t in tensors]


# --- Part 1: tensors ------------------------------------------------------------------


@probe
def tensor_from_list(api: Api, data: list) -> Any:
    return api.tensor_from_data(data)


@probe
def tensor_from_array(api: Api, values: torch.Tensor, dtype: str) -> dict:
    array = values.numpy().astype(dtype)
    result = api.tensor_from_data(array)
    shares = isinstance(result, torch.Tensor) and result.device.type == "cpu" and bool(
        np.shares_memory(array, result.detach().numpy())
    )
    return {"tensor": result, "shares_memory": shares}


@probe
def call_on_tensor(api: Api, function: str, x: torch.Tensor, device: str = "cpu", **kwargs: Any) -> Any:
    """``api.<function>(x, **kwargs)`` for the pure reshaping functions of Part 1."""
    return getattr(api, function)(x.to(device), **kwargs)


@probe
def flat_view(api: Api, x: torch.Tensor, device: str = "cpu") -> dict:
    x = x.to(device)
    result = api.flat_view(x)
    shares = isinstance(result, torch.Tensor) and result.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    return {"tensor": result, "shares_storage": shares}


@probe
def select_device(api: Api, prefer_cuda: bool) -> dict:
    result = api.select_device(prefer_cuda)
    return {"type": type_name(result), "device": str(result)}


# --- Part 2: networks -------------------------------------------------------------------


@probe
def network_forward(api: Api, cls: str, args: list[int], layers: list[str], x: torch.Tensor, seed: int,
                    device: str = "cpu") -> dict:
    """Build ``api.<cls>(*args)``, give its named layers seeded weights, run it on ``x``.

    Weights are assigned layer by layer in the spec's order, so a layer wrapped
    in an ``nn.Sequential`` gets the same weights as a bare ``nn.Linear``."""
    net = getattr(api, cls)(*args)
    shapes = seed_layers(net, layers, seed)
    net = net.to(device)
    return {"is_module": isinstance(net, nn.Module), "layers": shapes, "output": net(x.to(device))}


@probe
def predict_class(api: Api, x: torch.Tensor, seed: int, device: str = "cpu") -> dict:
    net = make_mlp([x.shape[-1], 8, 5], seed, device)
    result = api.predict_class(net, x.to(device))
    return {"type": type_name(result), "value": result if isinstance(result, (int, float, bool)) else None}


# --- Part 3: autograd ----------------------------------------------------------------------


@probe
def logistic_gradients(api: Api, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
                       device: str = "cpu") -> dict:
    x, y = on(device, x, y)
    w = w.to(device).requires_grad_()
    b = b.to(device).requires_grad_()
    first = api.logistic_gradients(x, y, w, b)
    first = [g.detach().clone() if isinstance(g, torch.Tensor) else g for g in first]
    second = api.logistic_gradients(x, y, w, b)
    return {"first": list(first), "second": list(second)}


@probe
def train_step(api: Api, x: torch.Tensor, target: torch.Tensor, seed: int, lr: float, device: str = "cpu") -> dict:
    net = make_mlp([x.shape[-1], 6, target.shape[-1]], seed, device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for p in net.parameters():  # stale gradients from an earlier step: must be cleared
        p.grad = torch.ones_like(p)
    loss = api.train_step(net, optimizer, nn.MSELoss(), x.to(device), target.to(device))
    return {"loss_type": type_name(loss), "loss": loss if isinstance(loss, float) else None,
            "parameters": parameters_of(net)}


@probe
def predict_no_grad(api: Api, x: torch.Tensor, seed: int, device: str = "cpu") -> dict:
    net = make_mlp([x.shape[-1], 6, 3], seed, device)
    output = api.predict_no_grad(net, x.to(device))
    records = isinstance(output, torch.Tensor) and (output.requires_grad or output.grad_fn is not None)
    return {"output": output, "records_graph": records}


# --- Parts 4 and 5: TD(0), SARSA, Q-learning ------------------------------------------


@probe
def td_target(api: Api, reward: Any, next_value: Any, terminated: Any, gamma: float, device: str = "cpu") -> Any:
    if isinstance(next_value, torch.Tensor):
        next_value = next_value.to(device)
    if isinstance(reward, torch.Tensor):
        reward = reward.to(device)
    if isinstance(terminated, torch.Tensor):
        terminated = terminated.to(device)
    return api.td_target(reward, next_value, terminated, gamma)


def _update(api: Api, name: str, sizes: list[int], seed: int, lr: float, device: str, args: list) -> dict:
    """Call one semi-gradient update on a seeded network with SGD; return δ and the step.

    ``args`` are the update's arguments after ``(net, optimizer)``, in the spec's
    order, passed by position so that a student's parameter names don't matter."""
    net = make_mlp(sizes, seed, device)
    before = parameters_of(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for p in net.parameters():  # stale gradients: a correct update clears them
        p.grad = torch.full_like(p, 0.25)
    args = [a.to(device) if isinstance(a, torch.Tensor) else a for a in args]
    delta = getattr(api, name)(net, optimizer, *args)
    return {"delta": delta, "step": [a - b for a, b in zip(parameters_of(net), before)]}


@probe
def td0_update(api: Api, sizes: list[int], seed: int, lr: float, args: list, device: str = "cpu") -> dict:
    return _update(api, "semi_gradient_td0_update", sizes, seed, lr, device, args)


@probe
def sarsa_update(api: Api, sizes: list[int], seed: int, lr: float, args: list, device: str = "cpu") -> dict:
    return _update(api, "semi_gradient_sarsa_update", sizes, seed, lr, device, args)


@probe
def q_learning_update(api: Api, sizes: list[int], seed: int, lr: float, args: list, device: str = "cpu") -> dict:
    return _update(api, "semi_gradient_q_learning_update", sizes, seed, lr, device, args)


@probe
def q_values(api: Api, state: torch.Tensor, n_actions: int, seed: int, device: str = "cpu") -> Any:
    net = make_mlp([state.shape[-1] + 1, 8, 1], seed, device)
    return api.q_values(net, state.to(device), n_actions)


@probe
def epsilon_greedy(api: Api, q_values: torch.Tensor, epsilon: float, seed: int, calls: int) -> dict:
    """Many calls with one generator: the actions, and how many draws each call took."""
    rng = np.random.default_rng(seed)
    actions = [api.epsilon_greedy(q_values, epsilon, rng) for _ in range(calls)]
    return {"actions": [int(a) if isinstance(a, (int, np.integer)) else None for a in actions],
            "types": sorted({type_name(a) for a in actions}),
            "next_draw": float(rng.random())}


def _cartpole(max_episode_steps: int | None):
    import gymnasium as gym

    return gym.make("CartPole-v1", max_episode_steps=max_episode_steps)


@probe
def run_td0(api: Api, n_steps: int, gamma: float, seed: int, lr: float, max_episode_steps: int | None = None,
            device: str = "cpu") -> dict:
    env = _cartpole(max_episode_steps)
    net = make_mlp([4, 16, 16, 1], seed, device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    deltas = api.run_td0(env, net, optimizer, n_steps, gamma, seed)
    env.close()
    return {"deltas": [float(d) for d in deltas], "parameters": parameters_of(net)}


@probe
def run_sarsa(api: Api, n_steps: int, gamma: float, epsilon: float, seed: int, lr: float,
              max_episode_steps: int | None = None, device: str = "cpu") -> dict:
    env = _cartpole(max_episode_steps)
    net = make_mlp([5, 16, 16, 1], seed, device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    returns = api.run_sarsa(env, net, optimizer, n_steps, gamma, epsilon, seed)
    env.close()
    return {"returns": [float(r) for r in returns], "parameters": parameters_of(net)}


# --- Parts 4 and 5: behaviour on a small random walk ------------------------------------------
#
# When a run does not replay the spec's random draws, the checks fall back on
# what the algorithm must do: TD(0) must learn a random walk's values, SARSA
# must learn to walk to the rewarding end. CartPole is too slow to show that
# in a few seconds; this walk shows it in a couple of thousand steps. The
# probes only measure (values, returns, steps taken); the grader judges them.


class RandomWalk(gym.Env):
    """Sutton & Barto's random walk (Example 6.2) as a gymnasium environment.

    Positions 0 … n + 1; 0 and n + 1 are terminal; every episode starts in the
    middle. Action 0 moves left, 1 moves right. Entering the left end pays
    ``left_reward``, the right end ``right_reward``, any other step
    ``step_reward``. Observations are float32 one-hot vectors over all n + 2
    positions (the terminal ones too, so a run that bootstraps from a terminal
    state reads a value that a correct run never uses). An episode longer than
    ``max_episode_steps`` is truncated (``truncated=True``, not terminated).

    The environment keeps its own log: how many steps were taken, how often each
    position was left, and the undiscounted return of every finished episode.
    """

    metadata = {"render_modes": []}

    def __init__(self, n_states: int = 5, left_reward: float = 0.0, right_reward: float = 1.0,
                 step_reward: float = 0.0, max_episode_steps: int | None = None):
        self.size = n_states + 2
        self.start = self.size // 2
        self.rewards = (float(left_reward), float(right_reward), float(step_reward))
        self.max_episode_steps = max_episode_steps
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.size,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.steps, self.visits, self.episode_returns = 0, [0] * self.size, []
        self.position, self.t, self.episode_return, self.ended = self.start, 0, 0.0, True

    def observe(self) -> np.ndarray:
        x = np.zeros(self.size, dtype=np.float32)
        x[self.position] = 1.0
        return x

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position, self.t, self.episode_return, self.ended = self.start, 0, 0.0, False
        return self.observe(), {}

    def step(self, action):
        if self.ended:
            raise RuntimeError("RandomWalk.step() called after the episode ended (terminated or truncated): "
                               "call env.reset() first")
        if int(action) not in (0, 1):
            raise ValueError(f"RandomWalk has actions 0 (left) and 1 (right), got {action!r}")
        self.steps += 1
        self.visits[self.position] += 1
        self.position += 1 if int(action) == 1 else -1
        self.t += 1
        terminated = self.position in (0, self.size - 1)
        left, right, step = self.rewards
        reward = left if self.position == 0 else right if self.position == self.size - 1 else step
        truncated = not terminated and self.max_episode_steps is not None and self.t >= self.max_episode_steps
        self.episode_return += reward
        if terminated or truncated:
            self.ended = True
            self.episode_returns.append(self.episode_return)
        return self.observe(), reward, terminated, truncated, {}


class PairTable(nn.Module):
    """An action-value network that is a table over (state, action) pairs.

    It reads the spec's input ``concat(state, [float(action)])`` with a one-hot
    state: ``q̂(s, a) = weight[a] · s``, output shape ``(..., 1)``. Semi-gradient
    SARSA with it is tabular SARSA, so learning shows within a couple of
    thousand steps."""

    def __init__(self, n_features: int, n_actions: int = 2):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_actions, n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state, action = x[..., :-1], x[..., -1:]
        values = state @ self.weight.T  # (..., n_actions)
        index = action.round().long().clamp(0, self.weight.shape[0] - 1)
        return values.gather(-1, index)


def _finite(values: list[float]) -> bool:
    return all(np.isfinite(v) for v in values)


@probe
def td0_random_walk(api: Api, n_steps: int, gamma: float, seed: int, lr: float, max_episode_steps: int,
                    start_value: float, terminal_value: float, n_states: int = 5, device: str = "cpu") -> dict:
    """``run_td0`` on the random walk with a linear (tabular) value network:
    weights ``start_value`` on the non-terminal states, ``terminal_value`` on
    the terminal ones. Returns the learned values of every position, how many
    TD errors came back and whether they are finite, and the environment's log."""
    env = RandomWalk(n_states, max_episode_steps=max_episode_steps)
    v = nn.Linear(env.size, 1, bias=False)
    with torch.no_grad():
        v.weight.fill_(start_value)
        v.weight[0, 0] = v.weight[0, -1] = terminal_value
    v = v.to(device)
    optimizer = torch.optim.SGD(v.parameters(), lr=lr)
    deltas = [float(d) for d in api.run_td0(env, v, optimizer, n_steps, gamma, seed)]
    with torch.no_grad():
        values = v.weight.detach().to("cpu", torch.float64)[0]
    return {"values": [float(x) for x in values], "n_deltas": len(deltas), "deltas_finite": _finite(deltas),
            "steps": env.steps, "visits": list(env.visits)}


@probe
def sarsa_random_walk(api: Api, n_steps: int, gamma: float, epsilon: float, seed: int, lr: float,
                      max_episode_steps: int, left_end_value: float, n_states: int = 5,
                      left_reward: float = -1.0, right_reward: float = 1.0, step_reward: float = 0.0,
                      device: str = "cpu") -> dict:
    """``run_sarsa`` on the random walk with a :class:`PairTable` starting at
    zero (so the greedy action starts as 0, left), except the left terminal
    state's values, ``left_end_value`` (a correct run never reads them). Returns
    the episode returns the environment saw and those the run reported, the
    steps taken, the table."""
    env = RandomWalk(n_states, left_reward, right_reward, step_reward, max_episode_steps)
    q = PairTable(env.size)  # reads the state's one-hot, then the action
    with torch.no_grad():
        q.weight[:, 0] = left_end_value
    q = q.to(device)
    optimizer = torch.optim.SGD(q.parameters(), lr=lr)
    reported = [float(r) for r in api.run_sarsa(env, q, optimizer, n_steps, gamma, epsilon, seed)]
    table = q.weight.detach().to("cpu", torch.float64)
    return {"returns": list(env.episode_returns), "reported": reported, "steps": env.steps,
            "q": [[float(x) for x in row] for row in table]}


# --- Part 6: Baird ---------------------------------------------------------------------------


@probe
def baird_features(api: Api) -> Any:
    return api.baird_features()


@probe
def baird_semi_gradient(api: Api, w: torch.Tensor, state: int, next_state: int, action: int, gamma: float,
                        device: str = "cpu") -> dict:
    w = w.to(device).requires_grad_()
    before = w.detach().clone()
    gradient = api.baird_semi_gradient(w, state, next_state, action, gamma)
    return {"gradient": gradient, "w_changed": bool((w.detach() != before).any()),
            "w_grad_left": w.grad is not None and bool(w.grad.abs().sum() > 0)}


@probe
def baird_expected_td(api: Api, w0: torch.Tensor, n_sweeps: int, alpha: float, gamma: float,
                      device: str = "cpu") -> Any:
    return api.baird_expected_td(w0.to(device), n_sweeps, alpha, gamma)


@probe
def run_baird_td(api: Api, w0: torch.Tensor, n_steps: int, alpha: float, gamma: float, seed: int,
                 device: str = "cpu") -> Any:
    return api.run_baird_td(w0.to(device), n_steps, alpha, gamma, seed)
