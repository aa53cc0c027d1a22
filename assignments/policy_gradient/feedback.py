"""What students read about policy_gradient's diagnosis codes (and what the instructor re-teaches for each),
and the fields of its probes' results.

The engine explains the codes every assignment shares (``missing``, ``error``,
``wrong-shape``, ``tampering``, ...: :mod:`autograder.feedback`); these are the
codes of ``policy-gradient-spec.md`` (the new ones, and those of
``pytorch_vfa`` in this assignment's words), and a few more that the known
mistakes name. Codes are stable: add new ones freely, never rename.
"""

DIAGNOSES: dict[str, str] = {
    # reused from pytorch_vfa, in this assignment's words
    "activation-on-output": "your policy applies a softmax (or another activation) to its output: `forward` must "
                            "return the preferences h(s,·,θ), the logits; `action_probabilities` and `log_probs` "
                            "take their softmax (§13.1).",
    "grad-accumulation": "gradients from an earlier episode leak into this update: clear them with "
                         "`optimizer.zero_grad()` before `backward()`.",
    "sign-flipped": "your update steps up the loss, away from the policy gradient: the loss is "
                    "−Σ_t γ^t G_t ln π(A_t|S_t,θ), and the optimizer descends it (for the value, ½ Σ_t δ_t²).",
    # the spec's new codes
    "unstable-log-prob": "you take log(softmax(h)): for an action whose preference is far below another's the "
                         "softmax underflows to 0 in float32 and its log is −inf (and the gradient NaN). Use "
                         "`F.log_softmax(h, dim=-1)`.",
    "returns-not-discounted": "your returns ignore γ: G_t = R_{t+1} + γ G_{t+1}, each later reward counting γ "
                              "times less (§3.3).",
    "returns-wrong-direction": "your returns accumulate from the start of the episode (or come out reversed): G_t "
                               "sums the rewards that FOLLOW step t, so compute them backwards from G_T = 0.",
    "episode-return-everywhere": "every step is weighted by G_0, the whole episode's return: step t must be "
                                 "weighted by G_t, the return that follows it (the rewards before cannot have "
                                 "been caused by A_t).",
    "missing-discount-weight": "the γ^t factor of §13.3 is dropped: step t of an episode is weighted by "
                               "γ^t G_t, not G_t.",
    "mean-not-sum": "your update averages the episode's steps (a step 1/T as large): REINFORCE sums "
                    "γ^t G_t ∇ln π over the episode (and the value loss is ½ Σ_t δ_t²).",
    "baseline-not-detached": "the policy loss lets its gradient flow into the baseline v̂: δ_t = G_t − v̂(S_t,w) "
                             "is a constant weight of the θ step; use `delta.detach()` (and no policy-loss "
                             "gradient may be left in the value's `.grad`).",
    "no-improvement": "your run does not learn where REINFORCE must: on the short corridor (Example 13.1) it "
                      "never moves away from p(right) ≈ 0.05. Check that each episode's update is applied.",
    # named by known mistakes beyond the spec's table
    "softmax-wrong-axis": "your softmax (or log-softmax) is taken over the batch axis: the probabilities of one "
                          "state are over its actions, the last axis (`dim=-1`).",
    "sampling-boundary": "your sampling takes the smallest a with u ≤ cumsum[a]; it must be u < cumsum[a], so "
                         "that a draw equal to a cumulative probability goes to the next action.",
    "unpinned-randomness": "your action is drawn without the generator you were given (torch.multinomial, "
                           "another rng): the only randomness is exactly one `rng.random()` per action.",
    "greedy-not-sampled": "your policy takes the most probable action instead of sampling one from π(·|s): "
                          "REINFORCE must follow the policy it improves.",
    "discounted-value-step": "your value step is weighted by γ^t too: in §13.4 γ^t weighs only the θ step; the "
                             "value loss is ½ Σ_t δ_t².",
    "delta-after-value-step": "your θ step uses a δ recomputed after the value step: both steps use "
                              "δ_t = G_t − v̂(S_t,w) with the weights before the update.",
}

