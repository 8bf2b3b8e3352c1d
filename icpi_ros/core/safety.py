# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Safety checks on a planned motion, before anything is sent to a real arm.

The planner (`motion.plan_motion`) already refuses unreachable paths and joint positions or
speeds over the arm's limits. A real cell adds its own envelope: the tool tip must stay in a
workspace box, joints under a speed and an acceleration chosen for the cell, and the stroke
no longer than a set length. Every refusal says which limit and by how much.

What reaches the arm is not the dense plan but its decimated points (positions and
velocities), and joint_trajectory_controller interpolates between them with a cubic spline per
segment (cubic Hermite: positions + velocities at both ends; quintic only when accelerations
are sent, which they are not). `check_sent` checks those points and a dense resampling of that
interpolation against the same limits: a spline between coarse points can overshoot a joint
limit or accelerate harder than the plan it was cut from.
"""

from dataclasses import dataclass

import numpy as np

from icpi_ros.core.motion import JointPlan, PlanRejected
from icpi_ros.core.validation import InvalidInput


@dataclass(frozen=True)
class SafetyLimits:
    """The cell's envelope (table frame, metres, radians, seconds)."""

    workspace_min: tuple[float, float, float] = (-np.inf, -np.inf, -np.inf)
    workspace_max: tuple[float, float, float] = (np.inf, np.inf, np.inf)
    max_joint_speed: float = np.inf  # rad/s, every joint
    max_joint_accel: float = np.inf  # rad/s^2, every joint
    max_stroke_m: float = np.inf

    def __post_init__(self) -> None:
        low, high = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        if low.shape != (3,) or high.shape != (3,) or np.any(np.isnan(low) | np.isnan(high)):
            raise InvalidInput('workspace_min/max: expected 3 numbers each')
        if np.any(low >= high):
            raise InvalidInput(f'workspace_min {low.tolist()} must lie below workspace_max')
        for name in ('max_joint_speed', 'max_joint_accel', 'max_stroke_m'):
            if not getattr(self, name) > 0:
                raise InvalidInput(f'{name} must be positive')


def check_plan(plan: JointPlan, limits: SafetyLimits) -> None:
    """Refuse a plan that leaves the workspace or exceeds the cell's speed, accel or stroke.

    Raises:
        PlanRejected: reason 'workspace', 'speed', 'acceleration' or 'stroke'.

    """
    if plan.tip is not None:
        _check_workspace(plan.tip, plan.times, limits, '')
    speed = np.abs(plan.velocities)
    if speed.max() > limits.max_joint_speed:
        k, j = np.unravel_index(int(np.argmax(speed)), speed.shape)
        raise PlanRejected(
            'speed',
            f'joint {plan.joint_names[j]} would move at {speed[k, j]:.2f} rad/s (t = '
            f'{plan.times[k]:.2f} s), over max_joint_speed {limits.max_joint_speed:g}',
        )
    if len(plan.times) > 1:
        accel = np.abs(np.gradient(plan.velocities, plan.times, axis=0))
        if accel.max() > limits.max_joint_accel:
            k, j = np.unravel_index(int(np.argmax(accel)), accel.shape)
            raise PlanRejected(
                'acceleration',
                f'joint {plan.joint_names[j]} would accelerate at {accel[k, j]:.1f} rad/s² '
                f'(t = {plan.times[k]:.2f} s), over max_joint_accel {limits.max_joint_accel:g}',
            )
    if plan.tip is not None and plan.stroke is not None:
        start, end = np.interp(plan.stroke, plan.times, np.arange(len(plan.times)))
        length = float(np.linalg.norm(plan.tip[int(round(end))] - plan.tip[int(round(start))]))
        if length > limits.max_stroke_m:
            raise PlanRejected(
                'stroke',
                f'stroke of {length:.3f} m is longer than max_stroke_m {limits.max_stroke_m:g}',
            )


# Resampling rate of the controller's interpolation for `check_sent` (Hz): 25 samples in a
# segment of the 20 Hz sent points, plus both ends of every segment.
SENT_CHECK_RATE_HZ = 500.0


def check_sent(
    sent: JointPlan, arm, limits: SafetyLimits, rate_hz: float = SENT_CHECK_RATE_HZ
) -> None:
    """Refuse sent points whose controller interpolation leaves a limit (see module docstring).

    `sent` holds exactly the points of the JointTrajectory; `arm` is the ArmSpec or
    ModelKinematics (joint position and speed limits, forward kinematics).

    Raises:
        PlanRejected: reason 'limits', 'speed', 'acceleration' or 'workspace'; the message
            says "sent" and where (a sent point, or between two).

    """
    where = 'at a sent point'
    for problem in (arm.limit_violation(sent.positions), arm.velocity_violation(sent.velocities)):
        if problem:
            raise PlanRejected('limits', f'sent trajectory {where}: {problem}')
    n = max(2, int(np.ceil(sent.duration * rate_hz)) + 1)
    # The spline's acceleration is linear in each segment and jumps at the points: its peaks
    # are the segment ends, so both sides of every point are sampled too.
    ends = np.clip(sent.times[1:] - 1e-9, sent.times[0], sent.times[-1])
    t = np.union1d(np.linspace(sent.times[0], sent.times[-1], n), np.union1d(sent.times, ends))
    q, qd = sent.sample(t)
    qdd = sent.acceleration(t)
    where = "between the sent points (the controller's spline)"
    for problem in (arm.limit_violation(q), arm.velocity_violation(qd)):
        if problem:
            raise PlanRejected('limits', f'sent trajectory {where}: {problem}')
    for reason, values, limit, unit, name in (
        ('speed', np.abs(qd), limits.max_joint_speed, 'rad/s', 'max_joint_speed'),
        ('acceleration', np.abs(qdd), limits.max_joint_accel, 'rad/s²', 'max_joint_accel'),
    ):
        if values.max() > limit:
            k, j = np.unravel_index(int(np.argmax(values)), values.shape)
            raise PlanRejected(
                reason,
                f'sent trajectory {where}: joint {sent.joint_names[j]} at {values[k, j]:.2f} '
                f'{unit} (t = {t[k]:.3f} s), over {name} {limit:g}',
            )
    low, high = np.asarray(limits.workspace_min), np.asarray(limits.workspace_max)
    if np.all(np.isinf(low)) and np.all(np.isinf(high)):
        return
    _check_workspace(arm.forward(q)[0], t, limits, f'sent trajectory {where}: ')


def _check_workspace(tip: np.ndarray, times: np.ndarray, limits: SafetyLimits, what: str) -> None:
    low, high = np.asarray(limits.workspace_min), np.asarray(limits.workspace_max)
    outside = np.any((tip < low) | (tip > high), axis=1)
    if np.any(outside):
        k = int(np.flatnonzero(outside)[0])
        raise PlanRejected(
            'workspace',
            f'{what}tool tip {np.round(tip[k], 3).tolist()} at t = {times[k]:.3f} s is '
            f'outside the workspace box {list(limits.workspace_min)} .. '
            f'{list(limits.workspace_max)}',
        )
