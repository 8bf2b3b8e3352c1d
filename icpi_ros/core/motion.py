# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""theta -> Cartesian tool path -> joint plan, with the checks done before anything moves.

Shared by the simulator and the real robot. How theta becomes the tool's path is the task's
motion kind (a MotionPrimitive of a task plugin: core/task_plugins.py; the built-in strike and
swing in core/builtin_plugin.py); here the path is sampled at PLAN_RATE_HZ, turned into joint
positions and speeds and checked against the arm's limits.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from icpi_ros.core.arm import ArmSpec, Unreachable
from icpi_ros.core.errors import IcpiError
from icpi_ros.core.task_plugins import MotionPrimitive, PluginRegistry, plugin_registry
from icpi_ros.core.validation import InvalidInput

PLAN_RATE_HZ = 100.0
_FD_STEP_S = 1e-4


class PlanRejected(IcpiError, ValueError):
    """A plan that must not be executed; `reason` is 'limits' or 'unreachable'."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class MotionConfig:
    """A task's motion settings (config/tasks.yaml, `motion:`)."""

    kind: str  # the motion kind: strike, swing, push (closed loop) or a plugin's
    home: tuple[float, float, float]  # tool tip at rest, table frame (m)
    tool_pitch: float  # rad; pi/2 = tool pointing down
    approach_time: float  # s, home -> stroke start
    pause: float  # s, still at the stroke start before the stroke
    object_start: tuple[float, float]  # kinds touching an object: its centre (x, y) on the table
    contact_height: float  # kinds touching an object: tool tip centre height during the stroke
    contact_offset: float  # kinds touching an object: tip centre to object centre at contact
    settings: tuple[tuple[str, float], ...] = ()  # the kind's own numbers, (name, value)
    primitive: MotionPrimitive | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(
        cls, task: str, raw: Mapping[str, Any], registry: PluginRegistry | None = None
    ) -> 'MotionConfig':
        """Validate a task's `motion:` mapping; its kind from `registry` (default: installed)."""
        where = f'tasks.{task}.motion'
        if not isinstance(raw, Mapping):
            raise InvalidInput(f'{where}: expected a mapping')
        primitive = (registry or plugin_registry()).motion(raw.get('kind'), where)

        def num(key: str, default: float | None = None) -> float:
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInput(f'{where}.{key}: expected a number, got {value!r}')
            return float(value)

        def vec(key: str, n: int, default: list[float] | None = None) -> tuple[float, ...]:
            value = raw.get(key, default)
            if not isinstance(value, list) or len(value) != n:
                raise InvalidInput(f'{where}.{key}: expected {n} numbers, got {value!r}')
            return tuple(float(v) for v in value)

        touches = primitive.touches_object  # an object on the table
        stroke = not primitive.closed_loop
        return cls(
            kind=primitive.name,
            home=vec('home', 3),
            tool_pitch=num('tool_pitch'),
            approach_time=num('approach_time', 0.8) if stroke else 0.0,
            pause=num('pause', 0.2) if stroke else 0.0,
            object_start=vec('object_start', 2) if touches else (0.0, 0.0),
            contact_height=num('contact_height') if touches else 0.0,
            contact_offset=num('contact_offset') if touches else 0.0,
            settings=tuple((key, num(key)) for key in primitive.settings),
            primitive=primitive,
        )

    def setting(self, name: str) -> float:
        """Return the kind's own setting `name` (a plugin motion's number from `motion:`)."""
        return dict(self.settings)[name]


