# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Real-robot core: kinematics from a model file (MuJoCo IK) and the cell's safety checks."""

import numpy as np
import pytest

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.kinematics import ModelKinematics
from icpi_ros.core.motion import JointPlan, PlanRejected, plan_motion
from icpi_ros.core.safety import SafetyLimits, check_plan, check_sent
from icpi_ros.core.sim.scenes import arm_model_xml
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASKS = load_tasks()
ARM = ArmSpec()


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp('arm') / 'arm.xml'
    path.write_text(arm_model_xml(ARM))
    return ModelKinematics(path, ARM.joint_names, 'tip', ARM.max_velocity)


def test_forward_kinematics_of_the_file_is_the_arm_s(model):
    q = np.random.default_rng(0).uniform(ARM.lower, ARM.upper, (60, 4))
    tip0, pitch0 = ARM.forward(q)
    # Pitch is measured towards the tip (the file knows no arm plane): tips in front only.
    front = np.einsum('ij,ij->i', tip0[:, :2], np.column_stack([np.cos(q[:, 0]), np.sin(q[:, 0])]))
    q, tip0, pitch0 = q[front > 0.05], tip0[front > 0.05], pitch0[front > 0.05]
    assert len(q) > 20
    tip, pitch = model.forward(q)
    np.testing.assert_allclose(tip, tip0, atol=1e-9)
    np.testing.assert_allclose(np.cos(pitch - pitch0), 1.0, atol=1e-9)


@pytest.mark.parametrize('name', ['roll-gc', 'rope-swing'])
def test_numerical_ik_plans_the_same_motion_as_the_closed_form(model, name):
    task = TASKS[name]
    theta = task.theta_middle()
    plan = plan_motion(task.motion, model, theta, task.trial_duration_s)
    reference = plan_motion(task.motion, ARM, theta, task.trial_duration_s)
    np.testing.assert_allclose(plan.positions, reference.positions, atol=1e-4)


def test_unreachable_points_and_bad_files_are_refused(model, tmp_path):
    with pytest.raises(ValueError, match='out of reach'):
        model.inverse(np.array([[2.0, 0.0, 0.3]]), 1.57)
    with pytest.raises(InvalidInput, match='does not exist'):
        ModelKinematics(tmp_path / 'none.urdf', ARM.joint_names)
    bad = tmp_path / 'bad.xml'
    bad.write_text('<mujoco><worldbody><body name="b"/></worldbody></mujoco>')
    with pytest.raises(InvalidInput, match="joint 'base_yaw' is not in bad.xml"):
        ModelKinematics(bad, ARM.joint_names)
    good = tmp_path / 'arm.xml'
    good.write_text(arm_model_xml(ARM))
    with pytest.raises(InvalidInput, match="tip frame 'hand'"):
        ModelKinematics(good, ARM.joint_names, 'hand')


def _plan(theta=(0.0, 0.1, 0.3)):
    task = TASKS['roll-gc']
    return plan_motion(task.motion, ARM, np.array(theta), task.trial_duration_s)


@pytest.mark.parametrize(
    ('limits', 'reason', 'message'),
    [
        ({'workspace_max': (0.4, 1.0, 1.0)}, 'workspace', 'outside the workspace box'),
        ({'workspace_min': (-1.0, -1.0, 0.025)}, 'workspace', 'outside the workspace box'),
        ({'max_joint_speed': 1.0}, 'speed', 'over max_joint_speed 1'),
        ({'max_joint_accel': 10.0}, 'acceleration', 'over max_joint_accel 10'),
        ({'max_stroke_m': 0.05}, 'stroke', 'stroke of 0.100 m is longer than max_stroke_m'),
    ],
)
def test_safety_refusals_name_the_limit(limits, reason, message):
    check_plan(_plan(), SafetyLimits())  # within the default envelope
    with pytest.raises(PlanRejected, match=message) as caught:
        check_plan(_plan(), SafetyLimits(**limits))
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ('limits', 'message'),
    [
        ({'workspace_min': (0.0, 0.0)}, '3 numbers'),
        ({'workspace_min': (1.0, 0.0, 0.0), 'workspace_max': (0.5, 1.0, 1.0)}, 'must lie below'),
        ({'max_joint_speed': 0.0}, 'max_joint_speed must be positive'),
        ({'max_stroke_m': float('nan')}, 'max_stroke_m must be positive'),
    ],
)
def test_bad_limits_are_refused(limits, message):
    with pytest.raises(InvalidInput, match=message):
        SafetyLimits(**limits)


