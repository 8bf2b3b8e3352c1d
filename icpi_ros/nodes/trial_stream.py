# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A closed-loop trial's moving phase: one checked command per control step, streamed.

At every control step of the episode (the task's `control_rate_hz` on the robot clock) the
policy sees the observation built from what the graph senses (the tracker's live points,
/joint_states through the forward kinematics), its command passes the task's
`CommandLimits.check` and the step's joint points the same checks a stroke gets
(`core.streaming`), and the step goes to the controller as one short JointTrajectory
stamped at the step's start, computed `control_lead_s` ahead of it. A step not published
`DEADLINE_GUARD_S` before its start is a missed deadline: it is not sent (the arm follows
the previous step to rest) and counted. After the episode a stop holds the tool where it is
until the trial window ends. Abort, cancel, shutdown, the trial timeout, a failed step, a
limit, a stale observation: a TrialFailed, and the trial's caller holds the arm.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from icpi_interfaces.action import ExecuteTrial

from icpi_ros.core.closed_loop import ClosedLoopPolicy, StepFailed, require_closed_loop
from icpi_ros.core.controllers import reference_controller
from icpi_ros.core.motion import JointPlan, PlanRejected
from icpi_ros.core.streaming import (
    StepSegment,
    StreamStats,
    extrapolate,
    observation,
    step_to_send,
    tool_state,
)
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.nodes.trial_io import Check, TrialFailed, trajectory_message

if TYPE_CHECKING:
    from icpi_ros.nodes.trial_run import TrialCell

Codes = ExecuteTrial.Result
# A step is sent only when at least this much robot time is left before its start: the
# executor's robot clock (the last /clock tick) may lag the controller's by a tick (10 ms),
# and the message takes its time to arrive. One sent later might be refused as late there,
# and the stream would go on from a step the arm never took.
DEADLINE_GUARD_S = 0.015
_EPS_S = 1e-6  # robot-clock comparisons: a tick at exactly the step's time counts


@contextlib.contextmanager
def open_policy(task: TaskSpec, theta: np.ndarray, source: str = '') -> Iterator[ClosedLoopPolicy]:
    """Open a closed-loop trial's policy for one episode.

    Args:
        task: the closed-loop task.
        theta: the reference controller's gains (clipped), when there is no `source`.
        source: a `class Policy` as code: it runs in PromptPO's sandbox, one child for the
            episode (`PolicyProcess`: its per-step limit; any failure raises StepFailed at
            the step, a failed start at the first).

    Yields:
        The policy; a sandboxed one's child is killed on the way out.
    """
    if not source:
        yield reference_controller(task, theta)
        return
    from icpi_ros.core.promptpo.policy_process import PolicyProcess  # only when used

    with PolicyProcess(source) as policy:
        yield policy


class ClosedLoopStream:
    """The episode of one closed-loop trial on the arm (`run` it once)."""

    def __init__(
        self,
        cell: 'TrialCell',
        task: TaskSpec,
        goal: np.ndarray,
        policy: ClosedLoopPolicy,
        check: Check,
        publish_plan: bool,
    ) -> None:
        self._cell, self._task, self._goal, self._policy = cell, task, goal, policy
        self._check, self._publish_plan = check, publish_plan
        self.config = config = require_closed_loop(task)
        if not cell.control_lead_s < config.dt:
            raise TrialFailed(
                Codes.INVALID_PARAMS,
                f'control_lead_s ({cell.control_lead_s:g} s) must be shorter than the control '
                f'period of {task.name} ({config.dt:g} s at {config.control_rate_hz:g} Hz)',
            )
        self.stats = StreamStats(control_steps=config.steps)
        self._home = np.array(task.motion.home[:2], dtype=float)
        self._segment = StepSegment.rest(0.0, self._home, config.dt)

    def first_plan(self) -> JointPlan:
        """Return the checked points of the tool at rest at home: the start-pose check's plan.

        Raises:
            TrialFailed: LIMITS, when even that is refused (the home pose out of the limits).
        """
        return self._send_plan(self._segment)

    def run(self, start: float, moving: Callable[[], None]) -> float:
        """Run the episode from robot time `start`; return the trial window's end.

        Args:
            start: when the first step starts (robot clock, s).
            moving: called once, before the first step is published.

        Raises:
            TrialFailed: ABORTED, TIMEOUT, POLICY_FAILED, LIMITS, TRACKING_LOST or NOT_READY.
        """
        cell, config, dt = self._cell, self.config, self.config.dt
        self._segment = StepSegment.rest(start, self._home, dt)
        holds = cell.controller.holds  # a hold from now on (~/abort) ends the stream
        self._policy.reset([float(v) for v in self._goal])
        moving()
        for k in range(config.steps + 1):  # the episode's steps, then the stop
            at = start + k * dt
            self._wait_until(at - cell.control_lead_s)
            tick = time.perf_counter()
            now = cell.clock.now()
            if now + DEADLINE_GUARD_S > at:
                self._missed(k, at)  # late before it began: the policy is not asked
                continue
            here = self._segment.position(at)
            command = np.zeros(2)
            if k < config.steps:
                command, events = self._command(k, now, here, at)
                self.stats.safety_events += len(events)
            segment = StepSegment(at, here, command, dt)
            plan = self._send_plan(segment)
            if k < config.steps:
                elapsed = time.perf_counter() - tick
                self.stats.step_wall_max_s = max(self.stats.step_wall_max_s, elapsed)
            if cell.clock.now() + DEADLINE_GUARD_S > at:
                self._missed(k, at)
                continue
            if not cell.controller.publish(trajectory_message(plan, at), holds):
                # The hold was ~/abort's (the trial's own come after the stream).
                raise TrialFailed(Codes.ABORTED, 'aborted by ~/abort while streaming')
            if self._publish_plan:
                cell.planned.publish(trajectory_message(plan, at))
            self._segment = segment
            if k < config.steps:
                self.stats.effort += segment.energy(at, at + dt)
            self._check('streaming')
        end = start + self._task.trial_duration_s
        self._wait_until(end)
        return end

    def _missed(self, k: int, at: float) -> None:
        """Count a step that missed its deadline; the arm follows the previous one to rest."""
        if k < self.config.steps:
            self.stats.missed_deadlines += 1
            self.stats.effort += self._segment.energy(at, at + self.config.dt)
        self._check('streaming')

    def _command(self, k: int, now: float, here: np.ndarray, at: float):
        """Ask the policy for step k; return its command through the task's limits."""
        config = self.config
        obs = self._observe(k, now)
        previous = self._segment.velocity_at(at)
        try:
            command, events = config.limits.check(here, self._policy.act(obs), previous, config.dt)
        except StepFailed as exc:
            raise TrialFailed(
                Codes.POLICY_FAILED, f'step {k} (t = {k * config.dt:.2f} s) failed: {exc}; held'
            ) from None
        self.stats.add_step(obs, command)
        return command, events

    def _observe(self, k: int, now: float) -> dict:
        """Build step k's observation from the newest joint state and tracked point."""
        cell, config = self._cell, self.config
        joints = cell.joints.latest(cell.arm.joint_names)
        self._fresh(k, now, joints, Codes.NOT_READY, f'joint state on {cell.joint_states_topic}')
        joint_stamp, q, qd = joints
        tool, tool_vel = tool_state(cell.arm, q, qd)
        seen = cell.points.latest()
        self._fresh(k, now, seen, Codes.TRACKING_LOST, f'tracked point on {cell.points_topic}')
        point_stamp, puck, puck_vel = seen
        return observation(
            extrapolate(puck, puck_vel, point_stamp, now),
            puck_vel,
            extrapolate(tool, tool_vel, joint_stamp, now),
            tool_vel,
            self._goal,
            config.episode_s - k * config.dt,
        )

    def _fresh(self, k: int, now: float, newest: tuple | None, code: int, what: str) -> None:
        """Fail step k (`code`, held) when the `newest` (stamp, ...) is missing or too old."""
        max_age = self._cell.observation_max_age_s
        if newest is None or now - newest[0] > max_age:
            age = 'none yet' if newest is None else f'{now - newest[0]:.3f} s old'
            raise TrialFailed(
                code,
                f'step {k}: the newest {what}: {age} (observation_max_age_s {max_age:g}); held',
            )

    def _send_plan(self, segment: StepSegment) -> JointPlan:
        """Return the step's checked joint points; a refusal fails the trial (LIMITS)."""
        cell = self._cell
        try:
            return step_to_send(self._task.motion, cell.arm, cell.limits, segment)
        except PlanRejected as exc:
            raise TrialFailed(Codes.LIMITS, f'step rejected ({exc.reason}): {exc}; held') from None

    def _wait_until(self, t: float) -> None:
        """Wait for the robot clock to reach `t`, checking the trial meanwhile."""
        self._cell.clock.wait_until(t - _EPS_S, self._check, 'streaming')
