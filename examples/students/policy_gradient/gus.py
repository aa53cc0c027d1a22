# Gus takes the log of the softmax, and forgets the gamma^t weight of section 13.3.
# %% replaces: log_probs
def log_probs(policy, states, actions):
    probs = torch.softmax(policy(as_input(states, policy)), dim=-1)
    actions = torch.as_tensor(actions, dtype=torch.int64, device=probs.device)
    return torch.log(probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1))
# %% replaces: reinforce_loss
def reinforce_loss(log_probs, returns, gamma):
    returns = torch.as_tensor(returns).detach().to(log_probs)
    return -(returns * log_probs).sum()
