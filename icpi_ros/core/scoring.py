# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Score an observed trial: the outcome from a tracked trajectory, error and cost."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.task_plugins import plugin_registry
from icpi_ros.core.tasks import TaskSpec

# The object must have been seen this close to the end of the trial window (s), and at rest
# (below REST_SPEED over its last valid frames), to trust its final position: a ball that
# rolled out of view has no outcome, a puck hidden for a few frames after stopping has one.
FINAL_WINDOW_S = 1.0
REST_SPEED = 0.02  # m/s


def euclidean_cost(outcome: np.ndarray, goal: np.ndarray) -> float:
    """Return the cost of a trial: the distance between its outcome and the goal."""
    return float(np.linalg.norm(np.asarray(outcome, dtype=float) - np.asarray(goal, dtype=float)))


def euclidean_effort_cost(
    outcome: np.ndarray, goal: np.ndarray, effort: float = 0.0, effort_weight: float = 0.0
) -> float:
    """Return the cost of a closed-loop trial: the final distance to the goal plus effort.

    Args:
        outcome: where the object ended.
        goal: where it should have ended.
        effort: the integral of the squared velocity command over the episode, m^2/s
            (0 when only the outcome is known).
        effort_weight: s/m, the task's `effort_weight`.

    Returns:
        The cost (m).
    """
    return euclidean_cost(outcome, goal) + effort_weight * effort


def cost_function(task: TaskSpec) -> Callable[..., float]:
    """Return the function of the task's cost kind (`cost:`, a CostFunction of its plugin)."""
    return _cost_kind(task).function


def _cost_kind(task: TaskSpec):
    return plugin_registry().cost(task.cost, f'task {task.name}')


def trial_cost(task: TaskSpec, outcome: np.ndarray, goal: np.ndarray, effort: float = 0.0) -> float:
    """Return a trial's cost as the task defines it (`cost`, and `effort_weight` if it has one).

    Args:
        task: the task.
        outcome: where the object ended.
        goal: the goal.
        effort: the closed-loop effort (m^2/s; ignored by a cost without an effort term).

    Returns:
        The cost.
    """
    kind = _cost_kind(task)
    if kind.uses_effort:
        return float(kind.function(outcome, goal, effort, task.effort_weight))
    return float(kind.function(outcome, goal))


class TrackingLost(IcpiError, ValueError):
    """The trajectory does not show where the object ended."""


@dataclass(frozen=True)
class Score:
    """Outcome s (task's outcome space), relative error e = s - goal and cost."""

    outcome: np.ndarray
    error: np.ndarray
    cost: float


def score_trajectory(
    task: TaskSpec,
    times: np.ndarray,
    points: np.ndarray,
    valid: np.ndarray,
    goal: np.ndarray,
    end_s: float,
    final_window_s: float = FINAL_WINDOW_S,
    effort: float = 0.0,
) -> Score:
    """Score a tracked trial: the task's outcome kind over the valid points, and the cost.

    The built-in outcome is the last valid point on the outcome axes; the last valid point
    must be seen within `final_window_s` of the end, the object at rest.

    The cost is the task's (`trial_cost`): a closed-loop trial passes its `effort`.

    Raises:
        TrackingLost: no valid point, or the last one is too early to be the final position.

    """
    valid = np.asarray(valid, dtype=bool)
    if not valid.any():
        raise TrackingLost('the object was never seen during the trial')
    last = int(np.flatnonzero(valid)[-1])
    if end_s - float(times[last]) > final_window_s:
        raise TrackingLost(
            f'the object was last seen {end_s - float(times[last]):.2f} s before the end of '
            f'the trial (more than {final_window_s:g} s): its final position is unknown'
        )
    seen = np.flatnonzero(valid)
    if seen.size >= 2:
        a, b = seen[-2], seen[-1]
        dt = float(times[b] - times[a])
        speed = float(np.linalg.norm(points[b] - points[a])) / dt if dt > 0 else 0.0
        if speed > REST_SPEED and end_s - float(times[last]) > 0.1:
            raise TrackingLost(
                f'the object was moving ({speed:.2f} m/s) when last seen, '
                f'{end_s - float(times[last]):.2f} s before the end of the trial'
            )
    outcome = task.outcome_of(np.asarray(times)[valid], np.asarray(points)[valid])
    error = outcome - goal
    return Score(outcome, error, trial_cost(task, outcome, goal, effort))
