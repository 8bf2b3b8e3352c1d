# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Nearest-neighbour baselines on the improvement dataset: KNN-5 (mean) and linear KNN-20."""

import numpy as np

from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.retrieval import ENCODING_BLOCKS, ExampleIndex, Neighbours

# Ridge on the local linear fit (normalised features); 0.1 beat 0.01 and 0.001 on slide-gc
# and roll-gc (mean final cost over 10 goals), and keeps 20 points in 5-D well-posed.
RIDGE = 0.1


class _NearestExamples:
    """Shared plumbing: the library, k, and the details every KNN proposal records."""

    name = ''
    default_k = 0

    def __init__(self, context: ImproverContext, k: int | None = None) -> None:
        if context.examples is None:
            raise ImproverFailed(f'{self.name} needs an improvement dataset')
        self._examples = context.examples
        self.k = k or self.default_k

    def _neighbours(self, query: PolicyQuery) -> tuple[ExampleIndex, Neighbours]:
        index = self._examples.index(query.task)
        return index, index.nearest(query.theta, query.error, query.goal, self.k)

    @staticmethod
    def _details(neighbours: Neighbours, delta: np.ndarray) -> dict:
        return {
            'neighbours': neighbours.indices.tolist(),
            'distances': np.round(neighbours.distances, 6).tolist(),
            'delta_theta': delta.tolist(),
        }


class KnnMean(_NearestExamples):
    """KNN-5: the mean change of the 5 nearest examples."""

    name = 'knn_mean'
    default_k = 5

    def propose(self, query: PolicyQuery) -> Proposal:
        """Theta + mean delta of the nearest examples."""
        index, nb = self._neighbours(query)
        delta = index.dataset.delta_theta[nb.indices].mean(axis=0)
        return Proposal(query.theta + delta, self._details(nb, delta))


class KnnLinear(_NearestExamples):
    """Linear KNN-20: a local linear model of delta on the neighbours, zero at zero error.

    delta = A (theta - theta_q) + B (e - 0), fitted by ridge regression on the normalised
    features of the k nearest examples, evaluated at the query: delta = B e_q. The model has
    no free intercept: with no error there is nothing to change. Hindsight pairs with e = 0
    but theta_i != theta_j (moves along the outcome's null space) then average out instead of
    making the loop wander; this cut the mean final cost on slide-gc about four-fold.
    """

    name = 'knn_linear'
    default_k = 20

    def __init__(self, context: ImproverContext) -> None:
        super().__init__(context, context.k)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Return theta + the local linear model's change for the query's error."""
        index, nb = self._neighbours(query)
        data, norm = index.dataset, index.dataset.normalisation
        blocks = ENCODING_BLOCKS[index.encoding]
        rows = {b: v[nb.indices] for b, v in data.blocks().items()}
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
        y = data.delta_theta[nb.indices]
        coef = np.linalg.solve(a.T @ a + len(a) * RIDGE * np.eye(a.shape[1]), a.T @ y)
        delta = x @ coef
        return Proposal(query.theta + delta, self._details(nb, delta))
