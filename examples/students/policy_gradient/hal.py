# Hal lets the policy loss flow into the baseline, and never clears old gradients in REINFORCE.
# %% replaces: reinforce_update
def reinforce_update(policy, optimizer, states, actions, rewards, gamma):
    rewards = as_input(rewards, policy)
    loss = reinforce_loss(log_probs(policy, states, actions), discounted_returns(rewards, gamma), gamma)
    loss.backward()
    optimizer.step()
    return loss.item()
# %% replaces: reinforce_baseline_update
def reinforce_baseline_update(policy, value, policy_optimizer, value_optimizer, states, actions,
                              rewards, gamma):
    returns = discounted_returns(as_input(rewards, value), gamma)
    delta = returns - value(as_input(states, value)).squeeze(-1)
    value_loss = 0.5 * delta.pow(2).sum()
    discounts = gamma ** torch.arange(len(delta), dtype=delta.dtype, device=delta.device)
    policy_loss = -(discounts * delta * log_probs(policy, states, actions)).sum()
    policy_optimizer.zero_grad()
    value_optimizer.zero_grad()
    value_loss.backward(retain_graph=True)
    policy_loss.backward()
    value_optimizer.step()
    policy_optimizer.step()
    return policy_loss.item(), value_loss.item()
