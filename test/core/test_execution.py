# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The trial executor's rules without ROS (core.execution).

What is sent, the start-pose check, the reset made in advance, and which goals are one trial.
"""

import numpy as np
import pytest

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.execution import (
    POINT_STRIDE,
    REPLAY_S,
    Arrival,
    Claim,
    PreparedReset,
    arrival,
    claim,
    completed,
    plan_to_send,
    same_trial,
    start_pose,
    trajectory_points,
    trial_key,
)
from icpi_ros.core.motion import JointPlan, PlanRejected, plan_motion
from icpi_ros.core.safety import SafetyLimits
from icpi_ros.core.tasks import load_tasks

TASKS = load_tasks()
ARM = ArmSpec()


def test_the_plan_sent_is_every_fifth_point_and_the_last():
    task = TASKS['slide-gc']
    theta = task.theta_middle()
    full = plan_motion(task.motion, ARM, theta, task.trial_duration_s)
    sent = plan_to_send(task, ARM, SafetyLimits(), theta)
    keep = [*range(0, len(full.times) - 1, POINT_STRIDE), len(full.times) - 1]
    np.testing.assert_array_equal(sent.times, full.times[keep])
    np.testing.assert_array_equal(sent.positions, full.positions[keep])
    assert sent.duration == full.duration


def test_a_plan_over_the_cell_limits_is_rejected_before_it_is_sent():
    task = TASKS['slide-gc']
    with pytest.raises(PlanRejected) as caught:
        plan_to_send(task, ARM, SafetyLimits(max_joint_speed=0.01), task.theta_middle())
    assert caught.value.reason == 'speed'
    # The controller's spline between the sent points is checked too: a limit the dense plan
    # meets, its decimation does not.
    full = plan_motion(task.motion, ARM, task.theta_middle(), task.trial_duration_s)
    peak = np.abs(full.acceleration(np.linspace(0.0, full.duration, 20000))).max()
    with pytest.raises(PlanRejected, match="between the sent points .the controller's spline."):
        plan_to_send(task, ARM, SafetyLimits(max_joint_accel=peak * 1.01), task.theta_middle())


def test_trajectory_points_are_the_plan_s_samples_as_plain_values():
    plan = JointPlan(
        ('a', 'b'),
        np.array([0.0, 0.05, 0.1]),
        np.array([[0.0, 1.0], [0.1, 1.1], [0.2, 1.2]]),
        np.array([[1.0, 2.0], [1.5, 2.5], [0.0, 0.0]]),
    )
    points = trajectory_points(plan)
    assert [p.time_from_start for p in points] == [0.0, 0.05, 0.1]
    assert points[1].positions == [0.1, 1.1] and points[1].velocities == [1.5, 2.5]
    assert all(type(v) is float for p in points for v in (*p.positions, p.time_from_start))


def _plan(start):
    start = np.asarray(start, dtype=float)
    return JointPlan(
        ('j1', 'j2'), np.array([0.0, 1.0]), np.vstack([start, start]), np.zeros((2, 2))
    )


def test_start_pose_names_the_farthest_joint_and_the_tolerance():
    pose = start_pose({'j1': 0.0, 'j2': 0.5, 'other': 9.0}, _plan([0.01, 0.2]), 0.05)
    assert not pose.ok and pose.missing == ()
    np.testing.assert_allclose(pose.gaps, [0.01, 0.3])
    assert pose.message() == (
        'the arm is not at the plan start: joint j2 is 0.300 rad away '
        '(start_tolerance_rad 0.05); move it to the task home pose'
    )
    assert start_pose({'j1': 0.0, 'j2': 0.22}, _plan([0.01, 0.2]), 0.05).ok
    assert start_pose({'j1': 0.0, 'j2': 0.25}, _plan([0.0, 0.2]), 0.05).ok  # at the limit


def test_start_pose_without_a_joint_state_says_which_joints():
    pose = start_pose({'j1': 0.0}, _plan([0.0, 0.0]), 0.05)
    assert not pose.ok and pose.missing == ('j2',)
    assert pose.message() == "no joint state received for ['j2']"
    assert start_pose({}, _plan([0.0, 0.0]), 0.05).missing == ('j1', 'j2')


def test_a_prepared_reset_is_taken_once_and_only_for_its_task_and_goal():
    prepared = PreparedReset()
    assert prepared.take('slide-gc', [0.5, 0.0]) is None
    prepared.store('slide-gc', np.array([0.5, 0.0]), 'future')
    assert prepared.take('slide-gc', (0.5, 0.0)) == 'future'  # array or sequence alike
    assert prepared.take('slide-gc', [0.5, 0.0]) is None  # used once
    prepared.store('slide-gc', [0.5, 0.0], 'future')
    assert prepared.take('slide-gc', [0.5, 0.1]) is None  # another goal: reset afresh
    assert prepared.take('slide-gc', [0.5, 0.0]) is None  # and forgotten
    prepared.store('slide-gc', [0.5, 0.0], 'first')
    prepared.store('roll-gc', [0.6, 0.0], 'second')  # the newest replaces it
    assert prepared.take('slide-gc', [0.5, 0.0]) is None
    prepared.store('roll-gc', [0.6, 0.0], 'second')
    assert prepared.take('roll-gc', [0.6, 0.0]) == 'second'


def test_goals_without_a_trial_id_are_never_the_same_trial():
    assert trial_key('', 'slide-gc', [0.1], []) is None
    key = trial_key('t1', 'slide-gc', [0.1, 0.2], [])
    assert key == ('t1', 'slide-gc', (0.1, 0.2), (), '')
    assert same_trial(key, trial_key('t1', 'slide-gc', (0.1, 0.2), ()))
    assert not same_trial(None, None)
    assert not same_trial(key, trial_key('t1', 'slide-gc', [0.1, 0.3], []))  # another theta
    assert not same_trial(key, trial_key('t1', 'roll-gc', [0.1, 0.2], []))
    code = trial_key('t1', 'push-gc', [], [], 'class Policy: ...')
    assert same_trial(code, trial_key('t1', 'push-gc', [], [], 'class Policy: ...'))
    assert not same_trial(code, trial_key('t1', 'push-gc', [], [], 'class Policy: pass'))


def test_an_arriving_goal_is_first_a_resend_or_busy():
    key = trial_key('t1', 'slide-gc', [0.1], [])
    assert arrival(key, False, None) is Arrival.FIRST
    assert arrival(None, False, key) is Arrival.FIRST
    assert arrival(key, True, key) is Arrival.RESEND
    assert arrival(trial_key('t2', 'slide-gc', [0.1], []), True, key) is Arrival.BUSY
    assert arrival(None, True, None) is Arrival.BUSY  # without an id: never a resend


def test_a_goal_claims_run_replay_attach_or_wait():
    key = trial_key('t1', 'slide-gc', [0.1], [])
    other = trial_key('t2', 'slide-gc', [0.1], [])
    last = completed(key, True, 'result', at=100.0)
    assert claim(key, False, None, None, 100.0) is Claim.RUN
    assert claim(key, False, None, last, 100.0 + REPLAY_S - 0.1) is Claim.REPLAY
    assert claim(key, False, None, last, 100.0 + REPLAY_S) is Claim.RUN  # too old
    assert claim(other, False, None, last, 101.0) is Claim.RUN
    assert claim(None, False, None, last, 101.0) is Claim.RUN
    assert claim(key, True, key, last, 101.0) is Claim.ATTACH
    assert claim(other, True, key, None, 101.0) is Claim.WAIT
    assert claim(None, True, None, None, 101.0) is Claim.WAIT


def test_only_a_success_with_a_trial_id_is_remembered_for_replay():
    key = trial_key('t1', 'slide-gc', [0.1], [])
    assert completed(key, False, 'failed', 1.0) is None
    assert completed(None, True, 'ok', 1.0) is None
    last = completed(key, True, 'ok', 1.0)
    assert (last.key, last.result, last.at) == (key, 'ok', 1.0)
    assert last.replays(key, 2.0) and not last.replays(None, 2.0)
