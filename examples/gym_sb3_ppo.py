"""One learning trader against the equilibrium: ``gymnasium.make`` + Stable-Baselines3 PPO.

The other trader follows the best known equilibrium (leading order for ``power-2`` when
available, else frictionless) and the price is that equilibrium's, so the best response is
the equilibrium policy. A short run, to show the plumbing; real training belongs in
benchmarks.

    python examples/gym_sb3_ppo.py [--timesteps 4000]
"""

from __future__ import annotations

import argparse

import gymnasium
import torch
from stable_baselines3 import PPO

import market_env  # noqa: F401  (registers market_env/FrictionalMarket-v0)

torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=4000)
    args = parser.parse_args()

    env = gymnasium.make("market_env/FrictionalMarket-v0", preset="power-2", agent=0)
    model = PPO("MlpPolicy", env, n_steps=400, batch_size=100, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=args.timesteps)

    # play one episode with the learned policy
    obs, _ = env.reset(seed=123)
    total, done = 0.0, False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, done, truncated, info = env.step(action)
        total += reward
    print(f"learned trader_0 utility on seed 123: {total:.4f} (final price {info['S']:.4f})")


if __name__ == "__main__":
    main()
