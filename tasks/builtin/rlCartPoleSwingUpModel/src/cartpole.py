"""A batched numpy implementation of the cart-pole swing-up environment used by this task.

State: cart position x (m), cart velocity x_dot, pole angle theta (rad, 0 = upright, pi = hanging down), pole
angular velocity theta_dot. Observation: [x, x_dot, cos(theta), sin(theta), theta_dot]. Action a in [-1, 1]
(clipped) pushes the cart with force 10 * a newtons. Reward per step, computed on the new state:
    (1 + cos(theta)) / 2 * cos(pi * x / (2 * 2.4))            (in [0, 1]; 1 = pole upright, cart centred)
Episodes last 500 steps of 0.02 s and start with the pole hanging down.

evaluate.py has its own copy of these dynamics; editing this file changes only your training, not the scoring.
"""
import math

import numpy as np

GRAVITY = 9.8
CART_MASS = 0.5
POLE_MASS = 0.5
POLE_HALF_LENGTH = 0.5
FORCE_MAG = 10.0
DT = 0.02
TRACK_LIMIT = 2.4
EPISODE_LENGTH = 500
OBS_DIM, ACT_DIM = 5, 1

TOTAL_MASS = CART_MASS + POLE_MASS
POLE_MASS_LENGTH = POLE_MASS * POLE_HALF_LENGTH


def reset(rng, shape):
    """Random start states of the given batch shape: x ~ U[-0.2, 0.2], theta ~ pi + U[-0.2, 0.2], at rest."""
    x = rng.uniform(-0.2, 0.2, shape)
    theta = math.pi + rng.uniform(-0.2, 0.2, shape)
    return x, np.zeros(shape), theta, np.zeros(shape)


def observe(x, x_dot, theta, theta_dot):
    return np.stack([x, x_dot, np.cos(theta), np.sin(theta), theta_dot], axis=-1)


def step(x, x_dot, theta, theta_dot, action):
    """One step (semi-implicit Euler) for any batch shape; returns (x, x_dot, theta, theta_dot, reward)."""
    force = FORCE_MAG * np.clip(action, -1.0, 1.0)
    sin, cos = np.sin(theta), np.cos(theta)
    temp = (force + POLE_MASS_LENGTH * theta_dot ** 2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (POLE_HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos ** 2 / TOTAL_MASS))
    x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS
    x_dot = x_dot + DT * x_acc
    x = x + DT * x_dot
    theta_dot = theta_dot + DT * theta_acc
    theta = theta + DT * theta_dot
    # The track ends in walls: the cart stops dead where it hits one.
    hit = np.abs(x) > TRACK_LIMIT
    x = np.clip(x, -TRACK_LIMIT, TRACK_LIMIT)
    x_dot = np.where(hit, 0.0, x_dot)
    reward = (1.0 + np.cos(theta)) / 2.0 * np.cos(math.pi * x / (2.0 * TRACK_LIMIT))
    return x, x_dot, theta, theta_dot, reward
