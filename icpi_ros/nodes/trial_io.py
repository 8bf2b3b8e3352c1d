# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a trial talks to: controller, robot clock, scene reset, tracker, joint states.

Each fails the trial with a TrialFailed (an ExecuteTrial error code).

`check(what)` arguments are the running trial's checks (abort, cancel, shutdown, timeout),
called while waiting; they raise TrialFailed too.
"""

import threading
import time
from collections.abc import Callable

import numpy as np
from builtin_interfaces.msg import Time
from icpi_interfaces.action import ExecuteTrial
from icpi_interfaces.srv import GetTrajectory, ResetScene
from rclpy.clock import JumpThreshold
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.execution import PreparedReset, start_pose, trajectory_points
from icpi_ros.core.motion import JointPlan
from icpi_ros.nodes.conversions import seconds, to_duration, to_time
from icpi_ros.nodes.runtime import WaitAborted, wait_for

Codes = ExecuteTrial.Result
Check = Callable[[str], None]
# Polling period while waiting for the robot's clock or the tracker: short, because every
# millisecond of it is overhead added to each trial (the clock itself ticks at 100 Hz).
CLOCK_POLL_S = 0.005
CLOCK_TICK_POLL_S = 0.001  # waiting for the next /clock tick
# How long the robot clock may stand still when a trial is about to start (wall s).
CLOCK_STILL_S = 5.0
# How long the arm may take to show up at the plan start after the reset (wall clock, s).
START_POSE_WAIT_S = 1.0


class TrialFailed(IcpiError):
    """A trial that ended with an error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def trajectory_message(plan: JointPlan, start: float) -> JointTrajectory:
    """Return the JointTrajectory of the (decimated, checked) points, from `start`."""
    msg = JointTrajectory(joint_names=list(plan.joint_names))
    msg.header.stamp = to_time(start)
    for point in trajectory_points(plan):
        msg.points.append(
            JointTrajectoryPoint(
                positions=point.positions,
                velocities=point.velocities,
                time_from_start=to_duration(point.time_from_start),
            )
        )
    return msg


class ControllerOutput:
    """The controller topic's publisher, which knows whether what it sent may still move.

    `moving()` is true until the end (robot clock) of the last trajectory published; a hold
    (an empty trajectory) ends it at once. ~/abort in dry run asks it: a hold is needed only
    for a trajectory still running (one sent before dry run was switched on). A closed-loop
    trial streams with `publish(msg, holds)`: nothing goes out after a hold sent since
    (~/abort's, from another thread), so a step computed meanwhile cannot move the arm again.
    """

    def __init__(self, publisher, now: Callable[[], float]) -> None:
        self._publisher, self._now = publisher, now
        self._until = -np.inf  # robot-clock end of the last trajectory sent
        self._lock = threading.Lock()
        self.holds = 0  # holds sent so far

    @property
    def topic_name(self) -> str:
        """The topic as resolved (remapped), where the trajectories really go."""
        return self._publisher.topic_name

    def publish(self, msg: JointTrajectory, holds: int | None = None) -> bool:
        """Publish a trajectory (empty: hold) and remember until when it moves the arm.

        With `holds` (the count when the stream began) nothing is published once another
        hold has been sent. Returns whether it was published.
        """
        if msg.points:
            start = seconds(msg.header.stamp) or self._now()  # a zero stamp means now
            until = start + seconds(msg.points[-1].time_from_start)
        else:
            until = -np.inf
        with self._lock:
            if holds is not None and holds != self.holds:
                return False
            if not msg.points:
                self.holds += 1
            self._until = until  # before it goes: moving() errs towards a hold
            self._publisher.publish(msg)
        return True

    def hold(self) -> None:
        """Send an empty trajectory: the arm holds its current position."""
        self.publish(JointTrajectory())

    def moving(self) -> bool:
        """Whether the last trajectory sent may still be moving the arm."""
        return self._now() <= self._until


