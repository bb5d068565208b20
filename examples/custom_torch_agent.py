"""A custom torch agent: any callable ``obs (..., 2N+5) -> rate`` plugs into the market.

The same network is (1) trained by backpropagating through ``BatchedMarket`` rollouts
(``as_state_policy``), (2) judged by ``solvers.evaluate`` (``PolicySolution``), and (3) played
in the PettingZoo env, with the same utilities as (2) on the same seed.

    python examples/custom_torch_agent.py [--iterations 150]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from market_env import BatchedMarket, as_state_policy, get_preset, parallel_env, rollout
from solvers import FrictionlessSolution, PolicySolution, RiccatiSolution, evaluate

torch.set_num_threads(1)


class SharedTrader(torch.nn.Module):
    """One network for every trader; the observation tells it who it is (γ_n, ξ_n, index)."""

    def __init__(self, n_agents: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 * n_agents + 5, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (..., 2N+5) -> (..., 1)
        return 10.0 * self.net(obs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args()

    config = get_preset("quadratic-10").with_(n_steps=20)  # a short horizon for the demo
    truth = RiccatiSolution(config)
    agent = SharedTrader(config.n_agents).double()
    optimiser = torch.optim.Adam(agent.parameters(), lr=3e-3)
    market = BatchedMarket(config, 256, price=truth.price(), dtype=torch.float64, seed=0)
    policy = as_state_policy(agent, config)
    for it in range(args.iterations):  # maximise summed utility at the equilibrium price
        traj = rollout(market, policy)
        loss = -traj.reward.sum(dim=(1, 2)).mean()  # summed over steps and agents
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if it % 50 == 0:
            print(f"iteration {it:4d}  summed utility {-loss.item():9.4f}")

    for name, sol in [
        ("custom agent", PolicySolution(config, agent, price=truth)),
        ("Riccati truth", truth),
        ("frictionless", FrictionlessSolution(config)),
    ]:
        metrics = evaluate(sol, config, n_paths=2000, seed=1)
        print(f"{name:14s} utility_sum = {metrics['utility_sum']:.4f}")

    # the same agent in the PettingZoo env: same utilities as evaluate on the same seed
    env = parallel_env(config=config, price=truth, dtype="float64")
    obs, _ = env.reset(seed=5)
    total = np.zeros(config.n_agents)
    with torch.no_grad():
        while env.agents:
            o = torch.as_tensor(np.stack([obs[a] for a in env.traders]), dtype=torch.float64)
            rates = agent(o)[:, 0].numpy()
            obs, rewards, *_ = env.step({a: rates[n : n + 1] for n, a in enumerate(env.traders)})
            total += [rewards[a] for a in env.traders]
        reference = evaluate(PolicySolution(config, agent, price=truth), n_paths=1, seed=5)
    print("PettingZoo:", np.round(total.sum(), 6), " evaluate:", round(reference["utility_sum"], 6))


if __name__ == "__main__":
    main()