#: For the instructor's class report: what to re-teach when a code hits many students.
RETEACH: dict[str, str] = {
    "activation-on-output": "The policy network outputs preferences (logits) h(s,a,θ); the softmax is taken once, "
                            "where probabilities are needed (§13.1).",
    "grad-accumulation": "`backward()` adds into `.grad`: `optimizer.zero_grad()` before every episode's backward.",
    "sign-flipped": "The loss −Σ_t γ^t G_t ln π(A_t|S_t,θ): the optimizer descends it, which ascends J(θ).",
    "unstable-log-prob": "Numerical stability: log(softmax) underflows in float32; `log_softmax` (the log-sum-exp "
                         "trick).",
    "returns-not-discounted": "Discounted returns, G_t = R_{t+1} + γ G_{t+1} (§3.3): work a 4-step episode with "
                              "γ = 0.5 by hand.",
    "returns-wrong-direction": "G_t sums the rewards after step t: returns are computed backwards from G_T = 0.",
    "episode-return-everywhere": "Causality in REINFORCE: A_t is weighted by the return that follows it, G_t, "
                                 "not the episode's G_0.",
    "missing-discount-weight": "The γ^t factor of the episodic policy-gradient theorem (§13.3, REINFORCE's boxed "
                               "update).",
    "mean-not-sum": "REINFORCE sums over an episode's steps: averaging scales the step by 1/T, another learning "
                    "rate.",
    "baseline-not-detached": "A baseline is a constant weight of the θ step: δ = G − v̂(S,w) detached; the value "
                             "learns from its own loss ½δ² (§13.4).",
    "no-improvement": "Whether an update is applied at all: `optimizer.step()` after `backward()`, on the policy's "
                      "parameters; plot p(right) over the corridor's episodes.",
    "softmax-wrong-axis": "Which axis a softmax normalises: a state's actions, the last axis (`dim=-1`), per "
                          "state of a batch.",
    "sampling-boundary": "Inverse-CDF sampling: the smallest a with u < cumsum[a]; a boundary matters when draws "
                         "are replayed.",
    "unpinned-randomness": "Reproducible runs: all randomness from the generator passed in, one `rng.random()` "
                           "per action.",
    "greedy-not-sampled": "On-policy policy gradients sample actions from π: an argmax never explores and breaks "
                          "the gradient estimate.",
    "discounted-value-step": "In REINFORCE with baseline (§13.4) γ^t weighs only the θ step; the value step is "
                             "plain ½δ² regression.",
    "delta-after-value-step": "Both steps use δ computed before either update: compute δ once, then step θ and w.",
}

#: What each field of a probe's result means, as feedback names it.
RESULT_FIELDS: dict[str, str] = {
    "output": "the output (the preferences)",
    "layers": "the layers' parameter shapes",
    "is_module": "whether it is an nn.Module",
    "log_probs": "the returned log-probabilities",
    "differentiable": "whether the log-probabilities can be differentiated in θ",
    "gradient": "the gradient",
    "actions": "the actions chosen",
    "types": "the type of the actions",
    "next_draw": "the generator's next draw (it shows how many draws your calls used)",
    "loss": "the returned loss",
    "loss_type": "the type of the returned loss",
    "returns_gradient": "whether a gradient reached the returns (they must be constants)",
    "step": "the change of the policy's weights",
    "losses": "the returned (policy loss, value loss)",
    "loss_types": "the types of the returned losses",
    "policy_step": "the change of the policy's weights θ",
    "value_step": "the change of the value network's weights w",
    "leftover": "the policy loss's gradient left in the value parameters' .grad",
    "returns": "the episode returns",
    "parameters": "the policy's weights after the run",
    "value_parameters": "the value network's weights after the run",
}