class RobotClock:
    """The robot's clock as the node sees it (the simulation's under use_sim_time)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        # Every /clock tick wakes `wait_until` (a jump callback: the time source calls it).
        self._ticks = 0
        self._ticked = threading.Condition()
        self._on_tick_handle = node.get_clock().create_jump_callback(
            JumpThreshold(min_forward=Duration(nanoseconds=1), min_backward=None),
            post_callback=self._on_tick,
        )

    def _on_tick(self, _jump) -> None:
        with self._ticked:
            self._ticks += 1
            self._ticked.notify_all()

    def wait_until(self, t: float, check: Check, doing: str) -> None:
        """Return once the robot clock reads `t` (s), calling `check(doing)` meanwhile.

        Simulated time wakes on each /clock tick; the wall clock sleeps. Either way the
        trial is checked at least every CLOCK_POLL_S * 4 of wall time.
        """
        simulated = self._node.get_parameter('use_sim_time').value
        while True:
            ticks = self._ticks
            now = self.now()
            if now >= t:
                return
            check(doing)
            if not simulated:
                time.sleep(min(t - now, 4 * CLOCK_POLL_S))
                continue
            with self._ticked:
                if self._ticks == ticks:  # no tick since `now` was read
                    self._ticked.wait(4 * CLOCK_POLL_S)

    def now(self) -> float:
        """Return the robot clock's time (s)."""
        return self._node.get_clock().now().nanoseconds * 1e-9

    def stamp(self) -> Time:
        """Return the robot clock's time as a message stamp (exact nanoseconds)."""
        return self._node.get_clock().now().to_msg()

    def fresh_now(self, check: Check) -> float:
        """Return the robot clock's time just after it ticked (simulated time only).

        An idle simulator ticks /clock slowly until it sees ~/trial_active: a time read
        between two ticks would stamp the trajectory's start in the simulator's past.
        """
        then = self.now()
        if not self._node.get_parameter('use_sim_time').value:
            return then
        deadline = time.monotonic() + CLOCK_STILL_S
        while (now := self.now()) == then:
            check('waiting for the clock')
            if time.monotonic() > deadline:
                raise TrialFailed(
                    Codes.NOT_READY,
                    f'the simulation clock (/clock) stood still for {CLOCK_STILL_S:g} s: is the '
                    'simulator running?',
                )
            time.sleep(CLOCK_TICK_POLL_S)
        return now


class ServiceCall:
    """Calls one service of another node, within a time limit, from a trial's thread."""

    def __init__(self, node: Node, client, what: str, timeout_s: float) -> None:
        self._node, self.client, self.what, self.timeout_s = node, client, what, timeout_s

    @property
    def name(self) -> str:
        """The service as resolved (remapped): srv_name is not."""
        return self._node.resolve_service_name(self.client.srv_name)

    def __call__(self, request):
        """Call the service and return its answer (NOT_READY or TIMEOUT as TrialFailed)."""
        if not self.client.wait_for_service(timeout_sec=self.timeout_s):
            raise TrialFailed(Codes.NOT_READY, f'{self.what} ({self.name}) is not available')
        try:
            return wait_for(self.client.call_async(request), self.timeout_s, self.what)
        except WaitAborted as exc:
            raise TrialFailed(Codes.TIMEOUT, str(exc)) from None


