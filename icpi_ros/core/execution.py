# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The trial executor's rules, without ROS.

What the controller is sent (the plan cut to every POINT_STRIDE-th point, checked with the
controller's spline between the points), whether the arm stands at the plan's start, which
scene reset was made ahead of the next trial and when it may be used, and which ExecuteTrial
goals are one trial (a client's resend). The node (`icpi_ros/nodes/trial_executor.py` and its
`trial_*.py` helpers) does the talking and applies these.
"""

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from icpi_ros.core.motion import JointPlan, plan_motion
from icpi_ros.core.safety import SafetyLimits, check_plan, check_sent
from icpi_ros.core.tasks import TaskSpec

# Every n-th point of the 100 Hz plan is sent (the controller interpolates cubically); the
# points and that interpolation are checked against the limits (safety.check_sent).
POINT_STRIDE = 5
# A goal identical to the trial completed this recently (s) gets that trial's result.
REPLAY_S = 30.0

Pending = TypeVar('Pending')
Result = TypeVar('Result')
# What makes two goals the same trial: trial_id, task, theta, goal, policy source.
TrialKey = tuple[str, str, tuple[float, ...], tuple[float, ...], str]


def plan_to_send(task: TaskSpec, arm, limits: SafetyLimits, theta: np.ndarray) -> JointPlan:
    """Plan a trial's motion and return the checked points the controller is sent.

    Args:
        task: the task (its motion settings and trial duration).
        arm: the ArmSpec or ModelKinematics the plan is for.
        limits: the cell's envelope.
        theta: the policy parameters, already clipped to the task's bounds.

    Returns:
        The plan decimated to every POINT_STRIDE-th sample and the last, whose points and
        the controller's spline between them passed `safety.check_sent`.

    Raises:
        PlanRejected: unreachable, over the arm's or the cell's limits (plan or sent points).

    """
    plan = plan_motion(task.motion, arm, theta, task.trial_duration_s)
    check_plan(plan, limits)
    sent = plan.decimate(POINT_STRIDE)
    check_sent(sent, arm, limits)
    return sent


@dataclass(frozen=True)
class TrajectoryPoint:
    """One point of a JointTrajectory, as plain values."""

    positions: list[float]
    velocities: list[float]
    time_from_start: float


def trajectory_points(plan: JointPlan) -> list[TrajectoryPoint]:
    """Return the points of a JointTrajectory that sends `plan` (one per sample).

    Args:
        plan: the plan to send (already decimated: every sample becomes a point).

    Returns:
        Positions, velocities and time from the start of each sample, in order.

    """
    return [
        TrajectoryPoint(
            positions=plan.positions[i].tolist(),
            velocities=plan.velocities[i].tolist(),
            time_from_start=float(plan.times[i]),
        )
        for i in range(len(plan.times))
    ]


@dataclass(frozen=True)
class StartPose:
    """How far the arm stands from a plan's first point, joint by joint."""

    joint_names: tuple[str, ...]
    missing: tuple[str, ...]  # joints without a state yet
    gaps: np.ndarray  # |current - start| per joint, rad; empty when a joint is missing
    tolerance: float  # rad

    @property
    def ok(self) -> bool:
        """Whether every joint has a state within `tolerance` of the start."""
        return not self.missing and float(self.gaps.max()) <= self.tolerance

    def message(self) -> str:
        """Why the trial cannot start here (for a pose that is not `ok`)."""
        if self.missing:
            return f'no joint state received for {list(self.missing)}'
        j = int(np.argmax(self.gaps))
        return (
            f'the arm is not at the plan start: joint {self.joint_names[j]} is '
            f'{self.gaps[j]:.3f} rad away (start_tolerance_rad {self.tolerance:g}); move '
            'it to the task home pose'
        )


def start_pose(joints: Mapping[str, float], plan: JointPlan, tolerance: float) -> StartPose:
    """Compare the arm's joint state with the first point of `plan`.

    Args:
        joints: the latest position of each joint by name (from /joint_states).
        plan: the plan about to be sent.
        tolerance: the largest gap allowed on any joint (rad).

    Returns:
        The joints without a state, else every joint's gap to the start.

    """
    names = tuple(plan.joint_names)
    missing = tuple(n for n in names if n not in joints)
    if missing:
        return StartPose(names, missing, np.zeros(0), tolerance)
    current = np.array([joints[n] for n in names])
    return StartPose(names, (), np.abs(current - plan.positions[0]), tolerance)


class PreparedReset(Generic[Pending]):
    """A scene reset started right after a trial, off the next trial's critical path.

    A run's next trial has the same task and goal: it takes the reset made for it instead of
    resetting again. A prepared reset is used once, and only by a trial of that task and goal;
    taking it for anything else forgets it (that trial resets afresh).
    """

    def __init__(self) -> None:
        self._prepared: tuple[tuple[str, tuple[float, ...]], Pending] | None = None

    @staticmethod
    def _scene(task: str, goal: Sequence[float]) -> tuple[str, tuple[float, ...]]:
        return task, tuple(np.asarray(goal, dtype=float).tolist())

    def store(self, task: str, goal: Sequence[float], pending: Pending) -> None:
        """Remember `pending` (a reset under way, e.g. a service future) for task and goal."""
        self._prepared = (self._scene(task, goal), pending)

    def take(self, task: str, goal: Sequence[float]) -> Pending | None:
        """Return the reset prepared for this task and goal, else None; forget it either way."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == self._scene(task, goal):
            return prepared[1]
        return None


def trial_key(
    trial_id: str,
    task: str,
    theta: Sequence[float],
    goal: Sequence[float],
    policy_source: str = '',
) -> TrialKey | None:
    """Return what makes two goals the same trial.

    Args:
        trial_id: the goal's trial id (empty: the goal matches no other).
        task: the task name.
        theta: the requested policy parameters.
        goal: the requested goal (empty: the task's default).
        policy_source: a closed-loop policy given as code (empty: none).

    Returns:
        (trial_id, task, theta, goal, policy_source), or None for a goal without a trial id.

    """
    if not trial_id:
        return None
    return (trial_id, task, tuple(theta), tuple(goal), policy_source)


def same_trial(key: TrialKey | None, other: TrialKey | None) -> bool:
    """Whether a goal with `key` is the trial with `other` (goals without an id never are)."""
    return key is not None and key == other


class Arrival(enum.Enum):
    """How an arriving goal is taken."""

    FIRST = 'first'  # nothing runs: it starts the trial
    RESEND = 'resend'  # the same goal as the accepted ones: it watches their trial
    BUSY = 'busy'  # another trial runs: accepted and aborted at once


def arrival(key: TrialKey | None, busy: bool, accepted_key: TrialKey | None) -> Arrival:
    """Decide how a goal arriving now is taken.

    Args:
        key: the arriving goal's trial key.
        busy: whether goals have been accepted and not yet answered.
        accepted_key: the trial key those goals share.

    Returns:
        FIRST when nothing is accepted, RESEND for the same trial, else BUSY.

    """
    if not busy:
        return Arrival.FIRST
    return Arrival.RESEND if same_trial(key, accepted_key) else Arrival.BUSY


@dataclass(frozen=True)
class Completed(Generic[Result]):
    """The last trial that succeeded, kept to answer a resend of its goal."""

    key: TrialKey
    result: Result
    at: float  # monotonic time it ended (s)

    def replays(self, key: TrialKey | None, now: float) -> bool:
        """Whether a goal with `key` arriving at `now` gets this result without moving."""
        return same_trial(key, self.key) and now - self.at < REPLAY_S


def completed(
    key: TrialKey | None, succeeded: bool, result: Result, at: float
) -> Completed[Result] | None:
    """Return what to remember of a trial that ended: only a success with a trial id."""
    return Completed(key, result, at) if key is not None and succeeded else None


class Claim(enum.Enum):
    """What an accepted goal does when its turn comes."""

    RUN = 'run'  # run the trial
    REPLAY = 'replay'  # answer with the result of the trial that just succeeded
    ATTACH = 'attach'  # watch the running trial (unless it is already ending: then WAIT)
    WAIT = 'wait'  # wait for the running trial to end, then claim again


def claim(
    key: TrialKey | None,
    running: bool,
    running_key: TrialKey | None,
    last: Completed | None,
    now: float,
) -> Claim:
    """Decide what an accepted goal does now.

    Args:
        key: the goal's trial key.
        running: whether a trial is running.
        running_key: the running trial's key.
        last: the last trial that succeeded, if remembered.
        now: monotonic time (s).

    Returns:
        REPLAY or RUN when nothing runs; ATTACH to the same trial; else WAIT.

    """
    if not running:
        return Claim.REPLAY if last is not None and last.replays(key, now) else Claim.RUN
    return Claim.ATTACH if same_trial(key, running_key) else Claim.WAIT
