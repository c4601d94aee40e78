"""The policy model: an MLP mapping the observation [x, x_dot, cos(theta), sin(theta), theta_dot] to an action.

action = tanh(W_k^T ... act(W_0^T obs + b_0) ... + b_k), with act = tanh or relu; the cart is pushed with 10 * action N.
A checkpoint is an .npz file with arrays W0, b0, W1, b1, ... (W_i of shape (fan_in, fan_out)); this is the format
evaluate.py loads, so keep it (the layer sizes and the number of layers are yours to choose).
"""
import numpy as np

from cartpole import ACT_DIM, OBS_DIM


def layer_shapes(hidden_sizes):
    sizes = [OBS_DIM, *hidden_sizes, ACT_DIM]
    return [(a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def init_params(rng, hidden_sizes):
    """A flat parameter vector with scaled-normal weights and zero biases."""
    parts = []
    for fan_in, fan_out in layer_shapes(hidden_sizes):
        parts.append(rng.normal(0.0, 1.0 / np.sqrt(fan_in), (fan_in, fan_out)).ravel())
        parts.append(np.zeros(fan_out))
    return np.concatenate(parts)


def unflatten(theta, hidden_sizes):
    """(..., n_params) -> list of (W (..., fan_in, fan_out), b (..., fan_out))."""
    layers, k = [], 0
    lead = theta.shape[:-1]
    for fan_in, fan_out in layer_shapes(hidden_sizes):
        W = theta[..., k:k + fan_in * fan_out].reshape(lead + (fan_in, fan_out))
        k += fan_in * fan_out
        b = theta[..., k:k + fan_out]
        k += fan_out
        layers.append((W, b))
    return layers


def forward(layers, obs, activation="tanh"):
    """obs (..., E, OBS_DIM) with layers batched over the leading dims -> action (..., E)."""
    h = obs
    for i, (W, b) in enumerate(layers):
        h = h @ W + b[..., None, :]
        if i < len(layers) - 1:
            h = np.tanh(h) if activation == "tanh" else np.maximum(h, 0.0)
    return np.tanh(h[..., 0])


def save_checkpoint(path, theta, hidden_sizes):
    arrays = {}
    for i, (W, b) in enumerate(unflatten(theta, hidden_sizes)):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    np.savez(path, **arrays)
