"""Evaluation script for the Cart-Pole Swing-Up task. DO NOT MODIFY.

Usage: python evaluate.py --config_fname config.yaml

Loads the policy named by config.yaml (`checkpoint:` an .npz file of MLP weights, `activation:` tanh or relu),
runs it on NUM_EPISODES cart-pole swing-up episodes whose start states come from a hidden seed, and prints one line of JSON:
{"Reward Mean": ..., "Reward Std": ...}. An invalid submission makes it exit non-zero with the reason on stderr.

This file carries its own copy of the environment, so changing src/ cannot change how a policy is scored.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

NUM_EPISODES = 500
MAX_PARAMETERS = 20_000
MAX_LAYERS = 8
OBS_DIM, ACT_DIM = 5, 1
SECRET_FILE = "eval_seed.txt"
DEFAULT_SECRET_DIR = "/home/agent/secret"

# Cart-pole physics (the same as src/cartpole.py).
GRAVITY, CART_MASS, POLE_MASS, POLE_HALF_LENGTH = 9.8, 0.5, 0.5, 0.5
FORCE_MAG, DT, TRACK_LIMIT, EPISODE_LENGTH = 10.0, 0.02, 2.4, 500


def fail(msg):
    print(f"Evaluation failed: {msg}", file=sys.stderr)
    sys.exit(1)


def secret_path(name):
    # The hidden seed is mounted at /home/agent/secret only while this script runs;
    # SYNTHGYM_SECRET_DIR overrides the location (for running the task outside a sandbox).
    return os.path.join(os.environ.get("SYNTHGYM_SECRET_DIR") or DEFAULT_SECRET_DIR, name)


def parse_simple_yaml(path):
    """Reads `key: value` lines (comments and blank lines ignored); enough for config.yaml, no PyYAML needed."""
    config = {}
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
            if not line.strip():
                continue
            if line[0] in " \t-":
                continue  # nested values / lists are ignored: only top-level scalars are read
            key, sep, value = line.partition(":")
            if not sep:
                fail(f"{path}, line {lineno}: expected 'key: value', got {line.strip()!r}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            config[key.strip()] = value
    return config


def load_policy(config_fname):
    if not config_fname:
        fail("no config.yaml found in the workspace; save your policy and write config.yaml (see the task description)")
    if not os.path.isfile(config_fname):
        fail(f"config file '{config_fname}' does not exist")
    config = parse_simple_yaml(config_fname)
    checkpoint = config.get("checkpoint")
    if not checkpoint:
        fail(f"{config_fname} has no 'checkpoint:' entry naming the .npz file with the policy weights")
    if not os.path.isabs(checkpoint):
        checkpoint = os.path.join(os.path.dirname(os.path.abspath(config_fname)), checkpoint)
    activation = config.get("activation", "tanh")
    if activation not in ("tanh", "relu"):
        fail(f"activation must be 'tanh' or 'relu', got {activation!r}")
    if not os.path.isfile(checkpoint):
        fail(f"checkpoint '{checkpoint}' (from {config_fname}) does not exist")
    try:
        npz = np.load(checkpoint, allow_pickle=False)
        if not hasattr(npz, "files"):
            fail(f"checkpoint '{checkpoint}' holds a single array (numpy.save); save the layers with numpy.savez")
        with npz:
            arrays = {k: np.asarray(npz[k], dtype=np.float64) for k in npz.files}
    except SystemExit:
        raise
    except Exception as e:  # not an npz, pickled objects, non-numeric arrays, ...
        fail(f"cannot load checkpoint '{checkpoint}' as a numpy .npz file: {e}")
    n_layers = sum(1 for k in arrays if k.startswith("W"))
    if n_layers == 0 or n_layers > MAX_LAYERS:
        fail(f"checkpoint must hold 1 to {MAX_LAYERS} layers W0, b0, W1, b1, ...; found keys {sorted(arrays)}")
    expected = {f"{p}{i}" for i in range(n_layers) for p in "Wb"}
    if set(arrays) != expected:
        fail(f"checkpoint keys must be exactly {sorted(expected)}; found {sorted(arrays)}")
    layers, fan_in, total = [], OBS_DIM, 0
    for i in range(n_layers):
        W, b = arrays[f"W{i}"], arrays[f"b{i}"]
        if W.ndim != 2 or W.shape[0] != fan_in or b.shape != (W.shape[1],):
            fail(f"layer {i}: W{i} must have shape ({fan_in}, n) and b{i} shape (n,); got {W.shape} and {b.shape}")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            fail(f"layer {i}: weights contain NaN or infinity")
        layers.append((W, b))
        fan_in, total = W.shape[1], total + W.size + b.size
    if fan_in != ACT_DIM:
        fail(f"the last layer must have {ACT_DIM} output; it has {fan_in}")
    if total > MAX_PARAMETERS:
        fail(f"the policy has {total} parameters; at most {MAX_PARAMETERS} are allowed")
    return layers, activation


def act(layers, activation, obs):
    h = obs
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = np.tanh(h) if activation == "tanh" else np.maximum(h, 0.0)
    return np.tanh(h[:, 0])


def run_episodes(layers, activation, seed):
    total_mass = CART_MASS + POLE_MASS
    pole_mass_length = POLE_MASS * POLE_HALF_LENGTH
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.2, 0.2, NUM_EPISODES)
    theta = math.pi + rng.uniform(-0.2, 0.2, NUM_EPISODES)
    x_dot = np.zeros(NUM_EPISODES)
    theta_dot = np.zeros(NUM_EPISODES)
    returns = np.zeros(NUM_EPISODES)
    for _ in range(EPISODE_LENGTH):
        obs = np.stack([x, x_dot, np.cos(theta), np.sin(theta), theta_dot], axis=1)
        force = FORCE_MAG * np.clip(act(layers, activation, obs), -1.0, 1.0)
        sin, cos = np.sin(theta), np.cos(theta)
        temp = (force + pole_mass_length * theta_dot ** 2 * sin) / total_mass
        theta_acc = (GRAVITY * sin - cos * temp) / (POLE_HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos ** 2 / total_mass))
        x_acc = temp - pole_mass_length * theta_acc * cos / total_mass
        x_dot = x_dot + DT * x_acc
        x = x + DT * x_dot
        theta_dot = theta_dot + DT * theta_acc
        theta = theta + DT * theta_dot
        hit = np.abs(x) > TRACK_LIMIT
        x = np.clip(x, -TRACK_LIMIT, TRACK_LIMIT)
        x_dot = np.where(hit, 0.0, x_dot)
        returns += (1.0 + np.cos(theta)) / 2.0 * np.cos(math.pi * x / (2.0 * TRACK_LIMIT))
    return returns


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config_fname", default="config.yaml")
    args = parser.parse_args()
    layers, activation = load_policy(args.config_fname)
    seed_file = secret_path(SECRET_FILE)
    if not os.path.isfile(seed_file):
        fail(f"hidden evaluation seed not found at {seed_file} (set SYNTHGYM_SECRET_DIR when running outside the sandbox)")
    with open(seed_file) as f:
        seed = int(f.read().strip())
    returns = run_episodes(layers, activation, seed)
    print(json.dumps({"Reward Mean": float(returns.mean()), "Reward Std": float(returns.std())}))


if __name__ == "__main__":
    main()