@dataclass(frozen=True)
class JointPlan:
    """Joint positions and velocities sampled at PLAN_RATE_HZ, plus the tool path."""

    joint_names: tuple[str, ...]
    times: np.ndarray  # (N,) s from the plan's start
    positions: np.ndarray  # (N, dof) rad
    velocities: np.ndarray  # (N, dof) rad/s
    tip: np.ndarray | None = None  # (N, 3) planned tool tip, table frame
    stroke: tuple[float, float] | None = None  # start and end time of the stroke

    @property
    def duration(self) -> float:
        """Time of the last sample."""
        return float(self.times[-1])

    def _segments(self, t: np.ndarray) -> tuple[np.ndarray, ...]:
        """For times `t` (clipped to the plan): h, s in [0, 1], p0, p1 and h-scaled v0, v1."""
        t = np.clip(t, self.times[0], self.times[-1])
        i = np.clip(np.searchsorted(self.times, t, side='right') - 1, 0, len(self.times) - 2)
        t0, t1 = self.times[i], self.times[i + 1]
        h = (t1 - t0)[..., None]
        s = ((t - t0) / (t1 - t0))[..., None]
        p0, p1 = self.positions[i], self.positions[i + 1]
        return h, s, p0, p1, self.velocities[i] * h, self.velocities[i + 1] * h

    def sample(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Cubic Hermite interpolation of positions and velocities at times `t`.

        Before the first sample it holds the first; after the last it holds the last.
        """
        h, s, p0, p1, v0, v1 = self._segments(np.asarray(t, dtype=float))
        s2, s3 = s * s, s * s * s
        pos = (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * v0
        pos += (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * v1
        vel = (6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * v0
        vel += (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * v1
        return pos, vel / h

    def acceleration(self, t: np.ndarray | float) -> np.ndarray:
        """Second derivative of the cubic Hermite interpolation at times `t` (0 outside)."""
        t = np.asarray(t, dtype=float)
        inside = ((t >= self.times[0]) & (t <= self.times[-1]))[..., None]
        h, s, p0, p1, v0, v1 = self._segments(t)
        acc = (12 * s - 6) * p0 + (6 * s - 4) * v0 + (6 - 12 * s) * p1 + (6 * s - 2) * v1
        return np.where(inside, acc / (h * h), 0.0)

    def joined_from(self, lead_s: float, q: np.ndarray, qd: np.ndarray) -> 'JointPlan':
        """Return the plan preceded by the joint state (q, qd) `lead_s` s before its first sample.

        How joint_trajectory_controller takes a trajectory stamped ahead of now: from the
        state it had when the trajectory came, interpolated to the first point.
        """
        if not lead_s > 0:
            raise InvalidInput(f'lead_s must be positive, got {lead_s}')
        return JointPlan(
            self.joint_names,
            np.concatenate([[self.times[0] - lead_s], self.times]),
            np.vstack([q, self.positions]),
            np.vstack([qd, self.velocities]),
        )

    def decimate(self, stride: int) -> 'JointPlan':
        """Every `stride`-th sample and the last: the points sent to a controller."""
        if stride < 1:
            raise InvalidInput(f'stride must be at least 1, got {stride}')
        last = len(self.times) - 1
        keep = np.array([*range(0, last, stride), last])
        tip = None if self.tip is None else self.tip[keep]
        return JointPlan(
            self.joint_names,
            self.times[keep],
            self.positions[keep],
            self.velocities[keep],
            tip,
            self.stroke,
        )


def plan_motion(
    motion: MotionConfig, arm: ArmSpec, theta: np.ndarray, duration: float
) -> JointPlan:
    """Plan the joint motion for a theta that the caller has clipped to the task's bounds.

    Raises:
        PlanRejected: the path leaves the workspace ('unreachable') or a joint would exceed
            its position or velocity limit ('limits'). Nothing has moved.
        InvalidInput: a closed-loop motion (e.g. push: `closed_loop.rollout`, no plan), or
            a plugin's path of the wrong shape.

    """
    primitive = motion.primitive
    if primitive is None or primitive.closed_loop:
        raise InvalidInput(f'a {motion.kind} motion is closed loop: it has no planned path')
    n = int(round(duration * PLAN_RATE_HZ)) + 1
    times = np.linspace(0.0, (n - 1) / PLAN_RATE_HZ, n)
    tip, ahead, behind = (
        tool_path(motion, theta, t) for t in (times, times + _FD_STEP_S, times - _FD_STEP_S)
    )
    q, qd = joints_along(arm, motion.tool_pitch, tip, ahead, behind, _FD_STEP_S)
    start, end = primitive.stroke(motion, theta)
    return JointPlan(arm.joint_names, times, q, qd, tip, (float(start), float(end)))


def tool_path(motion: MotionConfig, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Tool tip positions (len(t), 3) of the plan for `theta` at times `t` (motion's kind).

    Raises:
        InvalidInput: a closed-loop kind, or the kind's path is not (len(t), 3) and finite.

    """
    primitive = motion.primitive
    if primitive is None or primitive.closed_loop:
        raise InvalidInput(f'a {motion.kind} motion is closed loop: it has no planned path')
    t = np.asarray(t, dtype=float)
    tip = np.asarray(primitive.tool_path(motion, np.asarray(theta, dtype=float), t), dtype=float)
    if tip.shape != (len(t), 3) or not np.all(np.isfinite(tip)):
        raise InvalidInput(
            f'motion kind {motion.kind!r}: tool_path returned shape {tip.shape}, expected '
            f'({len(t)}, 3) finite points'
        )
    return tip


def joints_along(
    arm,
    pitch: float,
    tip: np.ndarray,
    ahead: np.ndarray,
    behind: np.ndarray,
    step_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the joints of tool-tip points and their speeds, checked against the arm's limits.

    Args:
        arm: the ArmSpec or ModelKinematics.
        pitch: the tool pitch (rad).
        tip: the tool tip's points (N, 3), table frame.
        ahead: where each point is `step_s` later (N, 3) ...
        behind: ... and `step_s` earlier: the joint speeds are central differences.
        step_s: that time step (s).

    Returns:
        Joint positions and velocities (N, dof).

    Raises:
        PlanRejected: 'unreachable' (a point out of reach) or 'limits' (a joint position or
            speed over the arm's limits).

    """
    try:
        q = arm.inverse(tip, pitch)
        qd = (arm.inverse(ahead, pitch) - arm.inverse(behind, pitch)) / (2 * step_s)
    except Unreachable as exc:
        raise PlanRejected('unreachable', str(exc)) from None
    for problem in (arm.limit_violation(q), arm.velocity_violation(qd)):
        if problem:
            raise PlanRejected('limits', problem)
    return q, qd


def plan_from_points(
    arm: ArmSpec,
    joint_names: list[str],
    times: list[float],
    positions: list[list[float]],
    velocities: list[list[float]] | None,
    current: np.ndarray,
) -> JointPlan:
    """Validate a received joint trajectory and turn it into a JointPlan in the arm's order.

    The semantics of ros2_control's joint_trajectory_controller: every arm joint named once,
    times from the start strictly increasing; when the first point is later than 0 the motion
    starts from `current`. Missing velocities are estimated from the positions.

    Raises:
        InvalidInput: unknown or missing joints, wrong lengths, non-finite values,
            non-monotonic times, positions outside the joint limits or speeds over them.

    """
    unknown = [n for n in joint_names if n not in arm.joint_names]
    if unknown:
        raise InvalidInput(f'unknown joints {unknown}; the arm has {list(arm.joint_names)}')
    missing = [n for n in arm.joint_names if n not in joint_names]
    if missing or len(joint_names) != arm.dof:
        raise InvalidInput(f'every arm joint must be named once; missing {missing}')
    if not times:
        raise InvalidInput('trajectory has no points')
    order = [joint_names.index(n) for n in arm.joint_names]
    t = np.asarray(times, dtype=float)
    try:
        q = np.asarray(positions, dtype=float)
    except ValueError:
        raise InvalidInput('every point needs one position per joint') from None
    if q.shape != (len(t), arm.dof):
        raise InvalidInput(f'every point needs {arm.dof} positions')
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
        raise InvalidInput('times and positions must be finite')
    if t[0] < 0 or np.any(np.diff(t) <= 0):
        raise InvalidInput('time_from_start must start at >= 0 and strictly increase')
    q = q[:, order]
    if velocities is not None:
        qd = np.asarray(velocities, dtype=float)
        if qd.shape != q.shape or not np.all(np.isfinite(qd)):
            raise InvalidInput(f'velocities: give none, or {arm.dof} finite values per point')
        qd = qd[:, order]
    if t[0] > 0:
        t = np.concatenate([[0.0], t])
        q = np.vstack([current, q])
        qd = None if velocities is None else np.vstack([np.zeros(arm.dof), qd])
    if velocities is None:
        qd = np.gradient(q, t, axis=0) if len(t) > 1 else np.zeros_like(q)
        qd[0] = qd[-1] = 0.0
    mean_speed = np.diff(q, axis=0) / np.diff(t)[:, None] if len(t) > 1 else qd
    checks = (
        arm.limit_violation(q),
        arm.velocity_violation(qd),
        arm.velocity_violation(mean_speed),
    )
    for problem in checks:
        if problem:
            raise InvalidInput(problem)
    if len(t) == 1:  # a single point at time 0: hold it
        t = np.array([0.0, 1e-3])
        q, qd = np.vstack([q, q]), np.zeros((2, arm.dof))
    return JointPlan(arm.joint_names, t, q, qd)
