# Cleo made three classic slips: mse_loss (a double step), a copying flat_view
# and an ε-greedy that never explores.
# %% replaces: semi_gradient_td0_update
def semi_gradient_td0_update(v, optimizer, state, reward, next_state, terminated, gamma):
    with torch.no_grad():
        target = td_target(reward, v(next_state).squeeze(-1), terminated, gamma)
    value = v(state).squeeze(-1)
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(value, target).backward()
    optimizer.step()
    return (target - value).detach()
# %% replaces: epsilon_greedy
def epsilon_greedy(q_values, epsilon, rng):
    return int(torch.argmax(q_values))
# %% replaces: flat_view
def flat_view(x):
    return x.flatten().clone()
