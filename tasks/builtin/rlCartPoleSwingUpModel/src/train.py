"""Baseline training for the Cart-Pole Swing-Up task: evolution strategies (OpenAI-ES) on a small MLP policy.

Run from the workspace: python src/train.py
Writes checkpoints/policy.npz (the MLP weights) and config.yaml (what evaluate.py reads) into the workspace.
Takes about 10-15 seconds on one CPU core.
"""
import argparse
import os
import time

import numpy as np

import cartpole
from policy import forward, init_params, save_checkpoint, unflatten


def rollout_returns(population, hidden_sizes, activation, start_states):
    """Mean return of every parameter vector in `population` (P, n) over the same start states (each of shape (E,))."""
    P = population.shape[0]
    layers = unflatten(population, hidden_sizes)
    x, x_dot, theta, theta_dot = (np.broadcast_to(s, (P, s.size)).copy() for s in start_states)
    total = np.zeros_like(x)
    for _ in range(cartpole.EPISODE_LENGTH):
        action = forward(layers, cartpole.observe(x, x_dot, theta, theta_dot), activation)
        x, x_dot, theta, theta_dot, reward = cartpole.step(x, x_dot, theta, theta_dot, action)
        total += reward
    return total.mean(axis=1)


def centered_ranks(x):
    ranks = np.empty(len(x))
    ranks[np.argsort(x)] = np.arange(len(x))
    return ranks / (len(x) - 1) - 0.5


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", default="16", help="comma-separated hidden layer sizes, e.g. 32,32")
    ap.add_argument("--activation", default="tanh", choices=["tanh", "relu"])
    ap.add_argument("--generations", type=int, default=150)
    ap.add_argument("--pairs", type=int, default=32, help="antithetic perturbation pairs per generation")
    ap.add_argument("--episodes", type=int, default=8, help="episodes per candidate per generation")
    ap.add_argument("--sigma", type=float, default=0.1, help="perturbation scale")
    ap.add_argument("--lr", type=float, default=0.05, help="Adam step size")
    ap.add_argument("--out", default="checkpoints/policy.npz")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    hidden_sizes = [int(h) for h in args.hidden.split(",") if h.strip()]
    theta = init_params(rng, hidden_sizes)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    start = time.time()
    for gen in range(1, args.generations + 1):
        eps = rng.normal(size=(args.pairs, theta.size))
        population = np.concatenate([theta + args.sigma * eps, theta - args.sigma * eps])
        returns = rollout_returns(population, hidden_sizes, args.activation, cartpole.reset(rng, args.episodes))
        ranks = centered_ranks(returns)
        grad = (ranks[:args.pairs] - ranks[args.pairs:]) @ eps / (2 * args.pairs * args.sigma)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        theta = theta + args.lr * (m / (1 - 0.9 ** gen)) / (np.sqrt(v / (1 - 0.999 ** gen)) + 1e-8)
        if gen % 25 == 0 or gen == args.generations:
            print(f"generation {gen}: mean population return {returns.mean():.1f}, "
                  f"best {returns.max():.1f} ({time.time() - start:.1f}s)", flush=True)

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    save_checkpoint(args.out, theta, hidden_sizes)
    with open("config.yaml", "w") as f:
        f.write("# Read by evaluate.py: `checkpoint` (relative to this file) and `activation`.\n")
        f.write("# The other keys only record how the policy was trained.\n")
        f.write(f"checkpoint: {args.out}\n")
        f.write(f"activation: {args.activation}\n")
        f.write(f"hidden_sizes: {hidden_sizes}\n")
        f.write("algorithm: openai-es\n")
        for key in ("seed", "generations", "pairs", "episodes", "sigma", "lr"):
            f.write(f"{key}: {getattr(args, key)}\n")
    print(f"saved {args.out} and config.yaml")


if __name__ == "__main__":
    main()
