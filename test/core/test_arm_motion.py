# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Arm kinematics and theta -> joint plan: IK round trip, limits, plan checks, sampling."""

import dataclasses
import itertools

import numpy as np
import pytest

from icpi_ros.core.arm import ArmSpec, Unreachable
from icpi_ros.core.builtin_plugin import min_jerk
from icpi_ros.core.motion import (
    PLAN_RATE_HZ,
    PlanRejected,
    plan_from_points,
    plan_motion,
    tool_path,
)
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

ARM = ArmSpec()
TASKS = load_tasks()


@pytest.mark.parametrize('pitch', [0.0, np.pi / 2])
def test_inverse_then_forward_returns_the_pose(pitch):
    rng = np.random.default_rng(0)
    tips = np.column_stack(
        [rng.uniform(0.25, 0.55, 200), rng.uniform(-0.2, 0.2, 200), rng.uniform(0.02, 0.3, 200)]
    )
    q = ARM.inverse(tips, pitch)
    tip, tool_pitch = ARM.forward(q)
    np.testing.assert_allclose(tip, tips, atol=1e-12)
    np.testing.assert_allclose(tool_pitch, pitch, atol=1e-12)


def test_out_of_reach_is_refused():
    with pytest.raises(Unreachable, match='out of reach'):
        ARM.inverse(np.array([1.5, 0.0, 0.02]), np.pi / 2)


def test_limit_and_speed_violations_name_the_joint():
    q = np.zeros((3, 4))
    q[1, 2] = 3.0
    assert 'joint elbow' in ARM.limit_violation(q)
    qd = np.zeros((3, 4))
    qd[2, 0] = 50.0
    assert 'joint base_yaw speed 50.00' in ARM.velocity_violation(qd)
    assert ARM.limit_violation(np.full((2, 4), 0.5)) is None


def test_min_jerk_profile():
    tau = np.linspace(-0.5, 1.5, 201)
    s = min_jerk(tau)
    assert s[0] == 0.0 and s[-1] == 1.0
    assert np.all(np.diff(s) >= 0)
    assert min_jerk(np.array(0.5)) == pytest.approx(0.5)


@pytest.mark.parametrize('name', ['slide-gc', 'roll-gc', 'rope-swing'])
def test_plans_of_every_corner_of_the_bounds_pass_the_checks(name):
    task = TASKS[name]
    for corner in itertools.product(*zip(task.theta_low, task.theta_high, strict=True)):
        plan = plan_motion(task.motion, ARM, np.array(corner), task.trial_duration_s)
        assert plan.times[1] - plan.times[0] == pytest.approx(1 / PLAN_RATE_HZ)
        tip, _ = ARM.forward(plan.positions)
        np.testing.assert_allclose(tip, plan.tip, atol=1e-9)


def test_strike_path_goes_through_the_object_in_direction_angle():
    task = TASKS['slide-gc']
    theta = np.array([0.3, 0.12, 0.3])
    plan = plan_motion(task.motion, ARM, theta, task.trial_duration_s)
    t0, t1 = plan.stroke
    start, end = tool_path(task.motion, theta, np.array([t0, t1]))
    np.testing.assert_allclose(np.linalg.norm(end - start), 0.12, atol=1e-12)
    direction = (end - start) / 0.12
    np.testing.assert_allclose(direction, [np.cos(0.3), np.sin(0.3), 0.0], atol=1e-12)
    obj = np.array([*task.motion.object_start, task.motion.contact_height])
    np.testing.assert_allclose(np.cross(obj - start, direction), 0.0, atol=1e-12)


def test_too_fast_or_out_of_range_plans_are_rejected():
    task = TASKS['slide-gc']
    slow_arm = dataclasses.replace(ARM, max_velocity=(1.0, 1.0, 1.0, 1.0))
    with pytest.raises(PlanRejected, match='speed') as exc:
        plan_motion(task.motion, slow_arm, np.array([0.0, 0.15, 0.2]), 3.0)
    assert exc.value.reason == 'limits'
    narrow = dataclasses.replace(ARM, lower=(-0.03, -1.6, 0.0, -1.5), upper=(0.03, 1.2, 2.8, 2.6))
    with pytest.raises(PlanRejected, match='base_yaw') as exc:
        plan_motion(task.motion, narrow, np.array([0.35, 0.15, 0.3]), 3.0)
    assert exc.value.reason == 'limits'
    far = dataclasses.replace(task.motion, object_start=(1.2, 0.0))
    with pytest.raises(PlanRejected, match='out of reach') as exc:
        plan_motion(far, ARM, np.array([0.0, 0.1, 0.3]), 3.0)
    assert exc.value.reason == 'unreachable'


def test_hermite_sampling_matches_samples_and_holds_the_ends():
    task = TASKS['slide-gc']
    plan = plan_motion(task.motion, ARM, np.array([0.1, 0.1, 0.3]), 3.0)
    q, qd = plan.sample(plan.times)
    np.testing.assert_allclose(q, plan.positions, atol=1e-12)
    np.testing.assert_allclose(qd, plan.velocities, atol=1e-9)
    q_end, _ = plan.sample(np.array([plan.duration + 5.0]))
    np.testing.assert_allclose(q_end[0], plan.positions[-1])
    # Between samples the interpolation follows the planned path closely.
    t = np.linspace(0, plan.duration, 1237)
    q, _ = plan.sample(t)
    tip, _ = ARM.forward(q)
    expected = tool_path(task.motion, np.array([0.1, 0.1, 0.3]), t)
    np.testing.assert_allclose(tip, expected, atol=2e-5)


HOME = ARM.inverse(np.array([0.3, 0.0, 0.05]), np.pi / 2)
NAMES = list(ARM.joint_names)


@pytest.mark.parametrize(
    ('names', 'times', 'positions', 'velocities', 'message'),
    [
        (['base_yaw', 'shoulder', 'elbow', 'gripper'], [1.0], [HOME], None, 'unknown joints'),
        (NAMES[:3], [1.0], [HOME[:3]], None, 'missing'),
        (NAMES, [], [], None, 'no points'),
        (NAMES, [1.0, 0.5], [HOME, HOME], None, 'strictly increase'),
        (NAMES, [-1.0], [HOME], None, 'strictly increase'),
        (NAMES, [1.0], [[0.0, np.nan, 1.0, 0.5]], None, 'finite'),
        (NAMES, [1.0], [[0.0, 0.1, 1.0]], None, '4 positions'),
        (NAMES, [1.0], [HOME], [[0.0, 0.0]], 'velocities'),
        (NAMES, [1.0], [HOME + [0, 0, 5.0, 0]], None, 'joint elbow'),
        (NAMES, [0.01], [HOME + [1.0, 0, 0, 0]], None, 'speed'),
    ],
)
def test_received_trajectories_are_validated(names, times, positions, velocities, message):
    with pytest.raises(InvalidInput, match=message):
        plan_from_points(ARM, names, times, positions, velocities, HOME)


def test_received_trajectory_starts_from_the_current_position_in_arm_order():
    target = HOME + np.array([0.3, 0.0, 0.0, 0.0])
    shuffled = [NAMES[i] for i in (3, 2, 1, 0)]
    plan = plan_from_points(ARM, shuffled, [1.0], [target[[3, 2, 1, 0]]], None, HOME)
    np.testing.assert_allclose(plan.positions[0], HOME)
    np.testing.assert_allclose(plan.positions[-1], target)
    assert plan.times.tolist() == [0.0, 1.0]
    np.testing.assert_allclose(plan.sample(np.array([2.0]))[0][0], target)
