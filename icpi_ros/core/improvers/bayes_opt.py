# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Bayesian optimisation baseline (the `bayesian-optimization` package: a scikit-learn GP).

The planner service is stateless, so the optimiser keeps one study per episode, keyed by task
and goal: each query adds its (theta, cost) observation and asks for the next point.
"""

import warnings

import numpy as np
from bayes_opt import BayesianOptimization

from icpi_ros.core.improvers.base import ImproverContext, PolicyQuery, Proposal

# Studies kept at most (one per goal); the oldest is dropped first.
MAX_EPISODES = 64


class BayesOpt:
    """GP + acquisition over the parameter box, maximising -cost."""

    name = 'bayes_opt'

    def __init__(self, context: ImproverContext) -> None:
        self._seed = context.seed
        self._studies: dict[tuple, BayesianOptimization] = {}

    def _study(self, query: PolicyQuery) -> BayesianOptimization:
        goal = None if query.goal is None else tuple(np.round(query.goal, 9))
        key = (query.task.name, goal)
        if key not in self._studies:
            if len(self._studies) >= MAX_EPISODES:
                self._studies.pop(next(iter(self._studies)))
            bounds = {p.name: (p.low, p.high) for p in query.task.parameters}
            self._studies[key] = BayesianOptimization(
                f=None,
                pbounds=bounds,
                random_state=self._seed,
                verbose=0,
                allow_duplicate_points=True,
            )
        return self._studies[key]

    def propose(self, query: PolicyQuery) -> Proposal:
        """Register the query's trial, then suggest the next theta."""
        study = self._study(query)
        names = [p.name for p in query.task.parameters]
        theta, _ = query.task.clip(query.theta)
        study.register(params=dict(zip(names, theta, strict=True)), target=-query.cost)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # sklearn's convergence chatter on tiny data
            suggestion = study.suggest()
        proposal = np.array([suggestion[n] for n in names])
        return Proposal(proposal, {'observations': len(study.space)})
