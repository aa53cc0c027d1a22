"""Part 2 — returns (15 points). G_t by the recursion, in float32 or float64:
the order of the additions may differ (a loop, cumsum of γ-powers): FLOAT32_STEP."""

import torch

from autograder.checks import FLOAT32_STEP, Case, call, check

from assignments.policy_gradient.checks.episodes import SPEC_GAMMA, SPEC_REWARDS


@check("returns.discounted_returns", group="returns", points=15, function="discounted_returns")
def test_discounted_returns(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    random = torch.rand(7, generator=g, dtype=torch.float64) * 4 - 2
    # drawn after `random`, which stays as it was: as a list, and integers (T ≥ 4, rewards on every step)
    listed = (torch.rand(5, generator=g) * 4 - 2).tolist()
    integers = torch.randint(1, 6, (5,), generator=g)
    settings = [  # (rewards, gamma, kind, device, weight, how the call reads)
        (SPEC_REWARDS, SPEC_GAMMA, "tensor", ctx.device, 1.0, call("discounted_returns", SPEC_REWARDS, SPEC_GAMMA)),
        (random, 0.9, "tensor", ctx.device, 1.0, call("discounted_returns", random, 0.9) + " (float64: kept)"),
        (torch.tensor(listed), 0.8, "list", ctx.device, 1.0,
         f"discounted_returns({call('', torch.tensor(listed))[14:-2]}, 0.8) (a list)"),
        (integers, 0.9, "tensor", ctx.device, 1.0, call("discounted_returns", integers, 0.9) + " (integers: float32)"),
        (torch.zeros(0), 0.9, "tensor", ctx.device, 1.0, "discounted_returns(torch.tensor([]), 0.9) (T = 0)"),
        (SPEC_REWARDS, SPEC_GAMMA, "tensor", "meta", 0.5,
         call("discounted_returns", SPEC_REWARDS, SPEC_GAMMA) + " with the rewards on the meta device"),
    ]
    ctx.grade([Case("discounted_returns", {"rewards": r, "gamma": gamma, "kind": kind, "device": device}, reads,
                    FLOAT32_STEP, weight=weight) for r, gamma, kind, device, weight, reads in settings])