class SceneReset:
    """Puts the scene back before a trial, as `reset_mode` says: service, operator or none.

    In service mode the reset for the next trial is started right after a trial succeeds
    (`prepare_next`), off its critical path; the next trial uses it if it has the same task
    and goal (core.execution.PreparedReset), else resets again.
    """

    def __init__(
        self,
        node: Node,
        mode: str,
        service: ServiceCall | None,
        operator_timeout_s: float,
    ) -> None:
        self._node, self._mode, self._service = node, mode, service
        self._operator_timeout_s = operator_timeout_s
        self._prepared: PreparedReset = PreparedReset()
        self.confirmed = threading.Event()  # set by ~/confirm_reset

    def describe(self) -> str:
        """Return the reset as the ready line says it (names as resolved)."""
        if self._mode != 'service':
            return self._mode
        return f'service {self._service.name}' if self._service else 'service (none)'

    def prepare_next(self, task: str, goal: np.ndarray) -> None:
        """Start the reset service for the next trial now, off its critical path.

        A run's next trial has the same task and goal; if it has not, it resets again.
        """
        if self._mode == 'service' and self._service is not None:
            request = ResetScene.Request(task=task, goal=goal.tolist())
            self._prepared.store(task, goal, self._service.client.call_async(request))

    def reset(self, task: str, goal: np.ndarray, check: Check) -> float | None:
        """Reset the scene for a trial of `task` at `goal` (or wait for the operator's).

        Returns the scene's time right after a service reset (its answer's stamp), else None.
        """
        if self._mode == 'none':
            return None
        if self._mode == 'operator':
            self._wait_for_operator(check)
            return None
        if self._service is None:
            return None
        prepared = self._prepared.take(task, goal)
        if prepared is not None:
            try:
                answer = wait_for(prepared, self._service.timeout_s, self._service.what)
                if answer.success:
                    return seconds(answer.stamp)  # reset after the previous trial, for this one
            except WaitAborted:
                pass  # reset again below, and fail there if it cannot be done
        answer = self._service(ResetScene.Request(task=task, goal=goal.tolist()))
        if not answer.success:
            raise TrialFailed(Codes.NOT_READY, f'scene reset failed: {answer.message}')
        return seconds(answer.stamp)

    def _wait_for_operator(self, check: Check) -> None:
        """Ask the operator to reset the cell and wait for ~/confirm_reset."""
        self.confirmed.clear()
        self._node.get_logger().warning(
            f'reset: put the object back at its start, bring the arm home, then call '
            f'{self._node.resolve_topic_name("~/confirm_reset")}'
        )
        deadline = time.monotonic() + self._operator_timeout_s
        while not self.confirmed.wait(0.1):
            check('waiting for the operator reset')
            if time.monotonic() > deadline:
                raise TrialFailed(Codes.TIMEOUT, 'no operator reset confirmation in time')


class TrackerClient:
    """Asks the tracker for a trial window's trajectory until the whole window is tracked."""

    def __init__(self, service: ServiceCall) -> None:
        self.service = service

    def trajectory_of(self, start: float, end: float, plane, check: Check):
        """Return the tracker's complete answer for [start, end] on the marker `plane`."""
        request = GetTrajectory.Request(
            start=to_time(start), end=to_time(end), plane=list(plane or [])
        )
        while True:
            answer = self.service(request)
            if answer.complete:
                return answer
            check('waiting for the tracker')
            time.sleep(CLOCK_POLL_S)


class JointStates:
    """The arm's latest joint state (/joint_states): the start-pose check, the tool's state."""

    def __init__(self, tolerance_rad: float) -> None:
        self.tolerance_rad = tolerance_rad  # 0: no check
        self._positions: dict[str, float] = {}
        self._velocities: dict[str, float] = {}
        self._stamp = -np.inf  # of the newest message
        self._lock = threading.Lock()

    def on_message(self, msg: JointState) -> None:
        """Keep the positions (and velocities, if given) of a JointState message."""
        with self._lock:
            self._positions.update(zip(msg.name, msg.position, strict=False))
            self._velocities.update(zip(msg.name, msg.velocity, strict=False))
            self._stamp = max(self._stamp, seconds(msg.header.stamp))

    def latest(self, names) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Return the newest stamp, positions and velocities of joints `names` (in order).

        None while a joint has no position yet; a joint without a velocity has 0.
        """
        with self._lock:
            if any(n not in self._positions for n in names):
                return None
            q = np.array([self._positions[n] for n in names])
            qd = np.array([self._velocities.get(n, 0.0) for n in names])
            return self._stamp, q, qd

    def check_start(self, plan: JointPlan) -> None:
        """Refuse a trial whose arm is not at the plan's start (NOT_READY, LIMITS)."""
        if self.tolerance_rad <= 0:
            return
        # The state may still show the arm before the reset (or settling): give it a moment.
        deadline = time.monotonic() + START_POSE_WAIT_S
        while True:
            with self._lock:
                pose = start_pose(dict(self._positions), plan, self.tolerance_rad)
            if pose.ok:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(CLOCK_POLL_S)
        raise TrialFailed(Codes.NOT_READY if pose.missing else Codes.LIMITS, pose.message())
