# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Nearest-neighbour baselines on the improvement dataset: KNN-5 (mean) and linear KNN-20.

Both search the episode's own hindsight examples together with the dataset when the context
has `episode_memory` on (icpi_ros.core.episode_memory).
"""

import numpy as np

from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.retrieval import ENCODING_BLOCKS, ExampleIndex, ExampleRows, Neighbours

# Ridge on the local linear fit (normalised features); 0.1 beat 0.01 and 0.001 on slide-gc
# and roll-gc (mean final cost over 10 goals), and keeps 20 points in 5-D well-posed.
RIDGE = 0.1
# A feature whose spread among the neighbours is below this is not scaled up (local fit).
MIN_SPREAD = 1e-12


class _NearestExamples:
    """Shared plumbing: the library, k, episode memory, and what every KNN step records."""

    name = ''
    default_k = 0

    def __init__(self, context: ImproverContext, k: int | None = None) -> None:
        if context.examples is None:
            raise ImproverFailed(f'{self.name} needs an improvement dataset')
        self._examples = context.examples
        self._episode_memory = context.episode_memory
        self.k = k or self.default_k

    def _neighbours(self, query: PolicyQuery) -> tuple[ExampleIndex, Neighbours, ExampleRows, dict]:
        """Return the index, the k nearest examples, their rows and the details to record."""
        index = self._examples.index(query.task)
        episode = query.episode_examples() if self._episode_memory else None
        neighbours = index.nearest(query.theta, query.error, query.goal, self.k, episode)
        details = {
            **neighbours.record(episode),
            'distances': np.round(neighbours.distances, 6).tolist(),
        }
        return index, neighbours, index.rows(neighbours, episode), details


class KnnMean(_NearestExamples):
    """KNN-5: the mean change of the 5 nearest examples."""

    name = 'knn_mean'
    default_k = 5

    def propose(self, query: PolicyQuery) -> Proposal:
        """Theta + mean delta of the nearest examples."""
        _index, _neighbours, rows, details = self._neighbours(query)
        delta = rows.delta_theta.mean(axis=0)
        return Proposal(query.theta + delta, {**details, 'delta_theta': delta.tolist()})


def tricube_weights(distances: np.ndarray) -> np.ndarray:
    """Return weights (mean 1) falling from the nearest to almost 0 at the farthest."""
    reach = float(np.max(distances)) * (1 + 1e-4) + MIN_SPREAD
    weights = (1 - (distances / reach) ** 3) ** 3 + 1e-9
    return weights / weights.mean()


def ridge_fit(
    features: np.ndarray,
    at_query: np.ndarray,
    targets: np.ndarray,
    distances: np.ndarray | None = None,
) -> np.ndarray:
    """Return the ridge regression's prediction at the query (no intercept).

    Args:
        features: (k, p) the neighbours' features relative to the reference point.
        at_query: (p,) the query's features relative to the reference point.
        targets: (k, d) the neighbours' changes of theta.
        distances: the neighbours' retrieval distances. Given: the local fit, with each
            feature scaled by its spread among the neighbours (so that the ridge does not
            shrink a tight cluster of examples, the episode's own, to no step at all) and the
            neighbours weighted by distance (tricube). None: the paper's fit.

    Returns:
        (d,) the predicted change of theta.

    """
    n, p = features.shape
    if distances is None:
        coef = np.linalg.solve(features.T @ features + n * RIDGE * np.eye(p), features.T @ targets)
        return at_query @ coef
    spread = np.sqrt(np.mean(features**2, axis=0))
    spread = np.where(spread > MIN_SPREAD, spread, 1.0)
    scaled, query = features / spread, at_query / spread
    weighted = scaled * tricube_weights(distances)[:, None]
    coef = np.linalg.solve(weighted.T @ scaled + n * RIDGE * np.eye(p), weighted.T @ targets)
    return query @ coef


class KnnLinear(_NearestExamples):
    """Linear KNN-20: a local linear model of delta on the neighbours, zero at zero error.

    delta = A (theta - theta_q) + B (e - 0), fitted by ridge regression on the normalised
    features of the k nearest examples, evaluated at the query: delta = B e_q. The model has
    no free intercept: with no error there is nothing to change. Hindsight pairs with e = 0
    but theta_i != theta_j (moves along the outcome's null space) then average out instead of
    making the loop wander; this cut the mean final cost on slide-gc about four-fold.

    Stability (context `hold_below_m`, `local_fit`): once the episode's best trial costs at
    most `hold_below_m` and a step from it did not improve on it, its theta is proposed again
    (within the outcome's jitter a step is a gamble); and the fit scales the features locally
    and weights the neighbours by distance (`ridge_fit`).
    """

    name = 'knn_linear'
    default_k = 20

    def __init__(self, context: ImproverContext) -> None:
        super().__init__(context, context.k)
        self._hold_below = context.hold_below_m
        self._local_fit = context.local_fit

    def _held(self, query: PolicyQuery) -> Proposal | None:
        """Return the best trial's theta again if it is to be kept, else None."""
        best = query.best_trial() if self._hold_below > 0 else None
        if best is None or best[2] > self._hold_below or best[0] == len(query.history):
            return None  # not good enough, or the query's own trial: step on from it
        trial, theta, cost = best
        details = {'held_trial': trial, 'held_cost': cost, 'hold_below_m': self._hold_below}
        return Proposal(theta.copy(), details)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Return theta + the local linear model's change for the query's error.

        Or the best trial's theta again, when it is good enough to keep (`hold_below_m`).
        """
        held = self._held(query)
        if held is not None:
            return held
        index, neighbours, examples, details = self._neighbours(query)
        norm = index.dataset.normalisation
        blocks = ENCODING_BLOCKS[index.encoding]
        rows = examples.blocks()
        zero = np.zeros_like(query.error)
        # Reference point: the query's theta (and goal), zero error (outcome = goal).
        goal = query.goal if query.goal is not None else zero
        reference = {'theta': query.theta, 'error': zero, 'outcome': goal, 'goal': goal}
        at_query = {
            'theta': query.theta,
            'error': query.error,
            'outcome': goal + query.error,
            'goal': goal,
        }
        a = np.hstack([norm.apply(b, rows[b]) - norm.apply(b, reference[b]) for b in blocks])
        x = np.hstack([norm.apply(b, at_query[b]) - norm.apply(b, reference[b]) for b in blocks])
        distances = neighbours.distances if self._local_fit else None
        delta = ridge_fit(a, x, examples.delta_theta, distances)
        return Proposal(query.theta + delta, {**details, 'delta_theta': delta.tolist()})
