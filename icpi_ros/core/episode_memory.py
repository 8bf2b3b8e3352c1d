# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Episode memory: the running episode's own trials as improvement examples, by hindsight.

Like the goal-conditioned datasets (icpi_ros.core.collect), any two trials i != j of the
episode make an example: pretend j's outcome was the goal; at theta_i the relative error was
e = s_i - s_j, and delta theta = theta_j - theta_i reached it. The goal of the example is s_j,
so both encodings (relative error, or raw outcome and goal) can be built from it, and it is
normalised with the dataset's statistics when searched together with the dataset
(icpi_ros.core.retrieval). The memory is rebuilt from the trials on every query: a restarted
planner or a resumed run has the same memory.
"""

from dataclasses import dataclass

import numpy as np

from icpi_ros.core.dataset import ExampleBlocks

# Trials of an episode made into examples at most, the most recent kept: n trials give
# n (n - 1) examples (64: 4,032).
MAX_TRIALS = 64


@dataclass(frozen=True)
class EpisodeExamples(ExampleBlocks):
    """Hindsight examples of one episode; `pairs[r]` = (i, j): example r is trial i relabelled.

    Trial numbers count the episode's trials in order (0: its first trial). `error` is
    e = s_i - s_j.
    """

    theta: np.ndarray  # (P, d) theta_i
    outcome: np.ndarray  # (P, m) s_i
    goal: np.ndarray  # (P, m) s_j, the relabelled goal
    delta_theta: np.ndarray  # (P, d) theta_j - theta_i
    pairs: np.ndarray  # (P, 2) trial numbers (i, j)


def hindsight_examples(
    theta: np.ndarray, outcome: np.ndarray, max_trials: int = MAX_TRIALS
) -> EpisodeExamples:
    """Relabel every ordered pair of an episode's trials (i != j) into an example.

    Args:
        theta: (n, d) the theta each trial executed, in order.
        outcome: (n, m) the outcome each trial observed.
        max_trials: only the most recent `max_trials` trials are used (their trial numbers
            stay those of the whole episode).

    Returns:
        The n (n - 1) examples, ordered by i, then j (none for fewer than two trials).

    Raises:
        ValueError: `theta` and `outcome` do not have one row per trial each.

    """
    theta, outcome = np.atleast_2d(theta).astype(float), np.atleast_2d(outcome).astype(float)
    if theta.shape[0] != outcome.shape[0]:
        raise ValueError(f'{theta.shape[0]} thetas but {outcome.shape[0]} outcomes')
    first = max(0, theta.shape[0] - max_trials)
    n = theta.shape[0] - first
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')
    keep = i != j
    i, j = i[keep] + first, j[keep] + first
    return EpisodeExamples(
        theta=theta[i],
        outcome=outcome[i],
        goal=outcome[j],
        delta_theta=theta[j] - theta[i],
        pairs=np.stack([i, j], axis=1).reshape(-1, 2),
    )
