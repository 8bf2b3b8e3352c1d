# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one interface every improver implements: propose the next theta from a query."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from icpi_ros.core.tasks import TaskSpec


@dataclass(frozen=True)
class PolicyQuery:
    """What an improver is asked: the task, the theta just executed and its relative error."""

    task: TaskSpec
    theta: np.ndarray
    error: np.ndarray
    # The goal, when the caller gave one (outcome = goal + error).
    goal: np.ndarray | None = None


class Improver(Protocol):
    """Proposes the next policy parameters; the caller validates and clips the proposal."""

    name: str

    def propose(self, query: PolicyQuery) -> np.ndarray:
        """Return the proposed next theta (unclipped) for `query`."""
        ...
