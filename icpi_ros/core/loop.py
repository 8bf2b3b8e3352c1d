# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The improvement loop without ROS: trial, score, ask the improver, repeat."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.improvers import Improver
from icpi_ros.core.planning import make_query, next_policy
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput


@dataclass
class Iteration:
    """One trial of the loop and the step it led to."""

    iteration: int
    theta: np.ndarray
    outcome: np.ndarray
    cost: float
    theta_next: np.ndarray | None = None  # None after the last trial
    improver: str = ''
    details: dict = field(default_factory=dict)
    trial_s: float = 0.0
    plan_s: float = 0.0

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            'iteration': self.iteration,
            'theta': self.theta.tolist(),
            'outcome': self.outcome.tolist(),
            'cost': self.cost,
            'theta_next': None if self.theta_next is None else self.theta_next.tolist(),
            'improver': self.improver,
            'details': self.details,
            'trial_s': round(self.trial_s, 6),
            'plan_s': round(self.plan_s, 6),
        }


@dataclass
class LoopResult:
    """All iterations of one run."""

    task: str
    goal: np.ndarray
    iterations: list[Iteration]

    @property
    def costs(self) -> list[float]:
        """Cost of every trial, in order."""
        return [it.cost for it in self.iterations]

    @property
    def best(self) -> Iteration:
        """The iteration with the lowest cost (the first one on ties)."""
        return min(self.iterations, key=lambda it: it.cost)

    def summary(self, improver: str) -> dict:
        """Return the run summary: task, improver, costs, final and best cost and theta."""
        return {
            'task': self.task,
            'improver': improver,
            'goal': self.goal.tolist(),
            'iterations': len(self.iterations),
            'costs': self.costs,
            'final_cost': self.costs[-1],
            'best_cost': self.best.cost,
            'best_theta': self.best.theta.tolist(),
        }


def improve(
    task: TaskSpec,
    trial: Callable[[np.ndarray], np.ndarray],
    goal: np.ndarray,
    theta0: np.ndarray,
    improver: Improver,
    iterations: int = 20,
    tolerance: float = 0.0,
    fallback: Improver | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> LoopResult:
    """Run up to `iterations` trials, improving theta after each; stop early at `tolerance`.

    `trial(theta) -> outcome` executes the clipped theta (simulator or robot).
    """
    if iterations < 1:
        raise InvalidInput(f'iterations must be at least 1, got {iterations}')
    if not tolerance >= 0:
        raise InvalidInput(f'tolerance must be >= 0, got {tolerance}')
    theta, _ = task.clip(task.check_theta(theta0, 'theta0'))
    result = LoopResult(task.name, goal, [])
    for i in range(iterations):
        start = time.perf_counter()
        outcome = np.asarray(trial(theta), dtype=float)
        it = Iteration(i, theta, outcome, float(np.linalg.norm(outcome - goal)))
        it.trial_s = time.perf_counter() - start
        if i < iterations - 1 and it.cost > tolerance:
            start = time.perf_counter()
            step = next_policy(
                improver, make_query(task, theta, outcome - goal, goal=goal), fallback
            )
            it.plan_s = time.perf_counter() - start
            it.theta_next, it.improver, it.details = step.theta_next, step.improver, step.details
            if step.fallback_reason:
                it.details['fallback_reason'] = step.fallback_reason
        result.iterations.append(it)
        if on_iteration is not None:
            on_iteration(it)
        if it.theta_next is None:
            break
        theta = it.theta_next
    return result
