"""Evaluation script for the Iterated Prisoner's Dilemma task. DO NOT MODIFY.

Usage: python evaluate.py

Plays NUM_MATCHES matches of NUM_ROUNDS rounds between `row_strategy` (strategy.py) and column players drawn from
target.py, and prints one JSON dict {"Score": <mean payoff per round of the row player>}. All randomness is seeded,
so a strategy always gets the same score. A strategy that crashes or returns anything but 0 or 1 makes this script
exit non-zero with the reason on stderr.
"""
import json
import random
import sys
import traceback

import numpy as np

NUM_ROUNDS = 10
NUM_MATCHES = 10000
SEED = 1234

# PAYOFFS[row_move][col_move] = (row payoff, column payoff); 0 = cooperate, 1 = defect.
PAYOFFS = [
    [(3, 3), (0, 5)],
    [(5, 0), (1, 1)],
]


def fail(msg):
    print(f"Evaluation failed: {msg}", file=sys.stderr)
    sys.exit(1)


def load_strategy():
    try:
        from strategy import row_strategy
    except Exception:
        fail("could not import row_strategy from strategy.py:\n" + traceback.format_exc())
    if not callable(row_strategy):
        fail("strategy.row_strategy is not a function")
    return row_strategy


def as_move(value, who):
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return int(value)
    fail(f"{who} returned {value!r}; a move must be 0 (cooperate) or 1 (defect)")


def play_match(row_strategy, opponent, opponent_rng):
    history = []
    row_total = 0
    for _ in range(NUM_ROUNDS):
        try:
            row_move = as_move(row_strategy(list(history)), "row_strategy")
        except SystemExit:
            raise
        except Exception:
            fail("row_strategy raised an exception:\n" + traceback.format_exc())
        col_move = as_move(opponent(list(history), opponent_rng), opponent.__name__)
        history.append((row_move, col_move))
        row_total += PAYOFFS[row_move][col_move][0]
    return row_total / NUM_ROUNDS


def main():
    row_strategy = load_strategy()
    from target import sample_opponent
    # Seed the global generators too, so strategies that use `random` or `numpy.random` score reproducibly.
    random.seed(SEED)
    np.random.seed(SEED)
    opponent_rng = random.Random(SEED + 1)
    scores = [play_match(row_strategy, sample_opponent(opponent_rng), opponent_rng) for _ in range(NUM_MATCHES)]
    print(json.dumps({"Score": float(np.mean(scores))}))


if __name__ == "__main__":
    main()
