# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""MuJoCo tasks on the fast path: determinism, smoothness, clipping, tracking, reachability."""

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from icpi_ros.core.sim.scenes import scene_xml
from icpi_ros.core.sim.simulator import TrialRunner, run_trial
from icpi_ros.core.tasks import load_tasks

TASKS = load_tasks()
SIM_TASKS = ['slide', 'slide-gc', 'roll-gc', 'rope-swing']


@pytest.fixture(scope='module')
def runners():
    made = {name: TrialRunner(TASKS[name]) for name in SIM_TASKS}
    yield made
    for runner in made.values():
        runner.close()


def test_scenes_avoid_features_removed_in_mujoco_4():
    for name in SIM_TASKS:
        xml = scene_xml(TASKS[name], TrialRunner(TASKS[name]).sim.arm)
        assert '<composite' not in xml and '<plugin' not in xml and 'cable' not in xml


@pytest.mark.parametrize('name', SIM_TASKS)
def test_bitwise_deterministic(runners, name):
    task = TASKS[name]
    theta = task.theta_low + 0.3 * (task.theta_high - task.theta_low)
    a = runners[name].run(theta, seed=3)
    b = run_trial(task, theta, seed=3)  # a fresh simulator gives the same bits
    assert a.outcome.tobytes() == b.outcome.tobytes()
    assert a.object_positions.tobytes() == b.object_positions.tobytes()


def test_seed_jitters_the_start_only_when_asked():
    task = TASKS['slide-gc']
    noisy = TrialRunner(task, start_noise_m=0.002)
    theta = task.theta_middle()
    assert noisy.run(theta, seed=1).outcome.tobytes() == noisy.run(theta, seed=1).outcome.tobytes()
    assert noisy.run(theta, seed=1).outcome.tobytes() != noisy.run(theta, seed=2).outcome.tobytes()


def _jitter_rms(values: np.ndarray, outcomes: np.ndarray) -> float:
    """RMS residual of each point from a quadratic fitted to its 7-point neighbourhood."""
    residuals = []
    for i in range(3, len(values) - 3):
        for k in range(outcomes.shape[1]):
            fit = np.polyfit(values[i - 3 : i + 4], outcomes[i - 3 : i + 4, k], 2)
            residuals.append(outcomes[i, k] - np.polyval(fit, values[i]))
    return float(np.sqrt(np.mean(np.square(residuals))))


@pytest.mark.parametrize('name', ['slide-gc', 'roll-gc', 'rope-swing'])
def test_theta_to_outcome_is_smooth(runners, name):
    # Not just deterministic: a sweep of each parameter must give a smooth outcome curve
    # (jitter <= 2 mm RMS), or finite-difference and local-linear improvers cannot work.
    task = TASKS[name]
    for j, param in enumerate(task.parameters):
        values = np.linspace(param.low, param.high, 25)
        outcomes = []
        for v in values:
            theta = task.theta_middle()
            theta[j] = v
            outcomes.append(runners[name].run(theta).outcome)
        outcomes = np.array(outcomes)
        assert np.ptp(outcomes, axis=0).max() > 0.01, f'{param.name} barely moves the outcome'
        assert _jitter_rms(values, outcomes) <= 0.002, f'{name}: {param.name} sweep is not smooth'


def test_theta_outside_bounds_is_clipped_before_moving(runners):
    task = TASKS['slide-gc']
    record = runners['slide-gc'].run(np.array([5.0, -1.0, 0.3]))
    assert record.theta_clipped
    np.testing.assert_array_equal(record.theta, [task.theta_high[0], task.theta_low[1], 0.3])


@pytest.mark.parametrize('name', ['slide-gc', 'rope-swing'])
def test_tool_tip_follows_the_planned_path(runners, name):
    task = TASKS[name]
    for corner in itertools.product(*zip(task.theta_low, task.theta_high, strict=True)):
        record = runners[name].run(np.array(corner))
        deviation = np.linalg.norm(record.tip_positions - record.planned_tip, axis=1)
        assert deviation.max() <= 0.005, f'{name} {corner}: tip off its path by {deviation.max()}'


class _Reached(Exception):
    pass


def _reach(runner: TrialRunner, goal: np.ndarray, tolerance: float) -> float:
    """Distance to `goal` found by a coarse grid, then Nelder-Mead until within tolerance."""
    task = runner.task
    lo, hi = task.theta_low, task.theta_high
    best = [np.inf]

    def miss(z: np.ndarray) -> float:
        outcome = runner.run(lo + np.clip(z, 0, 1) * (hi - lo)).outcome
        distance = float(np.linalg.norm(outcome - goal))
        best[0] = min(best[0], distance)
        if distance <= tolerance:
            raise _Reached
        return distance

    try:
        grid = np.array(list(itertools.product(*(np.linspace(0, 1, 4) for _ in lo))))
        start = grid[int(np.argmin([miss(z) for z in grid]))]
        simplex = np.vstack([start, start + 0.15 * np.eye(len(lo))])
        minimize(
            miss, start, method='Nelder-Mead', options={'initial_simplex': simplex, 'maxfev': 150}
        )
    except _Reached:
        pass
    return best[0]


@pytest.mark.parametrize('name', ['slide-gc', 'roll-gc', 'rope-swing'])
def test_goal_range_is_reachable_within_the_bounds(runners, name):
    task = TASKS[name]
    low, high = np.array(task.goal_low), np.array(task.goal_high)
    goals = [low, high, np.array([low[0], high[1]]), np.array([high[0], low[1]]), (low + high) / 2]
    for goal in goals:
        miss = _reach(runners[name], goal, tolerance=0.005)
        assert miss <= 0.005, f'{name}: goal {goal.tolist()} missed by {miss:.4f} m'
