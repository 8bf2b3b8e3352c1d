# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Random shooting baseline: every proposal is drawn uniformly within the task's bounds."""

import numpy as np

from icpi_ros.core.improvers.base import ImproverContext, PolicyQuery, Proposal


class RandomShooting:
    """Uniform sampling in the parameter box; the loop keeps the best trial it has seen."""

    name = 'random_shooting'

    def __init__(self, context: ImproverContext) -> None:
        self._rng = np.random.default_rng(context.seed)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Return a theta drawn uniformly from the task's bounds."""
        return Proposal(self._rng.uniform(query.task.theta_low, query.task.theta_high))
