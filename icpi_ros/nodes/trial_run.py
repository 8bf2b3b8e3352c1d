# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One trial, phase by phase: admit, plan, reset, move, observe, score.

`TrialRun.execute()` runs the phases in order; any of them ends the trial with a TrialFailed
(an error code and a message), after which a moving arm is held. A Heartbeat sends the
trial's feedback at every phase and at least every HEARTBEAT_S: the loop tells a running
trial from a crashed executor by it.
"""

import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np
from icpi_interfaces.action import ExecuteTrial
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.publisher import Publisher
from std_msgs.msg import Bool

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.execution import plan_to_send
from icpi_ros.core.kinematics import ModelKinematics
from icpi_ros.core.motion import JointPlan, PlanRejected
from icpi_ros.core.safety import SafetyLimits
from icpi_ros.core.scoring import TrackingLost, score_trajectory
from icpi_ros.core.streaming import TrackedPoints
from icpi_ros.core.tasks import TaskRegistry, TaskSpec
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.conversions import seconds, to_time
from icpi_ros.nodes.runtime import stop_requested
from icpi_ros.nodes.trial_goals import RunningTrial
from icpi_ros.nodes.trial_io import (
    CLOCK_POLL_S,
    ControllerOutput,
    JointStates,
    RobotClock,
    SceneReset,
    TrackerClient,
    TrialFailed,
    trajectory_message,
)
from icpi_ros.nodes.trial_stream import ClosedLoopStream, open_policy

Codes = ExecuteTrial.Result
Feedback = ExecuteTrial.Feedback
# Feedback is published at least this often (wall clock, s) while a trial runs.
HEARTBEAT_S = 0.5
# How long a closed-loop trial waits for the tracker's first point after the reset (wall s).
OBJECT_WAIT_S = 5.0


@dataclass
class TrialCell:
    """What a trial uses of the executor node: the arm, its limits and the other nodes."""

    tasks: TaskRegistry
    arm: ArmSpec | ModelKinematics
    limits: SafetyLimits
    lead_s: float  # start_delay_s
    timeout_s: float  # trial_timeout_s
    require_enable: bool
    controller: ControllerOutput
    planned: Publisher  # ~/planned_trajectory
    active: Publisher  # ~/trial_active
    clock: RobotClock
    scene: SceneReset
    tracker: TrackerClient
    joints: JointStates
    enabled: threading.Event
    aborted: threading.Event
    logger: RcutilsLogger
    enable_service: str  # ~/enable, resolved
    planned_topic: str  # ~/planned_trajectory, resolved
    # Closed-loop trials: the tracker's live points, and how they are used.
    points: TrackedPoints
    points_topic: str  # tracked_point_topic, resolved
    joint_states_topic: str  # resolved
    control_lead_s: float
    observation_max_age_s: float


class Heartbeat:
    """The trial's feedback: sent at every phase change and at least every HEARTBEAT_S."""

    def __init__(self, trial: RunningTrial, clock: RobotClock) -> None:
        self._trial, self._clock = trial, clock
        self._accepted = clock.now()
        self._feedback = Feedback()
        self._publishing = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def start(self) -> None:
        """Start beating (a thread of its own)."""
        self._thread.start()

    def phase(self, value: int | None = None) -> None:
        """Send the feedback now, in phase `value` (None: the phase it is in)."""
        with self._publishing:
            if value is not None:
                self._feedback.phase = value
            self._feedback.elapsed_s = self._clock.now() - self._accepted
            self._trial.publish_feedback(self._feedback)

    def stop(self) -> None:
        """Stop beating (the thread ends within HEARTBEAT_S)."""
        self._done.set()

    def _beat(self) -> None:
        """Send the feedback every HEARTBEAT_S until stopped (the thread's body)."""
        while not self._done.wait(HEARTBEAT_S):
            self.phase()


