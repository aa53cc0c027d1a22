"""Probes: each exercises one behaviour of the student API and returns what happened.

A probe receives an :class:`Api` (the student's namespace in a worker, the
reference or a known mistake on the grader's side) and plain arguments, and
returns data: tensors, numbers, lists, dicts. It never compares anything and
holds no expected values, so it is safe to run next to student code.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Missing(NameError):
    """A graded name is not defined in the submission."""

    def __init__(self, name: str):
        super().__init__(f"name {name!r} is not defined")
        self.name = name


class Api:
    """Attribute access to a namespace of the student API: ``api.td_target``."""

    def __init__(self, namespace: dict | Any, cache_key: tuple | None = None):
        self._ns = namespace if isinstance(namespace, dict) else vars(namespace)
        #: names this API among the grader's fixed ones (the reference, a known
        #: mistake), so that its results can be reused; None for student code
        self._cache_key = cache_key

    def __getattr__(self, name: str) -> Any:
        try:
            return self._ns[name]
        except KeyError:
            raise Missing(name) from None


PROBES: dict[str, Callable[..., Any]] = {}


def probe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a probe under its function name."""
    PROBES[fn.__name__] = fn
    return fn


def run(probe_name: str, api: Api, **args: Any) -> Any:
    return PROBES[probe_name](api, **args)


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


def parameters_of(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def on(device: str, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(device) for t in tensors]


def type_name(value: Any) -> str:
    return type(value).__module__ + "." + type(value).__qualname__


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
    generator = torch.Generator().manual_seed(seed)
    shapes = {}
    with torch.no_grad():
        for name in layers:
            params = list(getattr(net, name).parameters())
            shapes[name] = [list(p.shape) for p in params]
            for p in params:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
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
