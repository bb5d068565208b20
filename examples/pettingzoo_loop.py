"""Play the market as a PettingZoo ParallelEnv: random traders, then the Riccati equilibrium.

The equilibrium played through the env gives the same utilities as ``solvers.evaluate`` on
the same seed (the env is a view of the same simulator).

    python examples/pettingzoo_loop.py
"""

from __future__ import annotations

import numpy as np
import torch

import market_env
from solvers import RiccatiSolution, evaluate

torch.set_num_threads(1)


def play(env, choose, seed):
    obs, infos = env.reset(seed=seed)
    utility = {a: 0.0 for a in env.agents}
    while env.agents:
        actions = {agent: choose(agent, obs) for agent in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        for agent, r in rewards.items():
            utility[agent] += r
    return utility, infos


def main() -> None:
    # 1. random traders (uniform rates within ±max_rate: very costly), clearing-drift price
    env = market_env.parallel_env(preset="quadratic-10", price="clearing")
    utility, _ = play(env, lambda agent, obs: env.action_space(agent).sample(), seed=0)
    print("random traders, summed utility:", round(sum(utility.values()), 2))

    # 2. the exact equilibrium (MODEL.md §4), each trader acting on its own observation; in
    # float64, as evaluate() simulates the truth (the default dtype of the envs is float32)
    truth = RiccatiSolution(env.config)
    policy = market_env.solution_agent_policy(truth)
    env = market_env.make("quadratic-10", "parallel", price=truth, dtype="float64")

    def equilibrium(agent, obs):
        return policy(torch.as_tensor(obs[agent])).reshape(1).numpy()

    utility, infos = play(env, equilibrium, seed=7)
    reference = evaluate(truth, n_paths=1, seed=7)
    print("equilibrium through PettingZoo:", np.round(list(utility.values()), 4))
    print("solvers.evaluate, same seed:   ", np.round(reference["utility_per_agent"], 4))
    print("final price S_K:", round(infos["trader_0"]["S"], 6))

    # 3. the market-maker game: a `market` agent sets (mu, log(sigma/alpha), S0)
    env = market_env.parallel_env(preset="power-2", price="market")
    utility, _ = play(env, lambda agent, obs: env.action_space(agent).sample(), seed=0)
    print("market-maker game, market agent's return:", round(utility["market"], 3))


if __name__ == "__main__":
    main()
