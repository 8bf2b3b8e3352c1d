# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Real-robot core: kinematics from a model file (MuJoCo IK) and the cell's safety checks."""

import numpy as np
import pytest

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.kinematics import ModelKinematics
from icpi_ros.core.motion import PlanRejected, plan_motion
from icpi_ros.core.safety import SafetyLimits, check_plan
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
