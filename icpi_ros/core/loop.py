# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The improvement loop without ROS: trial, score, ask the improver, repeat."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.improvers import Improver, ImproverFailed, PolicyQuery
from icpi_ros.core.improvers.base import HistoryTrial
from icpi_ros.core.planning import PolicyStep, make_query, next_policy
from icpi_ros.core.run_lines import PLANNER_FAILED, summarise
from icpi_ros.core.scoring import Score, trial_cost
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
    # The planner step that produced `theta` (empty for theta0): improver and its details.
    improver: str = ''
    details: dict = field(default_factory=dict)
    trial_s: float = 0.0
    plan_s: float = 0.0


@dataclass(frozen=True)
class FailedStep:
    """A planner step that nobody answered: it ends the run after trial `iteration`."""

    iteration: int
    error: str
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-friendly form (a line of a run record)."""
        return {
            'iteration': self.iteration,
            'status': PLANNER_FAILED,
            'error': self.error,
            'details': self.details,
        }


@dataclass
class LoopResult:
    """All iterations of one run, and the planner step that ended it, if one failed."""

    task: str
    goal: np.ndarray
    iterations: list[Iteration]
    failed_step: FailedStep | None = None

    @property
    def status(self) -> str:
        """'failed' when a planner step failed, else 'succeeded'."""
        return 'failed' if self.failed_step is not None else 'succeeded'

    @property
    def costs(self) -> list[float]:
        """Cost of every trial, in order."""
        return [it.cost for it in self.iterations]

    @property
    def best(self) -> Iteration:
        """The iteration with the lowest cost (the first one on ties)."""
        return min(self.iterations, key=lambda it: it.cost)

    def summary(self, improver: str) -> dict:
        """Return the run summary (`run_lines.summarise`) of these iterations.

        Args:
            improver: The improver the run asked (each iteration names who answered).

        Returns:
            task, improver, goal, status, message (the failed step's error), iterations,
            costs, final and best cost, best iteration and theta, and who answered the planner
            steps (`step_counts`).

        """
        lines = [
            {
                'iteration': it.iteration,
                'cost': it.cost,
                'theta': it.theta.tolist(),
                'improver': it.improver,
                'planner': it.details,
            }
            for it in self.iterations
        ]
        return summarise(
            {'task': self.task, 'improver': improver, 'goal': self.goal.tolist()},
            lines,
            self.status,
            self.failed_step.error if self.failed_step else '',
            int(self.failed_step is not None),
        )


def draw_goal(task: TaskSpec, seed: int) -> np.ndarray:
    """Return the goal of episode `seed`: uniform in the goal range, or the fixed goal."""
    if task.goal_conditioned:
        return np.random.default_rng(seed).uniform(task.goal_low, task.goal_high)
    return np.array(task.default_goal, dtype=float)


class Stopped(IcpiError):
    """The loop was asked to stop (cancel) between two trials."""


def run_loop(
    task: TaskSpec,
    trial: Callable[[np.ndarray, int], np.ndarray | Score],
    plan: Callable[[PolicyQuery], PolicyStep],
    goal: np.ndarray,
    theta0: np.ndarray,
    iterations: int = 20,
    tolerance: float = 0.0,
    history: Sequence[Iteration] = (),
    on_trial: Callable[[Iteration], None] | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    run_id: str = '',
) -> LoopResult:
    """Run trials until `iterations` in all (counting `history`) or a cost <= `tolerance`.

    `trial(theta, iteration) -> outcome` executes the clipped theta (simulator or robot);
    a trial that knows its own cost (a closed-loop task's effort term) returns its Score.
    `plan(query) -> PolicyStep` is the planner (in process, or the NextPolicy service).
    `on_trial` sees each iteration right after its trial, before planning (write the record
    there: a crash while planning then loses no trial); `on_iteration` after planning.
    A resumed run passes the recorded iterations as `history`: the next theta is planned from
    the last of them, so no trial is repeated. `should_stop()` true raises Stopped. A planner
    step that raises ImproverFailed ends the run: the result keeps every trial and the step's
    error and details in `failed_step`. Every query carries `run_id` and the run's trials
    before it (`PolicyQuery.history`), so improvers that learn within a run keep their state
    per run and can rebuild it.
    """
    if iterations < 1:
        raise InvalidInput(f'iterations must be at least 1, got {iterations}')
    if not tolerance >= 0:
        raise InvalidInput(f'tolerance must be >= 0, got {tolerance}')
    result = LoopResult(task.name, goal, list(history))

    def planned(it: Iteration) -> PolicyStep | None:
        earlier = tuple(
            HistoryTrial(h.theta, h.outcome)
            for h in result.iterations
            if h.iteration < it.iteration
        )
        query = make_query(
            task, it.theta, it.outcome - goal, goal=goal, run_id=run_id, history=earlier
        )
        try:
            return plan(query)
        except ImproverFailed as exc:
            result.failed_step = FailedStep(it.iteration, str(exc), exc.details)
            return None

    if history:
        last = history[-1]
        if last.cost <= tolerance or len(history) >= iterations:
            return result
        produced_by = planned(last)
        if produced_by is None:
            return result
        theta = produced_by.theta_next
    else:
        theta, _ = task.clip(task.check_theta(theta0, 'theta0'))
        produced_by = None
    for i in range(len(history), iterations):
        if should_stop is not None and should_stop():
            raise Stopped(f'stopped before trial {i + 1} of {iterations}')
        start = time.perf_counter()
        observed = trial(theta, i)
        if isinstance(observed, Score):
            outcome, cost = np.asarray(observed.outcome, dtype=float), float(observed.cost)
        else:
            outcome = np.asarray(observed, dtype=float)
            cost = trial_cost(task, outcome, goal)
        it = Iteration(i, theta, outcome, cost)
        it.trial_s = time.perf_counter() - start
        if produced_by is not None:
            it.improver, it.details = produced_by.improver, dict(produced_by.details)
            if produced_by.fallback_reason:
                it.details['fallback_reason'] = produced_by.fallback_reason
        result.iterations.append(it)
        if on_trial is not None:
            on_trial(it)
        if i < iterations - 1 and it.cost > tolerance:
            start = time.perf_counter()
            produced_by = planned(it)
            it.plan_s = time.perf_counter() - start
            if produced_by is not None:
                it.theta_next = produced_by.theta_next
        if on_iteration is not None:
            on_iteration(it)
        if it.theta_next is None:
            break
        theta = it.theta_next
    return result


def improve(
    task: TaskSpec,
    trial: Callable[[np.ndarray], np.ndarray | Score],
    goal: np.ndarray,
    theta0: np.ndarray,
    improver: Improver,
    iterations: int = 20,
    tolerance: float = 0.0,
    fallback: Improver | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> LoopResult:
    """Run the loop in process: `trial(theta) -> outcome or Score`, the improver asked directly."""
    return run_loop(
        task,
        lambda theta, _i: trial(theta),
        lambda query: next_policy(improver, query, fallback),
        goal,
        theta0,
        iterations,
        tolerance,
        on_iteration=on_iteration,
    )
