# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Bayesian optimisation baseline (the `bayesian-optimization` package: a scikit-learn GP).

A query of a run carries the run's earlier trials (`PolicyQuery.history`): the study is
rebuilt from them and the query's own trial every time, so it belongs to that run alone, and a
restarted planner or a resumed run asks exactly the same. A call by hand (no run id, no
history) adds its observation to one study per task and goal kept in this process.
"""

import warnings

import numpy as np
from bayes_opt import BayesianOptimization

from icpi_ros.core.improvers.base import ImproverContext, PolicyQuery, Proposal
from icpi_ros.core.improvers.episodes import EpisodeCache, episode_key


class BayesOpt:
    """GP + acquisition over the parameter box, maximising -cost."""

    name = 'bayes_opt'

    def __init__(self, context: ImproverContext) -> None:
        self._seed = context.seed
        self._studies: EpisodeCache[BayesianOptimization] = EpisodeCache()

    def _new_study(self, query: PolicyQuery, step: int = 0) -> BayesianOptimization:
        # A study rebuilt per step draws from a seed of its own step: the same run asks the
        # same, and successive steps do not repeat one random sequence.
        seed = int(np.random.SeedSequence([self._seed, step]).generate_state(1)[0])
        bounds = {p.name: (p.low, p.high) for p in query.task.parameters}
        return BayesianOptimization(
            f=None,
            pbounds=bounds,
            random_state=seed if step else self._seed,
            verbose=0,
            allow_duplicate_points=True,
        )

    def _study(self, query: PolicyQuery) -> BayesianOptimization:
        if query.run_id or query.history:
            study = self._new_study(query, len(query.history) + 1)
            for trial, cost in zip(query.history, query.history_costs(), strict=True):
                self._register(study, query, trial.theta, cost)
            return study
        return self._studies.get(episode_key(query, query.goal), lambda: self._new_study(query))

    @staticmethod
    def _register(study: BayesianOptimization, query: PolicyQuery, theta, cost: float) -> None:
        names = [p.name for p in query.task.parameters]
        clipped, _ = query.task.clip(np.asarray(theta, dtype=float))
        study.register(params=dict(zip(names, clipped, strict=True)), target=-cost)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Register the query's trial (after the run's earlier ones), suggest the next theta."""
        study = self._study(query)
        names = [p.name for p in query.task.parameters]
        self._register(study, query, query.theta, query.cost)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # sklearn's convergence chatter on tiny data
            suggestion = study.suggest()
        proposal = np.array([suggestion[n] for n in names])
        return Proposal(proposal, {'observations': len(study.space)})
