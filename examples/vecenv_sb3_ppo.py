"""All traders at once: a parameter-shared SB3 PPO on the batched VecEnv adapter
(``market_env.make(..., "sb3")``, i.e. ``MarketSB3VecEnv``).

B paths × N traders are B·N sub-environments of one ``BatchedMarket`` (no Python loop per
path). The learned policy is then judged by ``solvers.evaluate`` like any solver, through
the custom-agent protocol (``sb3_agent_policy`` + ``PolicySolution``).

    python examples/vecenv_sb3_ppo.py [--paths 64] [--timesteps 50000]
"""

from __future__ import annotations

import argparse

import gymnasium
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

import market_env
from market_env import get_preset, sb3_agent_policy
from solvers import FrictionlessSolution, PolicySolution, evaluate

torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paths", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=50_000)
    args = parser.parse_args()

    config = get_preset("power-2")
    # B paths, B×N sub-environments: one parameter-shared policy for all traders
    venv = VecMonitor(market_env.make(config, "sb3", num_paths=args.paths, agent="shared"))
    # one episode (K = 100 steps) per rollout, five mini-batches per epoch
    batch_size = 20 * venv.num_envs
    model = PPO("MlpPolicy", venv, n_steps=100, batch_size=batch_size, seed=0, device="cpu")
    model.learn(total_timesteps=args.timesteps)

    learned = PolicySolution(config, sb3_agent_policy(model), price="clearing")
    for name, solution in [
        ("PPO (shared)", learned),
        ("frictionless", FrictionlessSolution(config)),
    ]:
        m = evaluate(solution, n_paths=1000, seed=0)
        print(f"{name:14s} utility_sum={m['utility_sum']:9.4f}  clearing={m['clearing_error']:.2e}")

    # the same vector env through gymnasium.make_vec (what Ray RLlib would take)
    envs = gymnasium.make_vec("market_env/FrictionalMarket-v0", num_envs=8, preset="power-2")
    print("gymnasium.make_vec ->", envs)


if __name__ == "__main__":
    main()