class TrialRun:
    """One trial for the goals watching `running`; their final states are set by TrialGoals."""

    def __init__(
        self, cell: TrialCell, running: RunningTrial, dry_run: bool, publish_plan: bool
    ) -> None:
        self._cell, self._running = cell, running
        self._dry_run, self._publish_plan = dry_run, publish_plan  # fixed for this trial
        goal = running.request
        self.result = ExecuteTrial.Result()
        self._trial = self.result.trial
        self._trial.trial_id = goal.trial_id or uuid.uuid4().hex[:12]
        self._trial.task = goal.task
        self._trial.theta_requested = list(goal.theta)
        self._wall_start = time.monotonic()
        self._moving = False
        self._heartbeat: Heartbeat | None = None
        # What admit() finds: the task, theta (clipped, and whether it was), the goal.
        self.task: TaskSpec
        self.theta: np.ndarray
        self.clipped: bool
        self.goal: np.ndarray

    def execute(self) -> ExecuteTrial.Result:
        """Run every phase; return the result (a failure's code and message in it)."""
        cell, trial = self._cell, self._trial
        cell.active.publish(Bool(data=True))
        self._heartbeat = Heartbeat(self._running, cell.clock)
        self._heartbeat.start()
        cell.aborted.clear()
        try:
            self.admit()
            if self.task.closed_loop is not None:
                self.closed_loop()
            else:
                plan = self.plan()
                self.reset(plan)
                start, end = self.move(plan)
                self.score(self.observe(start, end), start, end)
        except TrialFailed as exc:
            self._stop_arm()
            trial.status, trial.status_message = exc.code, str(exc)
            self.result.error_code, self.result.error_msg = exc.code, str(exc)
            cell.logger.warning(f'trial {trial.trial_id} failed: {exc}')
        except Exception as exc:  # never leave a goal hanging or the arm moving
            self._stop_arm()
            self.result.error_code = Codes.INTERNAL_ERROR
            self.result.error_msg = f'{type(exc).__name__}: {exc}'
            trial.status, trial.status_message = self.result.error_code, self.result.error_msg
            cell.logger.error(f'trial {trial.trial_id}: internal error: {self.result.error_msg}')
        self._heartbeat.stop()
        cell.active.publish(Bool(data=False))
        trial.header.stamp = cell.clock.stamp()
        trial.wall_time_s = time.monotonic() - self._wall_start
        return self.result

    def check(self, doing: str) -> None:
        """Fail the trial if it was aborted, canceled, is shutting down or took too long."""
        if self._cell.aborted.is_set():
            raise TrialFailed(Codes.ABORTED, f'aborted by ~/abort while {doing}')
        if self._running.cancel_requested():
            raise TrialFailed(Codes.ABORTED, f'canceled while {doing}')
        if stop_requested().is_set():
            raise TrialFailed(Codes.ABORTED, f'shutting down while {doing}')
        if time.monotonic() - self._wall_start > self._cell.timeout_s:
            raise TrialFailed(
                Codes.TIMEOUT, f'trial timeout ({self._cell.timeout_s:g} s) while {doing}'
            )

    def admit(self) -> None:
        """Refuse a disabled arm; validate the request and clip theta to the bounds."""
        cell, goal = self._cell, self._running.request
        if cell.require_enable and not cell.enabled.is_set() and not self._dry_run:
            raise TrialFailed(
                Codes.NOT_ENABLED,
                f'the arm is not enabled: call {cell.enable_service} (SetBool true) first',
            )
        try:
            self.task = cell.tasks[goal.task]
            if goal.policy_source and self.task.closed_loop is None:
                raise InvalidInput(
                    f'policy_source: task {self.task.name!r} is not a closed-loop task (motion '
                    'kind push): its policy is theta'
                )
            if goal.policy_source and not len(goal.theta):  # the code is the policy
                self.theta, self.clipped = np.zeros(0), False
            else:
                self.theta, self.clipped = self.task.clip(self.task.check_theta(goal.theta))
            self.goal = self.task.check_goal(
                goal.goal if len(goal.goal) else self.task.default_goal
            )
        except InvalidInput as exc:
            raise TrialFailed(Codes.INVALID_PARAMS, str(exc)) from None
        self._trial.theta, self._trial.goal = self.theta.tolist(), self.goal.tolist()

    def plan(self) -> JointPlan:
        """Plan and check the motion (what is sent, too); in dry run, stop after publishing it."""
        cell = self._cell
        self._heartbeat.phase(Feedback.PHASE_PLANNING)
        try:
            plan = plan_to_send(self.task, cell.arm, cell.limits, self.theta)
        except PlanRejected as exc:
            raise TrialFailed(Codes.LIMITS, f'plan rejected ({exc.reason}): {exc}') from None
        if self._dry_run or self._publish_plan:
            cell.planned.publish(trajectory_message(plan, cell.clock.now() + cell.lead_s))
        if self._dry_run:
            raise TrialFailed(
                Codes.DRY_RUN,
                f'dry run: planned and checked, published on {cell.planned_topic}; nothing '
                'sent to the arm',
            )
        return plan

    def reset(self, plan: JointPlan) -> float:
        """Reset the scene, then check that the arm stands at the plan's start.

        Returns when the scene was reset on the robot clock (now, if the reset says not).
        """
        self._heartbeat.phase(Feedback.PHASE_RESETTING)
        mark = time.monotonic()
        stamp = self._cell.scene.reset(self.task.name, self.goal, self.check)
        self.check('resetting')
        self._trial.reset_wall_s = time.monotonic() - mark
        self._cell.joints.check_start(plan)
        return max(stamp or 0.0, self._cell.clock.now())

    def move(self, plan: JointPlan) -> tuple[float, float]:
        """Send the trajectory just after a clock tick; wait for the window; return it."""
        cell = self._cell
        mark = time.monotonic()
        start = cell.clock.fresh_now(self.check) + cell.lead_s
        end = start + self.task.trial_duration_s
        cell.controller.publish(trajectory_message(plan, start))
        self._moving = True
        late = cell.clock.now() - start
        if late >= 0:  # it left after its own start: it would begin part-way
            raise TrialFailed(
                Codes.TIMEOUT,
                f'the trajectory was published {late:.3f} s after its start time '
                f'(start_delay_s {cell.lead_s:g} too short for this machine?): held',
            )
        self._heartbeat.phase(Feedback.PHASE_MOVING)
        while cell.clock.now() < end:
            self.check('moving')
            time.sleep(CLOCK_POLL_S)
        self._moving = False
        self._trial.window_wall_s = time.monotonic() - mark
        return start, end

    def closed_loop(self) -> None:
        """Run a closed-loop trial: check, reset, stream the episode (`trial_stream`), score."""
        cell = self._cell
        self._heartbeat.phase(Feedback.PHASE_PLANNING)
        source = self._running.request.policy_source
        with open_policy(self.task, self.theta, source) as policy:
            stream = ClosedLoopStream(
                cell, self.task, self.goal, policy, self.check, self._publish_plan
            )
            first = stream.first_plan()
            if self._dry_run:
                cell.planned.publish(trajectory_message(first, cell.clock.now() + cell.lead_s))
                raise TrialFailed(
                    Codes.DRY_RUN,
                    'dry run: a closed-loop trial is computed step by step as it runs; its '
                    f'home pose was checked (published on {cell.planned_topic}), nothing sent '
                    'to the arm',
                )
            self._wait_for_object(self.reset(first))
            mark = time.monotonic()
            start = cell.clock.fresh_now(self.check) + cell.lead_s
            self._heartbeat.phase(Feedback.PHASE_MOVING)
            end = stream.run(start, self._started_moving)
        self._moving = False
        self._trial.window_wall_s = time.monotonic() - mark
        stats = stream.stats
        trial = self._trial
        trial.control_steps, trial.missed_deadlines = stats.control_steps, stats.missed_deadlines
        trial.safety_events, trial.effort = stats.safety_events, stats.effort
        trial.step_wall_max_s = stats.step_wall_max_s
        trial.observations, trial.actions = stats.observations, stats.actions
        self.score(self.observe(start, end), start, end, stats.effort)

    def _wait_for_object(self, reset_at: float) -> None:
        """Wait until the tracker has seen the object since the reset (NOT_READY if not)."""
        cell = self._cell
        cell.points.forget(reset_at)  # what the camera saw before the reset
        deadline = time.monotonic() + OBJECT_WAIT_S
        while cell.points.latest() is None:
            self.check('waiting for the tracker to see the object')
            if time.monotonic() > deadline:
                raise TrialFailed(
                    Codes.NOT_READY,
                    f'the tracker saw no object on {cell.points_topic} within '
                    f'{OBJECT_WAIT_S:g} s of the reset',
                )
            time.sleep(CLOCK_POLL_S)

    def _started_moving(self) -> None:
        """From now on a failed trial holds the arm."""
        self._moving = True

    def observe(self, start: float, end: float):
        """Wait for the tracker to have tracked the whole window; return its answer."""
        self._heartbeat.phase(Feedback.PHASE_SETTLING)
        mark = time.monotonic()
        answer = self._cell.tracker.trajectory_of(start, end, self.task.marker_plane, self.check)
        self._trial.tracker_wall_s = time.monotonic() - mark
        return answer

    def score(self, answer, start: float, end: float, effort: float = 0.0) -> None:
        """Score the tracked window; fill in the result; prepare the next trial's reset.

        A closed-loop trial's cost has its `effort` term (the task's cost function).
        """
        self._heartbeat.phase(Feedback.PHASE_SCORING)
        trial, traj = self._trial, answer.trajectory
        trial.trajectory = traj
        points = np.array([[p.x, p.y, p.z] for p in traj.points]).reshape(-1, 3)
        times = np.array([seconds(t) for t in traj.stamps])
        if not answer.success:
            raise TrialFailed(Codes.TRACKING_LOST, answer.message)
        try:
            score = score_trajectory(
                self.task, times, points, np.array(traj.valid), self.goal, end, effort=effort
            )
        except TrackingLost as exc:
            raise TrialFailed(Codes.TRACKING_LOST, str(exc)) from None
        trial.outcome, trial.error = score.outcome.tolist(), score.error.tolist()
        trial.cost = score.cost
        trial.start_stamp, trial.end_stamp = to_time(start), to_time(end)
        trial.status = Codes.NONE
        trial.status_message = 'clipped to bounds' if self.clipped else ''
        self.result.error_code = Codes.NONE
        self._cell.scene.prepare_next(self.task.name, self.goal)
        stream = ''
        if trial.control_steps:
            stream = (
                f'; {trial.control_steps} steps, {trial.missed_deadlines} missed deadlines, '
                f'{trial.safety_events} safety events, slowest step '
                f'{1000 * trial.step_wall_max_s:.1f} ms'
            )
        self._cell.logger.info(
            f'trial {trial.trial_id} {self.task.name}: theta '
            f'{np.round(self.theta, 4).tolist()} -> outcome '
            f'{np.round(score.outcome, 4).tolist()} cost {score.cost:.4f}{stream}'
        )

    def _stop_arm(self) -> None:
        """Hold the arm if this trial's trajectory may still be moving it."""
        if self._moving:
            self._cell.controller.hold()
