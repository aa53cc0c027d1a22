# Fay's answers are right, written her own way: torch.distributions for the log-probabilities,
# the returns as gamma-powers times the rewards.
# %% replaces: log_probs
def log_probs(policy, states, actions):
    distribution = torch.distributions.Categorical(logits=policy(as_input(states, policy)))
    return distribution.log_prob(torch.as_tensor(actions, device=distribution.logits.device))
# %% replaces: discounted_returns
def discounted_returns(rewards, gamma):
    rewards = torch.as_tensor(rewards)
    if not rewards.is_floating_point():
        rewards = rewards.to(torch.float32)
    T = rewards.shape[0]
    steps = torch.arange(T, device=rewards.device)
    exponents = (steps[None, :] - steps[:, None]).to(rewards.dtype)
    powers = torch.where(exponents >= 0, gamma ** exponents.clamp(min=0), torch.zeros_like(exponents))
    return powers @ rewards
