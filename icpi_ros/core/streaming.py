# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop trials on the arm, without ROS: the streamed steps and what the policy sees.

A closed-loop task (motion kind push) runs on the arm as a stream of short joint
trajectories, one per control step, each stamped at its step's start on the robot clock.
Step k starts at `start + k dt`; its command [vx, vy] (the policy's answer through the task's
`CommandLimits.check`, the check of the fast path) moves the commanded tool tip on from where
the stream has it then, for one period, and then to rest within one more (`StepSegment`): a
step whose trajectory does not come leaves the arm stopping by itself. The points of each step
go through the arm's inverse kinematics and the checks a stroke's plan gets before it is sent
(`step_to_send`: the arm's joint limits and speeds, `safety.check_plan` and `check_sent`).

The policy sees the observation of `closed_loop.OBSERVATION_FIELDS` built from what the
graph senses: the puck from the tracker's live points (`TrackedPoints`), the tool tip from the
joint states through the forward kinematics (`tool_state`), each extrapolated from its own
stamp to the time of the step (`extrapolate`).
"""

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.closed_loop import ACTION_SIZE, OBSERVATION_FIELDS, ClosedLoopEpisode
from icpi_ros.core.motion import JointPlan, MotionConfig, joints_along
from icpi_ros.core.safety import SafetyLimits, check_plan, check_sent
from icpi_ros.core.validation import InvalidInput

# Central-difference step of the joint speeds along a command (s), as plan_motion's.
_FD_STEP_S = 1e-4
# The puck's velocity is the slope of its tracked points over this long (s): 3-4 frames at
# the camera's 30 Hz.
VELOCITY_WINDOW_S = 0.1
# Tracked points kept (the velocity window needs a few).
KEEP_POINTS = 16


@dataclass(frozen=True)
class StepSegment:
    """The commanded tool tip [x, y] from `start_s`: `velocity` for `period` s, then to rest.

    The stop decelerates uniformly over one more period; before `start_s` the tip is at
    `origin`, after the stop it stays where it stopped.
    """

    start_s: float  # robot clock, s
    origin: np.ndarray  # [x, y], m
    velocity: np.ndarray  # [vx, vy], m/s
    period: float  # s

    @classmethod
    def rest(cls, start_s: float, xy, period: float) -> 'StepSegment':
        """Return the tip at rest at `xy` (before the first command)."""
        return cls(start_s, np.asarray(xy, dtype=float), np.zeros(2), period)

    def _split(self, t: float) -> tuple[float, float]:
        """Time spent moving at `velocity` and time spent stopping, by robot time `t`."""
        tau = float(np.clip(t - self.start_s, 0.0, 2 * self.period))
        return min(tau, self.period), max(tau - self.period, 0.0)

    def position(self, t: float) -> np.ndarray:
        """Where the segment has the tip at robot time `t`."""
        run, stop = self._split(t)
        return self.origin + self.velocity * (run + stop - stop * stop / (2 * self.period))

    def velocity_at(self, t: float) -> np.ndarray:
        """Return the commanded velocity at robot time `t` (the running one at a period's end)."""
        tau = t - self.start_s
        if tau < 0 or tau >= 2 * self.period:
            return np.zeros(2)
        return self.velocity * min(1.0, 2.0 - tau / self.period)

    def energy(self, start: float, end: float) -> float:
        """Return the integral of |velocity|^2 over [start, end] (robot s): the effort, m^2/s."""
        p, speed2 = self.period, float(self.velocity @ self.velocity)
        run0, stop0 = self._split(start)
        run1, stop1 = self._split(end)
        # While stopping |v|^2 = speed2 (1 - x/p)^2, whose integral from 0 to x is
        # speed2 p / 3 (1 - (1 - x/p)^3).
        stopping = (p / 3) * ((1 - stop0 / p) ** 3 - (1 - stop1 / p) ** 3)
        return speed2 * (run1 - run0 + stopping)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the segment's points: times from its start (3), [x, y] (3, 2), velocities."""
        p = self.period
        times = np.array([0.0, p, 2 * p])
        xy = np.array([self.position(self.start_s + t) for t in times])
        velocity = np.array([self.velocity, self.velocity, np.zeros(2)])
        return times, xy, velocity


def step_to_send(
    motion: MotionConfig, arm, limits: SafetyLimits, segment: StepSegment
) -> JointPlan:
    """Return the checked joint points of one control step (what the controller is sent).

    Args:
        motion: the task's motion settings (tool height and pitch on the table).
        arm: the ArmSpec or ModelKinematics.
        limits: the cell's envelope.
        segment: the step's commanded tool path.

    Returns:
        The step's 3 points (start, end of the command, at rest) as joint positions and
        velocities, the tool path with them.

    Raises:
        PlanRejected: unreachable, over the arm's joint limits or speeds, or over the cell's
            limits on the points or the controller's spline between them.

    """
    times, xy, velocity = segment.points()
    height = np.full((len(times), 1), motion.contact_height)
    tip = np.hstack([xy, height])
    step = np.hstack([velocity, np.zeros((len(times), 1))]) * _FD_STEP_S
    q, qd = joints_along(arm, motion.tool_pitch, tip, tip + step, tip - step, _FD_STEP_S)
    plan = JointPlan(tuple(arm.joint_names), times, q, qd, tip)
    check_plan(plan, limits)
    check_sent(plan, arm, limits)
    return plan


def tool_state(arm, q, qd) -> tuple[np.ndarray, np.ndarray]:
    """Return the tool tip's [x, y] and velocity [vx, vy] for joint positions and speeds.

    Args:
        arm: the ArmSpec or ModelKinematics (its forward kinematics).
        q: joint positions (dof), rad.
        qd: joint velocities (dof), rad/s.

    Returns:
        The tip's planar position (m) and velocity (m/s, a central difference along qd).

    """
    q, qd = np.asarray(q, dtype=float), np.asarray(qd, dtype=float)
    tip, _ = arm.forward(q)
    ahead, _ = arm.forward(q + qd * _FD_STEP_S)
    behind, _ = arm.forward(q - qd * _FD_STEP_S)
    return np.asarray(tip)[:2], (np.asarray(ahead) - np.asarray(behind))[:2] / (2 * _FD_STEP_S)


def extrapolate(xy, velocity, stamp: float, t: float) -> np.ndarray:
    """Return `xy` (seen at `stamp`) moved on at `velocity` to time `t`."""
    return np.asarray(xy, dtype=float) + np.asarray(velocity, dtype=float) * (t - stamp)


class TrackedPoints:
    """The tracker's latest points of the object: stamp and [x, y]; thread-safe."""

    def __init__(self) -> None:
        self._points: deque[tuple[float, float, float]] = deque(maxlen=KEEP_POINTS)
        self._since = -np.inf
        self._lock = threading.Lock()

    def add(self, stamp: float, xy) -> None:
        """Keep one tracked point (one camera frame where the object was seen)."""
        with self._lock:
            if stamp >= self._since:
                self._points.append((float(stamp), float(xy[0]), float(xy[1])))

    def forget(self, before: float) -> None:
        """Drop every point, and those still to come stamped before `before` (a new scene)."""
        with self._lock:
            self._points.clear()
            self._since = before

    def latest(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Return the newest point's stamp, [x, y] and the velocity over VELOCITY_WINDOW_S.

        The velocity is the least-squares slope of the points within VELOCITY_WINDOW_S of the
        newest (zero with fewer than two). None before the first point.
        """
        with self._lock:
            points = np.array(self._points)
        if not len(points):
            return None
        stamp = float(points[-1, 0])
        recent = points[points[:, 0] >= stamp - VELOCITY_WINDOW_S]
        velocity = np.zeros(2)
        t = recent[:, 0] - stamp
        if len(recent) >= 2 and np.ptp(t) > 0:
            centred = t - t.mean()
            velocity = centred @ (recent[:, 1:] - recent[:, 1:].mean(0)) / (centred @ centred)
        return stamp, points[-1, 1:].copy(), velocity


def observation(
    puck, puck_vel, tool, tool_vel, goal, time_left: float
) -> dict[str, list[float] | float]:
    """Return one control step's observation: OBSERVATION_FIELDS in order, plain floats."""
    values = {
        'puck': puck,
        'puck_vel': puck_vel,
        'tool': tool,
        'tool_vel': tool_vel,
        'goal': goal,
        'time_left': time_left,
    }
    return {
        name: float(values[name]) if spec.size == 1 else [float(v) for v in values[name]]
        for name, spec in OBSERVATION_FIELDS.items()
    }


@dataclass
class StreamStats:
    """What a closed-loop trial on the arm reports besides its outcome."""

    control_steps: int = 0  # steps of the episode
    missed_deadlines: int = 0  # steps not published before their start (not sent)
    safety_events: int = 0  # commands clipped or zeroed by the task's limits
    effort: float = 0.0  # integral of |commanded tool velocity|^2 over the episode, m^2/s
    step_wall_max_s: float = 0.0  # the slowest step, control tick to its trajectory ready (wall s)
    # Each step the policy was asked: its observation (`observation_vector`) and the command
    # after the limits, flattened step by step (TrialResult's `observations`, `actions`).
    observations: list[float] = field(default_factory=list)
    actions: list[float] = field(default_factory=list)

    def add_step(self, obs: Mapping, command: Sequence[float]) -> None:
        """Keep one asked step's observation and its command (as sent, after the limits)."""
        self.observations.extend(observation_vector(obs))
        self.actions.extend(float(v) for v in command)


OBSERVATION_SIZE = sum(spec.size for spec in OBSERVATION_FIELDS.values())


def observation_vector(obs: Mapping) -> list[float]:
    """Return one observation as OBSERVATION_SIZE floats, OBSERVATION_FIELDS in order."""
    out: list[float] = []
    for name, spec in OBSERVATION_FIELDS.items():
        out.extend([float(obs[name])] if spec.size == 1 else [float(v) for v in obs[name]])
    return out


def streamed_episode(
    task_name: str,
    goal: Sequence[float],
    seed: int,
    observations: Sequence[float],
    actions: Sequence[float],
    **fields,
) -> ClosedLoopEpisode:
    """Return a streamed trial as the fast path's episode (what PromptPO's search reads).

    Args:
        task_name: the task.
        goal: the episode's goal.
        seed: its seed (a label on the arm: the scene's start is the arm's).
        observations: the flattened observations (`StreamStats.observations`).
        actions: the flattened commands, ACTION_SIZE a step.
        **fields: the other `ClosedLoopEpisode` fields (outcome, cost, distance, effort,
            safety_events, failed, missed_deadlines, wall_s).

    Returns:
        The episode (no ground-truth paths).

    Raises:
        InvalidInput: the vectors are not whole steps, or not as many steps each.

    """
    obs, act = list(observations), list(actions)
    if len(obs) % OBSERVATION_SIZE or len(act) % ACTION_SIZE:
        raise InvalidInput(
            f'streamed episode: {len(obs)} observation numbers and {len(act)} action numbers '
            f'are not whole steps ({OBSERVATION_SIZE} and {ACTION_SIZE} a step)'
        )
    steps = len(obs) // OBSERVATION_SIZE
    if len(act) // ACTION_SIZE != steps:
        raise InvalidInput(
            f'streamed episode: {steps} observations but {len(act) // ACTION_SIZE} actions'
        )
    rows = []
    for k in range(steps):
        values, parts = obs[k * OBSERVATION_SIZE : (k + 1) * OBSERVATION_SIZE], []
        for spec in OBSERVATION_FIELDS.values():  # observation()'s arguments are in this order
            parts.append(values[0] if spec.size == 1 else values[: spec.size])
            values = values[spec.size :]
        rows.append(observation(*parts))
    pairs = [[float(v) for v in act[k * ACTION_SIZE : (k + 1) * ACTION_SIZE]] for k in range(steps)]
    return ClosedLoopEpisode(task_name, [float(v) for v in goal], int(seed), rows, pairs, **fields)
