# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Nearest-neighbour baselines on the improvement dataset: KNN-5 (mean) and linear KNN-20."""

import numpy as np

from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.retrieval import ExampleIndex, Neighbours

# Ridge on the local linear fit (normalised features): keeps 20 points in 5-D well-posed.
RIDGE = 1e-2


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
    """Linear KNN-20: a ridge-regularised local linear model delta = W f + b on the neighbours."""

    name = 'knn_linear'
    default_k = 20

    def __init__(self, context: ImproverContext) -> None:
        super().__init__(context, context.k)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Theta + the local linear model's change at the query's features."""
        index, nb = self._neighbours(query)
        features = index.features({b: v[nb.indices] for b, v in index.dataset.blocks().items()})
        x = index.query_features(query.theta, query.error, query.goal)
        # Centre on the query: the intercept is then the prediction, and is not penalised.
        a = np.hstack([features - x, np.ones((len(features), 1))])
        penalty = np.diag([RIDGE] * features.shape[1] + [0.0])
        y = index.dataset.delta_theta[nb.indices]
        coef = np.linalg.solve(a.T @ a + len(a) * penalty, a.T @ y)
        delta = coef[-1]
        return Proposal(query.theta + delta, self._details(nb, delta))
