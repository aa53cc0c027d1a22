"""What students read about pytorch_vfa's own diagnosis codes (and what the instructor re-teaches for each),
and the fields of its probes' results.

The engine explains the codes every assignment shares (``missing``, ``error``,
``wrong-shape``, ``tampering``, ...: :mod:`autograder.feedback`); these are the
spec's codes that belong to this assignment. Codes are stable: add new ones
freely, never rename.
"""

DIAGNOSES: dict[str, str] = {
    "copy-not-view": "your result copies the data instead of sharing memory with the input "
                     "(`torch.from_numpy`, `.view` share; `torch.tensor`, `.clone`, `.flatten()` of a copy do not).",
    "activation-on-output": "your network applies an activation (ReLU/softmax) to its output layer: "
                            "the last layer must stay linear.",
    "grad-accumulation": "gradients from an earlier call leak into this one: clear them with "
                         "`optimizer.zero_grad()` (or use `torch.autograd.grad`).",
    "graph-recorded": "the result records a computation graph: compute it under `torch.no_grad()`.",
    "target-not-detached": "the gradient flows through the bootstrapped target: that is the residual gradient, "
                           "not the semi-gradient. Compute the target under `torch.no_grad()` or `.detach()` it.",
    "td-error-as-loss": "the loss is the TD error itself, not its square: minimising δ pushes v̂(S) up "
                        "regardless of the target. Use ½·δ² (with the target detached).",
    "terminal-bootstrap": "the target bootstraps from the next state after termination: "
                          "a terminal state is worth 0, so the target is R alone.",
    "truncation-as-termination": "your run stops bootstrapping when an episode is truncated (time limit): "
                                 "only `terminated` ends the return; on truncation still use γ·v̂(S′).",
    "double-step": "your update moves the weights twice as far as the semi-gradient step: "
                   "the loss mean δ² (`mse_loss`) has gradient 2δ∇v̂. Use ½·δ².",
    "sign-flipped": "your update moves the estimate away from the target: check the sign of the loss or of δ.",
    "sarsa-uses-max": "your SARSA target uses max_a q̂(S′,a) (that is Q-learning): use the next action A′.",
    "q-learning-uses-next-action": "your Q-learning target uses a sampled action instead of max_a q̂(S′,a).",
    "no-exploration": "your ε-greedy never explores: with probability ε it must pick a uniformly random action.",
    "always-random": "your ε-greedy ignores the greedy action: with probability 1−ε it must take the argmax.",
    "no-importance-ratio": "your off-policy update ignores the importance-sampling ratio ρ = π(a|s)/b(a|s) "
                           "(7 for solid, 0 for dashed).",
    "wrong-features": "your Baird features differ from the book's: x(s_i) = 2e_i + e_8 for the upper states, "
                      "x(s_7) = e_7 + 2e_8 (Figure 11.1).",
    "no-divergence": "your Baird run does not diverge, but semi-gradient off-policy TD must (Figure 11.2).",
    "terminal-update-skipped": "your run skips the update on terminal transitions (the course notebook's "
                               "`continue`): a terminal transition is updated with the target R.",
}

#: For the instructor's class report: what to re-teach when a code hits many students.
RETEACH: dict[str, str] = {
    "copy-not-view": "Views against copies: `view`, `torch.from_numpy` and basic indexing share storage; "
                     "`torch.tensor`, `clone` and `flatten` of a non-contiguous tensor copy (show `data_ptr()`).",
    "activation-on-output": "A value network regresses unbounded targets: its last layer stays linear, no "
                            "ReLU or softmax after it.",
    "grad-accumulation": "`backward()` adds into `.grad`: `optimizer.zero_grad()` before every backward "
                         "(or `torch.autograd.grad`).",
    "graph-recorded": "When autograd records a graph, and evaluating under `torch.no_grad()` so that none is kept.",
    "target-not-detached": "Semi-gradient against residual gradient (§9.3): the bootstrapped target is a "
                           "constant, `.detach()`ed or computed under `no_grad`.",
    "td-error-as-loss": "The loss ½δ² and its gradient −δ∇v̂(S) (equation 9.7): minimising δ itself is not "
                        "the TD update.",
    "terminal-bootstrap": "A terminal state is worth 0: after termination the target is R alone (mask with "
                          "1 − terminated).",
    "truncation-as-termination": "Gymnasium's `terminated` against `truncated`: a time limit does not end the "
                                 "task, so the target still bootstraps on truncation.",
    "double-step": "`mse_loss` is mean δ², whose gradient is 2δ∇v̂: the semi-gradient step is that of ½δ²; "
                   "how a loss's constant factor scales the step size.",
    "sign-flipped": "Descending the loss moves v̂(S) toward the target: w ← w + αδ∇v̂; the sign of δ and of "
                    "the loss.",
    "sarsa-uses-max": "SARSA (on-policy) against Q-learning (off-policy): SARSA's target uses the next action "
                      "taken, A′ (§6.4-6.5).",
    "q-learning-uses-next-action": "Q-learning's target is max_a q̂(S′,a), whatever action is taken next (§6.5).",
    "no-exploration": "ε-greedy explores with probability ε: without it the agent never tries the other actions.",
    "always-random": "ε-greedy exploits with probability 1−ε: how the uniform draw is compared with ε.",
    "no-importance-ratio": "Off-policy updates need the importance-sampling ratio ρ = π(a|s)/b(a|s) (§11.1); "
                           "work out Baird's: 7 for solid, 0 for dashed.",
    "wrong-features": "Baird's features on the board (Figure 11.1): x(s_i) = 2e_i + e_8 for the six upper "
                      "states, x(s_7) = e_7 + 2e_8.",
    "no-divergence": "The deadly triad (§11.3): function approximation, bootstrapping and off-policy training "
                     "together make semi-gradient TD diverge on Baird's counterexample.",
    "terminal-update-skipped": "A terminal transition is updated too, with the target R: skipping it (the course "
                               "notebook's `continue`) never learns the last reward.",
}

#: What each field of a probe's result means, as feedback names it.
RESULT_FIELDS: dict[str, str] = {
    "delta": "the returned TD errors δ",
    "step": "the change of the network's weights",
    "records_graph": "whether the result records a graph",
    "shares_storage": "whether the result shares the input's storage",
    "shares_memory": "whether the tensor shares the array's memory",
    "tensor": "the returned tensor",
    "actions": "the actions chosen",
    "types": "the type of the actions",
    "next_draw": "the generator's next draw (it shows how many draws your calls used)",
    "deltas": "the TD errors of the run",
    "returns": "the episode returns",
    "parameters": "the network's weights after the run",
    "gradient": "the returned gradient",
    "w_changed": "whether w was modified",
    "w_grad_left": "whether w.grad was left set",
    "first": "the first call's gradients",
    "second": "the second call's gradients (must equal the first)",
    "loss": "the returned loss",
    "loss_type": "the type of the returned loss",
    "output": "the output",
    "layers": "the layers' parameter shapes",
    "is_module": "whether it is an nn.Module",
    "type": "the type of the result",
    "value": "the returned value",
    "device": "the device",
}
