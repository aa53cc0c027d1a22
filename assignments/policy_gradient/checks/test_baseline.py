"""Part 4 — REINFORCE with baseline (30 points). As Part 3: one update is
deterministic (FLOAT32_STEP), a run replays the reference exactly or is judged
by what it learns on the short corridor."""

from autograder.checks import FLOAT32_RUN, Case, check

from assignments.policy_gradient.checks.episodes import LINEAR_VALUE_SIZES, POLICY_SIZES, VALUE_SIZES
from assignments.policy_gradient.checks.test_reinforce import RUN, corridor_behaviour, corridor_diagnosis, \
    return_series, update_cases

LR_THETA, LR_W = 0.1, 0.1
#: the corridor's baseline: a constant v̂ (its one observation is 1), from 0, SGD on it. The value step sums
#: over an episode of up to 200 steps, so the book's per-step 2⁻⁶ would overshoot; 2⁻⁹ keeps α^w·T < 0.4.
CORRIDOR_LR_W = 2**-9


@check("baseline.update", group="baseline", points=20, function="reinforce_baseline_update")
def test_reinforce_baseline_update(ctx):
    # First with a linear value function: a policy loss whose δ keeps its graph can then be backpropagated
    # after the value step (with a hidden layer, autograd refuses the weights changed in place), and
    # leaves its gradient in the value's .grad while Δθ and Δw are right (the spec's grading notes).
    reads = "a seeded 4→8→2 policy and {value} value network with stale gradients, SGD(lr={lr}) each"
    linear = update_cases(ctx, "reinforce_baseline_update", "reinforce_baseline_update",
                          {"policy_sizes": POLICY_SIZES, "value_sizes": LINEAR_VALUE_SIZES, "lr_theta": LR_THETA,
                           "lr_w": LR_W}, reads.format(value="linear 4→1", lr=LR_THETA))[:1]
    ctx.grade(linear + update_cases(ctx, "reinforce_baseline_update", "reinforce_baseline_update",
                                    {"policy_sizes": POLICY_SIZES, "value_sizes": VALUE_SIZES, "lr_theta": LR_THETA,
                                     "lr_w": LR_W}, reads.format(value="4→8→1", lr=LR_THETA)))


@check("baseline.run", group="baseline", points=10, function="run_reinforce_baseline", time_limit=30)
def test_run_reinforce_baseline(ctx):
    args = {**{k: v for k, v in RUN.items() if k != "lr"}, "lr_theta": RUN["lr"], "lr_w": RUN["lr"],
            "seed": ctx.seed % 10_000, "device": ctx.device}
    ctx.grade([Case("run_reinforce_baseline", args,
                    f"run_reinforce_baseline(CartPole-v1 truncated at {RUN['max_episode_steps']} steps, a seeded "
                    f"4→16→2 policy and a linear value function, SGD(lr={RUN['lr']}) each, "
                    f"n_episodes={RUN['n_episodes']}, gamma={RUN['gamma']}, seed={args['seed']})", FLOAT32_RUN,
                    mistake_key="parameters", series=return_series)],
              diagnose=corridor_diagnosis(CORRIDOR_LR_W),
              behaviour=corridor_behaviour("REINFORCE with baseline", CORRIDOR_LR_W))
