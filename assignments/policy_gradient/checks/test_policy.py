"""Part 1 — softmax policies (20 points). Forward passes and log-probabilities
with given weights are one float32 computation in possibly another order
(FLOAT32_STEP); the sampled actions follow the spec's one draw per call, so
they are compared exactly."""

import torch

from autograder.checks import EXACT, FLOAT32_STEP, Case, call, check

SIZES = [4, 8, 3]  #: the grader's policy: 4 state features, 3 actions


def states(ctx, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(ctx.seed))


@check("policy.softmax_policy", group="policy", points=5, function="SoftmaxPolicy")
def test_softmax_policy(ctx):
    cases = [Case("softmax_policy", {"args": [4, 3, 8], "x": x, "seed": ctx.seed, "device": ctx.device},
                  f"SoftmaxPolicy(4, 3, 8) with seeded weights, called on {call('', x)[1:-1]}", FLOAT32_STEP)
             for x in (states(ctx, 4), states(ctx, 5, 4))]
    ctx.grade(cases)


@check("policy.action_probabilities", group="policy", points=4, function="action_probabilities")
def test_action_probabilities(ctx):
    # No meta-device case: torch.distributions, a right way to write these, validates its arguments on
    # values, which the meta device has not. A GPU grader's cases run on the GPU (the README's CUDA).
    one, batch = states(ctx, 4), states(ctx, 5, 4)
    settings = [(one, "float32", ""), (batch, "float32", ""),
                (batch, "float64", " (a float64 policy: the result has its dtype)")]
    ctx.grade([Case("action_probabilities", {"sizes": SIZES, "x": x, "seed": ctx.seed, "device": ctx.device,
                                             "dtype": dtype},
                    f"action_probabilities(a seeded 4→8→3 policy, {call('', x)[1:-1]}){note}", FLOAT32_STEP)
               for x, dtype, note in settings])


@check("policy.log_probs", group="policy", points=7, function="log_probs")
def test_log_probs(ctx):
    batch, actions = states(ctx, 5, 4), torch.tensor([0, 2, 1, 2, 0])
    settings = [  # (states, actions, preference gap, dtype, how the call reads); no meta case, as above
        (batch, actions, None, "float32", ", then the gradient of their sum"),
        (batch[:1], actions[:1], None, "float64", " (a float64 policy), then the gradient of their sum"),
        # preferences (200, 0, 0): ln π of the unlikely actions is −200; ln(softmax) underflows to −inf
        (batch, actions, 200.0, "float32", " with preferences (200, 0, 0) in float32"),
    ]
    ctx.grade([Case("log_probs", {"sizes": SIZES, "states": s, "actions": a, "seed": ctx.seed, "device": ctx.device,
                                  "dtype": dtype, "gap": gap, "with_gradient": gap is None},
                    f"log_probs(a seeded 4→8→3 policy, {call('', s)[1:-1]}, {call('', a)[1:-1]}){note}",
                    FLOAT32_STEP) for s, a, gap, dtype, note in settings])


@check("policy.sample_action", group="policy", points=4, function="sample_action")
def test_sample_action(ctx):
    seed = ctx.seed % 10_000
    # The chosen draws' probabilities come from the seed too: eighths (exact), and tenths whose float64
    # cumulative sum ends 1e-7 short of 1
    g = torch.Generator().manual_seed(ctx.seed)
    a, b = (int(n) for n in torch.randint(1, 4, (2,), generator=g))
    p, q = (int(n) for n in torch.randint(1, 5, (2,), generator=g))
    settings = [  # (probabilities, how they are passed, chosen draws or None, calls, how the call reads)
        (torch.tensor([0.1, 0.6, 0.3]), {}, None, 200, f"200 times with np.random.default_rng({seed})"),
        (torch.tensor([0.5, 0.2, 0.2, 0.1]), {"as_tensor": False}, None, 100,
         f"(as a list) 100 times with np.random.default_rng({seed})"),
        (torch.tensor([0.7, 0.3]), {"dtype": "float64"}, None, 100,
         f"(float64) 100 times with np.random.default_rng({seed})"),
        # u equal to a cumulative probability: u < cumsum, not ≤
        (torch.tensor([a / 8, b / 8, 1 - (a + b) / 8]), {"dtype": "float64"}, [a / 8, (a + b) / 8, 0.0], 3,
         f"with rng.random() returning {a / 8:g}, {(a + b) / 8:g}, 0.0 in turn"),
        # the float64 cumulative sum ends at 0.9999999 < u: the last action
        (torch.tensor([p / 10, q / 10, 1 - (p + q) / 10 - 1e-7], dtype=torch.float64), {"dtype": "float64"},
         [0.99999995], 1, "with rng.random() returning 0.99999995"),
    ]
    ctx.grade([Case("sample_action", {"probs": probs, "seed": seed, "calls": calls, "draws": draws, **how},
                    f"sample_action({call('', probs)[1:-1]}, rng) {reads}", EXACT)
               for probs, how, draws, calls, reads in settings])
