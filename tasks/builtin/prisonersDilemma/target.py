"""The fixed column-player population for the Iterated Prisoner's Dilemma task. DO NOT MODIFY.

Moves: 0 = cooperate, 1 = defect. Every opponent is a function `(history, rng) -> move`, where `history` is the list
of `(row_move, column_move)` tuples of the previous rounds of the current match (so the opponent's view of *your*
last move is `history[-1][0]`) and `rng` is a `random.Random` owned by the evaluator.

For every match, `sample_opponent(rng)` draws one opponent uniformly at random from `OPPONENTS`; it then plays all
rounds of that match.
"""


def tit_for_tat(history, rng):
    """Cooperate first, then copy the row player's last move."""
    return 0 if not history else history[-1][0]


def suspicious_tit_for_tat(history, rng):
    """Defect first, then copy the row player's last move."""
    return 1 if not history else history[-1][0]


def generous_tit_for_tat(history, rng):
    """Tit for tat that forgives a defection with probability 0.3."""
    if not history or history[-1][0] == 0:
        return 0
    return 0 if rng.random() < 0.3 else 1


def tit_for_two_tats(history, rng):
    """Defect only after two consecutive defections by the row player."""
    if len(history) >= 2 and history[-1][0] == 1 and history[-2][0] == 1:
        return 1
    return 0


def grim_trigger(history, rng):
    """Cooperate until the row player defects once, then defect forever."""
    return 1 if any(row == 1 for row, _ in history) else 0


def pavlov(history, rng):
    """Win-stay, lose-shift: repeat the last move after a payoff of 3 or 5, switch after 0 or 1."""
    if not history:
        return 0
    row, col = history[-1]
    return col if row == 0 else 1 - col


def always_cooperate(history, rng):
    return 0


def always_defect(history, rng):
    return 1


def random_player(history, rng):
    """Cooperate or defect with equal probability."""
    return 0 if rng.random() < 0.5 else 1


def prober(history, rng):
    """Play D, C, C; if the row player did not retaliate in rounds 2-3, exploit it (always defect), else tit for tat."""
    n = len(history)
    if n < 3:
        return [1, 0, 0][n]
    if history[1][0] == 0 and history[2][0] == 0:
        return 1
    return history[-1][0]


def noisy_tit_for_tat(history, rng):
    """Tit for tat whose move is flipped with probability 0.1."""
    move = 0 if not history else history[-1][0]
    return 1 - move if rng.random() < 0.1 else move


def alternator(history, rng):
    """Cooperate, defect, cooperate, defect, ..."""
    return len(history) % 2


OPPONENTS = [
    tit_for_tat, suspicious_tit_for_tat, generous_tit_for_tat, tit_for_two_tats, grim_trigger, pavlov,
    always_cooperate, always_defect, random_player, prober, noisy_tit_for_tat, alternator,
]


def sample_opponent(rng):
    return OPPONENTS[rng.randrange(len(OPPONENTS))]