# What is sent: the decimated points and the controller's cubic interpolation between them.


def _slide_plan(theta=(0.0, 0.1, 0.3)):
    task = TASKS['slide-gc']
    return plan_motion(task.motion, ARM, np.array(theta), task.trial_duration_s)


def test_decimate_keeps_every_fifth_point_and_the_last():
    plan = _slide_plan()
    sent = plan.decimate(5)
    np.testing.assert_array_equal(sent.times[:-1], plan.times[:-1:5])
    assert sent.times[-1] == plan.times[-1]
    np.testing.assert_array_equal(sent.positions[-1], plan.positions[-1])
    with pytest.raises(InvalidInput, match='stride'):
        plan.decimate(0)


def test_hermite_acceleration_is_the_derivative_of_the_interpolated_velocity():
    sent = _slide_plan().decimate(5)
    t = np.linspace(0.013, sent.duration - 0.013, 500)
    h = 1e-6
    numeric = (sent.sample(t + h)[1] - sent.sample(t - h)[1]) / (2 * h)
    np.testing.assert_allclose(sent.acceleration(t), numeric, atol=1e-3)


def test_every_task_s_sent_trajectory_passes_with_the_arm_s_own_limits():
    for name in ('slide-gc', 'roll-gc', 'rope-swing'):
        task = TASKS[name]
        plan = plan_motion(task.motion, ARM, task.theta_middle(), task.trial_duration_s)
        check_sent(plan.decimate(5), ARM, SafetyLimits())


def test_the_spline_between_sent_points_accelerates_harder_than_the_plan():
    plan = _slide_plan()
    dense = np.abs(np.gradient(plan.velocities, plan.times, axis=0)).max()
    limits = SafetyLimits(max_joint_accel=dense * 1.04)
    check_plan(plan, limits)  # the dense plan is within the limit...
    with pytest.raises(PlanRejected, match='between the sent points') as refused:
        check_sent(plan.decimate(5), ARM, limits)  # ...what the controller does is not
    assert refused.value.reason == 'acceleration' and 'max_joint_accel' in str(refused.value)


def test_a_spline_that_overshoots_a_joint_limit_between_points_is_refused():
    # Two points inside the elbow's range, velocities that carry the spline past its limit.
    upper = ARM.upper[2] - ARM.limit_margin - 0.01
    q = np.tile(np.array([0.0, -0.5, upper, 0.0]), (2, 1))
    qd = np.zeros((2, 4))
    qd[0, 2], qd[1, 2] = 3.0, -3.0
    sent = JointPlan(ARM.joint_names, np.array([0.0, 0.2]), q, qd)
    assert ARM.limit_violation(q) is None
    with pytest.raises(PlanRejected, match='between the sent points.*elbow') as refused:
        check_sent(sent, ARM, SafetyLimits())
    assert refused.value.reason == 'limits'


def test_a_spline_that_leaves_the_workspace_is_refused():
    sent = _slide_plan().decimate(5)
    tip, _ = ARM.forward(sent.positions)
    dense_tip, _ = ARM.forward(sent.sample(np.linspace(0, sent.duration, 3000))[0])
    # A box just around the sent points' tips: the interpolated path pokes out of it.
    low, high = tip.min(axis=0) - 1e-6, tip.max(axis=0) + 1e-6
    assert np.any((dense_tip < low) | (dense_tip > high))
    with pytest.raises(PlanRejected, match='between the sent points') as refused:
        check_sent(sent, ARM, SafetyLimits(tuple(low), tuple(high)))
    assert refused.value.reason == 'workspace'
