# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""trial_executor: action `~/execute_trial`, theta -> arm motion -> tracked outcome -> cost.

Per goal: validate, clip theta, plan the stroke and check it against the arm's limits (core,
shared with the fast path), reset the scene (sim: ResetScene), publish one JointTrajectory a
little ahead of the clock, wait for the trial window to pass on the robot's clock (sim time
under `use_sim_time`), ask the tracker for the window's trajectory, and score it. A canceled
trial sends an empty trajectory (hold position) at once.
"""

import threading
import time
import uuid

import numpy as np
from icpi_interfaces.action import ExecuteTrial
from icpi_interfaces.srv import GetTrajectory, ResetScene
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.errors import IcpiError
from icpi_ros.core.kinematics import ModelKinematics
from icpi_ros.core.motion import PlanRejected, plan_motion
from icpi_ros.core.safety import SafetyLimits, check_plan, check_sent
from icpi_ros.core.scoring import TrackingLost, score_trajectory
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.conversions import seconds, to_duration, to_time
from icpi_ros.nodes.runtime import (
    WaitAborted,
    declare,
    run_node,
    stop_requested,
    wait_for,
)

NODE_NAME = 'trial_executor'
Codes = ExecuteTrial.Result
# Every n-th point of the 100 Hz plan is sent (the controller interpolates cubically); the
# points and that interpolation are checked against the limits (safety.check_sent).
POINT_STRIDE = 5
RESET_MODES = ('service', 'operator', 'none')
# Polling period while waiting for the robot's clock or the tracker: short, because every
# millisecond of it is overhead added to each trial (the clock itself ticks at 100 Hz).
CLOCK_POLL_S = 0.005
CLOCK_TICK_POLL_S = 0.001  # waiting for the next /clock tick
# Feedback is published at least this often (wall clock, s) while a trial runs.
HEARTBEAT_S = 0.5
# How long the robot clock may stand still when a trial is about to start (wall s).
CLOCK_STILL_S = 5.0
# How long the arm may take to show up at the plan start after the reset (wall clock, s).
START_POSE_WAIT_S = 1.0
# Parameters that may change at run time; each trial reads them once, when it starts.
RUNTIME_FLAGS = ('dry_run', 'publish_plan')
# Executor threads: up to 5 copies of a goal waiting, plus the service answers of the trial.
EXECUTOR_THREADS = 8
# A goal identical to the trial completed this recently (s) gets that trial's result.
REPLAY_S = 30.0


class TrialFailed(IcpiError):
    """A trial that ended with an error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def request_key(goal: ExecuteTrial.Goal) -> tuple | None:
    """Return what makes two goals the same trial: id, task, theta, goal (None: no id)."""
    if not goal.trial_id:
        return None
    return (goal.trial_id, goal.task, tuple(goal.theta), tuple(goal.goal))


class RunningTrial:
    """One trial on the arm and every goal watching it (the first one and identical resends)."""

    def __init__(self, key: tuple | None, handle) -> None:
        self.key = key
        self.request = handle.request
        self.handles = [handle]
        self.stopping = False  # set once the trial has decided to end: no more attaching
        self.done = threading.Event()
        self.result: ExecuteTrial.Result | None = None
        self._lock = threading.Lock()

    def attach(self, handle) -> bool:
        """Add a watching goal, unless the trial is already ending."""
        with self._lock:
            if self.stopping:
                return False
            self.handles.append(handle)
            return True

    def cancel_requested(self) -> bool:
        """Return whether every goal watching the trial has asked to cancel it (it stops)."""
        with self._lock:
            if all(h.is_cancel_requested for h in self.handles):
                self.stopping = True
            return self.stopping

    def publish_feedback(self, feedback: ExecuteTrial.Feedback) -> None:
        """Send feedback (the heartbeat) to every goal still watching."""
        with self._lock:
            handles = list(self.handles)
        for handle in handles:
            if handle.is_active:
                handle.publish_feedback(feedback)

    def finish(self, result: ExecuteTrial.Result) -> None:
        """Record the result; attached goals wake up and answer with it."""
        with self._lock:
            self.stopping, self.result = True, result
        self.done.set()


class ControllerOutput:
    """The controller topic's publisher, which knows whether what it sent may still move.

    `moving()` is true until the end (robot clock) of the last trajectory published; a hold
    (an empty trajectory) ends it at once. ~/abort in dry run asks it: a hold is needed only
    for a trajectory still running (one sent before dry run was switched on).
    """

    def __init__(self, publisher, now) -> None:
        self._publisher, self._now = publisher, now
        self._until = -np.inf  # robot-clock end of the last trajectory sent

    @property
    def topic_name(self) -> str:
        """The topic as resolved (remapped), where the trajectories really go."""
        return self._publisher.topic_name

    def publish(self, msg: JointTrajectory) -> None:
        """Publish a trajectory (empty: hold) and remember until when it moves the arm."""
        if msg.points:
            start = seconds(msg.header.stamp) or self._now()  # a zero stamp means now
            until = start + seconds(msg.points[-1].time_from_start)
        else:
            until = -np.inf
        self._until = until  # before it goes: moving() errs towards a hold
        self._publisher.publish(msg)

    def moving(self) -> bool:
        """Whether the last trajectory sent may still be moving the arm."""
        return self._now() <= self._until


def finish_goal(handle, result: ExecuteTrial.Result) -> ExecuteTrial.Result:
    """Put a goal in its final state for `result` and return the result."""
    if handle.is_cancel_requested:
        handle.canceled()
    elif result.error_code == Codes.NONE:
        handle.succeed()
    else:
        handle.abort()
    return result


def busy_result(goal: ExecuteTrial.Goal, message: str) -> ExecuteTrial.Result:
    """Return the result of a goal refused because another trial runs (nothing moved)."""
    result = ExecuteTrial.Result(error_code=Codes.BUSY, error_msg=message)
    trial = result.trial
    trial.trial_id, trial.task = goal.trial_id, goal.task
    trial.theta_requested = list(goal.theta)
    trial.status, trial.status_message = Codes.BUSY, message
    return result


class TrialGoals:
    """The ExecuteTrial server: one trial at a time, and no trial unobserved.

    A goal identical to the running trial (same trial_id, task, theta and goal: a client's
    resend of a goal whose answer it missed) is accepted and attached to it: it gets the
    trial's feedback and, at the end, its result; nothing else moves. The trial stops (hold)
    only when every goal watching it has been canceled, so canceling the first copy of a
    resent goal does not stop the trial the resend watches. A resend arriving while the trial
    is already ending (canceled, failed) waits for it to end and then runs afresh. A goal
    identical to the trial that just completed (within REPLAY_S) is answered with its result
    without moving again. Any other goal while a trial runs is accepted and aborted at once
    with BUSY and a message naming the running trial (a rejection would tell the client
    nothing: `ros2 action send_goal` prints only "Goal was rejected."); goals without a
    trial_id are never matched.
    """

    def __init__(self, node: Node, run, group, wait_s: float) -> None:
        self._node, self._run, self._wait_s = node, run, wait_s
        self._lock = threading.Lock()
        self._accepted = 0  # goals accepted and not yet answered
        self._key: tuple | None = None  # the request the accepted goals share
        self._what = ''  # the trial the accepted goals share, for the busy answer
        # Goals accepted only to be aborted as busy, by id() of the request (goal callback and
        # execute callback see the same request object): id -> (request, busy result).
        self._refused: dict[int, tuple[ExecuteTrial.Goal, ExecuteTrial.Result]] = {}
        self._running: RunningTrial | None = None
        self._last: tuple[tuple, ExecuteTrial.Result, float] | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.server = ActionServer(
            node,
            ExecuteTrial,
            '~/execute_trial',
            self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )

    @property
    def busy(self) -> bool:
        """Whether a trial has been accepted and not yet answered."""
        return self._accepted > 0

    def _on_goal(self, goal: ExecuteTrial.Goal) -> GoalResponse:
        key = request_key(goal)
        with self._lock:
            if self._accepted and (key is None or key != self._key):
                message = f'busy: another trial is running ({self._what})'
                self._node.get_logger().warning(
                    f'refused trial {goal.trial_id or "(no id)"}: {message}'
                )
                self._refused[id(goal)] = (goal, busy_result(goal, message))
                return GoalResponse.ACCEPT  # and aborted at once, with the reason
            if self._accepted:
                self._node.get_logger().warning(
                    f'trial {goal.trial_id}: the same goal again (a resend): it watches the '
                    'running trial instead of starting another'
                )
            else:
                self._what = f'trial {goal.trial_id or "without a trial_id"}, {goal.task}'
            self._accepted += 1
            self._key = key
            self._idle.clear()
            return GoalResponse.ACCEPT

    def _take_refused(self, goal: ExecuteTrial.Goal) -> ExecuteTrial.Result | None:
        """Return the busy result of a goal accepted only to be aborted, else None."""
        with self._lock:
            refused = self._refused.get(id(goal))
            if refused is None or refused[0] is not goal:
                return None
            del self._refused[id(goal)]
            return refused[1]

    def _claim(self, handle, key: tuple | None) -> tuple[str, object]:
        """Decide what a goal does now: run, attach, replay, or wait for the running trial."""
        with self._lock:
            running, last = self._running, self._last
            if running is None:
                fresh = last is not None and time.monotonic() - last[2] < REPLAY_S
                if key is not None and fresh and key == last[0]:
                    return 'replay', last
                self._running = RunningTrial(key, handle)
                return 'run', self._running
        if key is not None and key == running.key and running.attach(handle):
            return 'attach', running
        return 'wait', running  # the same trial, already ending: run afresh after it

    def _execute(self, handle) -> ExecuteTrial.Result:
        busy = self._take_refused(handle.request)
        if busy is not None:  # not counted in _accepted: nothing to undo
            return finish_goal(handle, busy)
        key = request_key(handle.request)
        deadline = time.monotonic() + self._wait_s
        try:
            while True:
                what, it = self._claim(handle, key)
                if what != 'wait':
                    break
                it.done.wait(CLOCK_POLL_S * 20)
                if time.monotonic() > deadline:
                    return finish_goal(handle, self._timed_out(handle))
            if what == 'attach':
                return finish_goal(handle, self._result_of(it, handle))
            if what == 'replay':
                self._node.get_logger().warning(
                    f'trial {handle.request.trial_id} completed {time.monotonic() - it[2]:.1f}'
                    ' s ago: answered with its result, nothing moves again'
                )
                return finish_goal(handle, it[1])
            result = ExecuteTrial.Result()
            try:
                result = self._run(it)
            finally:
                it.finish(result)
                with self._lock:
                    self._running = None
                    done = key is not None and result.error_code == Codes.NONE
                    self._last = (key, result, time.monotonic()) if done else None
            return finish_goal(handle, result)
        finally:
            with self._lock:
                self._accepted -= 1
                if not self._accepted:
                    self._key = None
                    self._idle.set()

    def _result_of(self, running: RunningTrial, handle) -> ExecuteTrial.Result:
        # The trial ends by its own trial_timeout_s; this bound only guards against a bug.
        if running.done.wait(self._wait_s) and running.result is not None:
            return running.result
        return self._timed_out(handle)

    def _timed_out(self, handle) -> ExecuteTrial.Result:
        result = ExecuteTrial.Result(error_code=Codes.TIMEOUT)
        result.error_msg = f'the trial this goal waits for did not end within {self._wait_s:g} s'
        result.trial.trial_id = handle.request.trial_id
        return result

    def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the accepted goals to be answered."""
        self._idle.wait(timeout_s)


class TrialExecutor(Node):
    """Runs one trial per goal; one goal at a time."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        tasks_file = declare(
            self, 'tasks_file', '', 'Task definitions; empty: package config.', read_only=True
        )
        self._controller_topic = declare(
            self,
            'controller_topic',
            '/arm_controller/joint_trajectory',
            'JointTrajectory topic of the arm controller (joint_trajectory_controller).',
            read_only=True,
        )
        self._reset_service = declare(
            self,
            'reset_service',
            '/sim_bridge/reset',
            'ResetScene service called before every trial; empty: no reset.',
            read_only=True,
        )
        tracker_service = declare(
            self,
            'tracker_service',
            '/trajectory_tracker/get_trajectory',
            'GetTrajectory service of the tracker.',
            read_only=True,
        )
        self._lead_s = declare(
            self,
            'start_delay_s',
            0.3,
            'The trajectory starts this long after it is sent (robot clock, s).',
            read_only=True,
            float_range=(0.05, 5.0),
        )
        self._timeout_s = declare(
            self,
            'trial_timeout_s',
            60.0,
            'Wall-clock limit of one trial, from goal to result (s).',
            read_only=True,
            float_range=(1.0, 3600.0),
        )
        self._service_timeout_s = declare(
            self,
            'service_timeout_s',
            10.0,
            'Wall-clock limit of one service call (s).',
            read_only=True,
            float_range=(0.1, 600.0),
        )
        self._tasks = load_tasks(tasks_file or None)
        self._arm = self._declare_arm()
        self._limits = self._declare_limits()
        self._dry_run = declare(
            self,
            'dry_run',
            False,
            'Plan, check and log trials; send nothing to the arm. Settable at run time: '
            'applies from the next trial.',
        )
        self._publish_plan = declare(
            self,
            'publish_plan',
            False,
            'Also publish each planned trajectory on ~/planned_trajectory (always in dry run). '
            'Settable at run time: applies from the next trial.',
        )
        self._require_enable = declare(
            self,
            'require_enable',
            False,
            'Refuse trials until ~/enable is called (true on a real robot); ~/abort disables.',
            read_only=True,
        )
        self._reset_mode = declare(
            self,
            'reset_mode',
            'service',
            'Between trials: service (call reset_service, e.g. the sim), operator (wait for '
            '~/confirm_reset) or none.',
            read_only=True,
            choices=RESET_MODES,
        )
        self._reset_timeout_s = declare(
            self,
            'reset_timeout_s',
            300.0,
            'Wall-clock limit of the operator reset (s).',
            read_only=True,
            float_range=(1.0, 86400.0),
        )
        self._start_tolerance = declare(
            self,
            'start_tolerance_rad',
            0.0,
            'Refuse a trial when a joint is further than this from the plan start (0: no check; '
            'needs joint_states_topic).',
            read_only=True,
            float_range=(0.0, 3.2),
        )
        joint_states_topic = declare(
            self,
            'joint_states_topic',
            '/joint_states',
            'JointState topic of the arm (for the start-pose check).',
            read_only=True,
        )
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self._enabled = threading.Event()
        self._aborted = threading.Event()
        self._reset_confirmed = threading.Event()
        self._joints: dict[str, float] = {}
        self._prepared: tuple | None = None  # (task, goal, future) of a reset made in advance
        group = ReentrantCallbackGroup()
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._controller = ControllerOutput(
            self.create_publisher(JointTrajectory, self._controller_topic, reliable), self._now
        )
        self._reset = (
            self.create_client(ResetScene, self._reset_service, callback_group=group)
            if self._reset_service
            else None
        )
        self._tracker = self.create_client(GetTrajectory, tracker_service, callback_group=group)
        self._planned = self.create_publisher(JointTrajectory, '~/planned_trajectory', reliable)
        # True while a trial runs: the simulator publishes at full rates then (idle otherwise).
        self._active = self.create_publisher(
            Bool,
            '~/trial_active',
            QoSProfile(
                depth=1,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL,
            ),
        )
        self._active.publish(Bool(data=False))
        self.create_service(SetBool, '~/enable', self._on_enable, callback_group=group)
        self.create_service(Trigger, '~/abort', self._on_abort, callback_group=group)
        self.create_service(
            Trigger, '~/confirm_reset', self._on_confirm_reset, callback_group=group
        )
        if self._start_tolerance > 0:
            self.create_subscription(
                JointState, joint_states_topic, self._on_joint_states, 10, callback_group=group
            )
        self._goals = TrialGoals(self, self._run, group, self._timeout_s + 30.0)
        mode = 'DRY RUN (nothing is sent)' if self._dry_run else 'live'
        if self._require_enable:
            mode += f', disabled until {self.resolve_topic_name("~/enable")} is called'
        # Names as resolved (remapped with -r), where the messages really go.
        reset = self._reset_mode
        if reset == 'service':
            reset += (
                f' {self.resolve_service_name(self._reset_service)}' if self._reset else ' (none)'
            )
        self.get_logger().info(
            f'ready: action {self.resolve_topic_name("~/execute_trial")}, controller '
            f'{self._controller.topic_name}, reset {reset}, tracker '
            f'{self.resolve_service_name(tracker_service)}, arm {self._arm_source}; {mode}'
        )

    def _declare_arm(self):
        path = declare(
            self,
            'kinematics_file',
            '',
            'URDF or MJCF of the arm (MuJoCo is the kinematics engine); empty: built-in arm.',
            read_only=True,
        )
        names = declare(
            self,
            'joint_names',
            list(ArmSpec().joint_names),
            'Arm joints, base to tool, as named by the controller and the kinematics file.',
            read_only=True,
        )
        tip = declare(
            self, 'tip_frame', 'tip', 'Site, body or geom of the tool tip.', read_only=True
        )
        home = declare(
            self,
            'home_joints',
            [0.0],
            'IK seed: the arm near the task home pose (one value per joint; [0.0]: zeros).',
            read_only=True,
        )
        speed = declare(
            self,
            'joint_speed_limits',
            [0.0],
            'Per-joint speed limits of the arm (rad/s; [0.0]: built-in arm values / 3.0).',
            read_only=True,
        )
        if not path:
            self._arm_source = 'built-in'
            return ArmSpec(joint_names=tuple(names))
        self._arm_source = path
        return ModelKinematics(
            path,
            names,
            tip,
            speed if any(speed) else 3.0,
            home=home if any(home) else None,
        )

    def _declare_limits(self) -> SafetyLimits:
        return SafetyLimits(
            workspace_min=tuple(
                declare(
                    self,
                    'workspace_min',
                    [-1.0, -1.0, -0.05],
                    'Tool tip box, low corner (table frame, m).',
                    read_only=True,
                )
            ),
            workspace_max=tuple(
                declare(
                    self,
                    'workspace_max',
                    [1.5, 1.0, 1.0],
                    'Tool tip box, high corner (table frame, m).',
                    read_only=True,
                )
            ),
            max_joint_speed=declare(
                self,
                'max_joint_speed',
                20.0,
                'Cell limit on every joint speed (rad/s).',
                read_only=True,
                float_range=(0.01, 100.0),
            ),
            max_joint_accel=declare(
                self,
                'max_joint_accel',
                1000.0,
                'Cell limit on every joint acceleration (rad/s^2).',
                read_only=True,
                float_range=(0.1, 100000.0),
            ),
            max_stroke_m=declare(
                self,
                'max_stroke_m',
                0.5,
                'Longest stroke allowed (m).',
                read_only=True,
                float_range=(0.001, 5.0),
            ),
        )

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name in RUNTIME_FLAGS and not isinstance(param.value, bool):
                return SetParametersResult(
                    successful=False,
                    reason=f'{param.name}: expected true or false, got {param.value!r}',
                )
        return SetParametersResult(successful=True)

    def _on_parameters_set(self, params: list[Parameter]) -> None:
        """Apply dry_run / publish_plan; a trial reads them once, when it starts."""
        for param in params:
            if param.name == 'dry_run':
                self._dry_run = param.value
                what = 'nothing is sent to the arm' if param.value else 'trials move the arm'
            elif param.name == 'publish_plan':
                self._publish_plan = param.value
                what = 'plans are ' + ('' if param.value else 'not ') + 'published'
            else:
                continue
            running = ' (a trial already running finishes as it started; ~/abort stops it)'
            self.get_logger().warning(
                f'{param.name} is now {str(param.value).lower()}: from the next trial, {what}'
                + (running if self._goals.busy else '')
            )

    def _on_enable(self, request, response):
        if request.data:
            self._enabled.set()
            response.message = (
                'enabled, but in dry run: trials plan and check, nothing moves'
                if self._dry_run
                else 'enabled: trials will move the arm'
            )
            if not self._require_enable:
                response.message += ' (enabling is not required by this executor)'
        else:
            self._enabled.clear()
            response.message = (
                'disabled: trials are refused until enabled again'
                if self._require_enable
                else 'disabled, but enabling is not required by this executor: trials still run'
            )
        response.success = True
        self.get_logger().warning(response.message)
        return response

    def _on_abort(self, request, response):
        # In dry run nothing reaches the controller: a hold only for a trajectory still
        # running (sent before dry run was switched on; that trial also holds when it sees
        # the abort).
        hold = not self._dry_run or self._controller.moving()
        if hold:
            self._hold()  # first, whatever the trial thread is doing
        self._aborted.set()
        if self._require_enable:
            self._enabled.clear()
        response.success = True
        enable = self.resolve_service_name('~/enable')
        if not hold:
            what = 'dry run: nothing was moving, nothing sent to the arm'
        elif self._dry_run:
            what = 'aborted: hold sent (dry run is on, but a trial started before it was moving)'
        else:
            what = 'aborted: hold sent'
        response.message = what + (
            f'; disabled until {enable} is called with true' if self._require_enable else ''
        )
        # One severity per call site (rclpy refuses a call site that changes it).
        if hold:
            self.get_logger().error(response.message)
        else:
            self.get_logger().warning(response.message)
        return response

    def _on_confirm_reset(self, request, response):
        self._reset_confirmed.set()
        response.success, response.message = True, 'reset confirmed'
        return response

    def _on_joint_states(self, msg: JointState) -> None:
        self._joints.update(zip(msg.name, msg.position, strict=False))

    def drain(self, timeout_s: float) -> None:
        """Wait for a running trial to end (it sees the stop event and stops the arm)."""
        self._goals.drain(timeout_s)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _hold(self) -> None:
        self._controller.publish(JointTrajectory())  # empty: hold the current position

    def _run(self, handle: 'RunningTrial') -> ExecuteTrial.Result:
        """Run one trial for the goals in `handle`; their final states are set by TrialGoals."""
        goal = handle.request
        result = ExecuteTrial.Result()
        trial = result.trial
        trial.trial_id = goal.trial_id or uuid.uuid4().hex[:12]
        trial.task = goal.task
        trial.theta_requested = list(goal.theta)
        wall_start = time.monotonic()
        self._active.publish(Bool(data=True))
        accepted = self._now()
        feedback = ExecuteTrial.Feedback()
        publishing = threading.Lock()

        def phase(value: int | None = None) -> None:
            with publishing:
                if value is not None:
                    feedback.phase = value
                feedback.elapsed_s = self._now() - accepted
                handle.publish_feedback(feedback)

        # A heartbeat: the loop tells a running trial from a crashed executor by its feedback.
        done = threading.Event()
        threading.Thread(
            target=lambda: [phase() for _ in iter(lambda: done.wait(HEARTBEAT_S), True)],
            daemon=True,
        ).start()

        def check(deadline_what: str) -> None:
            if self._aborted.is_set():
                raise TrialFailed(Codes.ABORTED, f'aborted by ~/abort while {deadline_what}')
            if handle.cancel_requested():
                raise TrialFailed(Codes.ABORTED, f'canceled while {deadline_what}')
            if stop_requested().is_set():
                raise TrialFailed(Codes.ABORTED, f'shutting down while {deadline_what}')
            if time.monotonic() - wall_start > self._timeout_s:
                raise TrialFailed(
                    Codes.TIMEOUT, f'trial timeout ({self._timeout_s:g} s) while {deadline_what}'
                )

        moving = False
        self._aborted.clear()
        dry_run, publish_plan = self._dry_run, self._publish_plan  # fixed for this trial
        try:
            if self._require_enable and not self._enabled.is_set() and not dry_run:
                raise TrialFailed(
                    Codes.NOT_ENABLED,
                    f'the arm is not enabled: call {self.resolve_topic_name("~/enable")} '
                    '(SetBool true) first',
                )
            try:
                task = self._tasks[goal.task]
                theta, clipped = task.clip(task.check_theta(goal.theta))
                goal_vec = task.check_goal(goal.goal if len(goal.goal) else task.default_goal)
            except InvalidInput as exc:
                raise TrialFailed(Codes.INVALID_PARAMS, str(exc)) from None
            trial.theta, trial.goal = theta.tolist(), goal_vec.tolist()
            phase(ExecuteTrial.Feedback.PHASE_PLANNING)
            try:
                plan = plan_motion(task.motion, self._arm, theta, task.trial_duration_s)
                check_plan(plan, self._limits)
                # What the controller gets, and its spline between those points: checked too.
                plan = plan.decimate(POINT_STRIDE)
                check_sent(plan, self._arm, self._limits)
            except PlanRejected as exc:
                raise TrialFailed(Codes.LIMITS, f'plan rejected ({exc.reason}): {exc}') from None
            if dry_run or publish_plan:
                self._planned.publish(self._trajectory(plan, self._now() + self._lead_s))
            if dry_run:
                raise TrialFailed(
                    Codes.DRY_RUN,
                    'dry run: planned and checked, published on '
                    f'{self.resolve_topic_name("~/planned_trajectory")}; nothing sent to the arm',
                )
            phase(ExecuteTrial.Feedback.PHASE_RESETTING)
            mark = time.monotonic()
            self._reset_scene(task.name, goal_vec, check)
            check('resetting')
            trial.reset_wall_s = time.monotonic() - mark
            self._check_start_pose(plan)
            mark = time.monotonic()
            start = self._fresh_now(check) + self._lead_s
            end = start + task.trial_duration_s
            self._controller.publish(self._trajectory(plan, start))
            moving = True
            if self._now() >= start:  # it left after its own start: it would begin part-way
                raise TrialFailed(
                    Codes.TIMEOUT,
                    f'the trajectory was published {self._now() - start:.3f} s after its start '
                    f'time (start_delay_s {self._lead_s:g} too short for this machine?): held',
                )
            phase(ExecuteTrial.Feedback.PHASE_MOVING)
            while self._now() < end:
                check('moving')
                time.sleep(CLOCK_POLL_S)
            moving = False
            trial.window_wall_s = time.monotonic() - mark
            mark = time.monotonic()
            phase(ExecuteTrial.Feedback.PHASE_SETTLING)
            answer = self._trajectory_of(start, end, task.marker_plane, check)
            trial.tracker_wall_s = time.monotonic() - mark
            phase(ExecuteTrial.Feedback.PHASE_SCORING)
            traj = answer.trajectory
            trial.trajectory = traj
            points = np.array([[p.x, p.y, p.z] for p in traj.points]).reshape(-1, 3)
            times = np.array([seconds(t) for t in traj.stamps])
            if not answer.success:
                raise TrialFailed(Codes.TRACKING_LOST, answer.message)
            try:
                score = score_trajectory(task, times, points, np.array(traj.valid), goal_vec, end)
            except TrackingLost as exc:
                raise TrialFailed(Codes.TRACKING_LOST, str(exc)) from None
            trial.outcome, trial.error = score.outcome.tolist(), score.error.tolist()
            trial.cost = score.cost
            trial.start_stamp, trial.end_stamp = to_time(start), to_time(end)
            trial.status = Codes.NONE
            trial.status_message = 'clipped to bounds' if clipped else ''
            result.error_code = Codes.NONE
            self._prepare_next_reset(task.name, goal_vec)
            self.get_logger().info(
                f'trial {trial.trial_id} {task.name}: theta {np.round(theta, 4).tolist()} -> '
                f'outcome {np.round(score.outcome, 4).tolist()} cost {score.cost:.4f}'
            )
        except TrialFailed as exc:
            if moving:
                self._hold()
            trial.status, trial.status_message = exc.code, str(exc)
            result.error_code, result.error_msg = exc.code, str(exc)
            self.get_logger().warning(f'trial {trial.trial_id} failed: {exc}')
        except Exception as exc:  # never leave a goal hanging or the arm moving
            if moving:
                self._hold()
            result.error_code = Codes.INTERNAL_ERROR
            result.error_msg = f'{type(exc).__name__}: {exc}'
            trial.status, trial.status_message = result.error_code, result.error_msg
            self.get_logger().error(f'trial {trial.trial_id}: internal error: {result.error_msg}')
        done.set()
        self._active.publish(Bool(data=False))
        trial.header.stamp = self.get_clock().now().to_msg()
        trial.wall_time_s = time.monotonic() - wall_start
        return result

    def _fresh_now(self, check) -> float:
        """Return the robot clock's time just after it ticked (simulated time only).

        An idle simulator ticks /clock slowly until it sees ~/trial_active: a time read
        between two ticks would stamp the trajectory's start in the simulator's past.
        """
        then = self._now()
        if not self.get_parameter('use_sim_time').value:
            return then
        deadline = time.monotonic() + CLOCK_STILL_S
        while (now := self._now()) == then:
            check('waiting for the clock')
            if time.monotonic() > deadline:
                raise TrialFailed(
                    Codes.NOT_READY,
                    f'the simulation clock (/clock) stood still for {CLOCK_STILL_S:g} s: is the '
                    'simulator running?',
                )
            time.sleep(CLOCK_TICK_POLL_S)
        return now

    def _trajectory(self, sent, start: float) -> JointTrajectory:
        """Return the JointTrajectory of the (decimated, checked) points, from `start`."""
        msg = JointTrajectory(joint_names=list(sent.joint_names))
        msg.header.stamp = to_time(start)
        for i in range(len(sent.times)):
            msg.points.append(
                JointTrajectoryPoint(
                    positions=sent.positions[i].tolist(),
                    velocities=sent.velocities[i].tolist(),
                    time_from_start=to_duration(float(sent.times[i])),
                )
            )
        return msg

    def _call(self, client, request, what: str):
        if not client.wait_for_service(timeout_sec=self._service_timeout_s):
            name = self.resolve_service_name(client.srv_name)  # srv_name is not remapped
            raise TrialFailed(Codes.NOT_READY, f'{what} ({name}) is not available')
        try:
            return wait_for(client.call_async(request), self._service_timeout_s, what)
        except WaitAborted as exc:
            raise TrialFailed(Codes.TIMEOUT, str(exc)) from None

    def _check_start_pose(self, plan) -> None:
        if self._start_tolerance <= 0:
            return
        # The state may still show the arm before the reset (or settling): give it a moment.
        deadline = time.monotonic() + START_POSE_WAIT_S
        while True:
            missing = [n for n in plan.joint_names if n not in self._joints]
            if not missing:
                current = np.array([self._joints[n] for n in plan.joint_names])
                gap = np.abs(current - plan.positions[0])
                if gap.max() <= self._start_tolerance:
                    return
            if time.monotonic() > deadline:
                break
            time.sleep(CLOCK_POLL_S)
        if missing:
            raise TrialFailed(Codes.NOT_READY, f'no joint state received for {missing}')
        j = int(np.argmax(gap))
        raise TrialFailed(
            Codes.LIMITS,
            f'the arm is not at the plan start: joint {plan.joint_names[j]} is '
            f'{gap[j]:.3f} rad away (start_tolerance_rad {self._start_tolerance:g}); move '
            'it to the task home pose',
        )

    def _prepare_next_reset(self, task: str, goal: np.ndarray) -> None:
        """Start the reset service for the next trial now, off its critical path.

        A run's next trial has the same task and goal; if it has not, it resets again.
        """
        if self._reset_mode == 'service' and self._reset is not None:
            request = ResetScene.Request(task=task, goal=goal.tolist())
            self._prepared = (task, tuple(goal.tolist()), self._reset.call_async(request))

    def _reset_scene(self, task: str, goal: np.ndarray, check) -> None:
        if self._reset_mode == 'none':
            return
        if self._reset_mode == 'operator':
            self._reset_confirmed.clear()
            self.get_logger().warning(
                f'reset: put the object back at its start, bring the arm home, then call '
                f'{self.resolve_topic_name("~/confirm_reset")}'
            )
            deadline = time.monotonic() + self._reset_timeout_s
            while not self._reset_confirmed.wait(0.1):
                check('waiting for the operator reset')
                if time.monotonic() > deadline:
                    raise TrialFailed(Codes.TIMEOUT, 'no operator reset confirmation in time')
            return
        if self._reset is None:
            return
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[:2] == (task, tuple(goal.tolist())):
            try:
                if wait_for(prepared[2], self._service_timeout_s, 'the scene reset').success:
                    return  # reset right after the previous trial, for this task and goal
            except WaitAborted:
                pass  # reset again below, and fail there if it cannot be done
        answer = self._call(
            self._reset, ResetScene.Request(task=task, goal=goal.tolist()), 'the scene reset'
        )
        if not answer.success:
            raise TrialFailed(Codes.NOT_READY, f'scene reset failed: {answer.message}')

    def _trajectory_of(self, start: float, end: float, plane, check):
        request = GetTrajectory.Request(
            start=to_time(start), end=to_time(end), plane=list(plane or [])
        )
        while True:
            answer = self._call(self._tracker, request, 'the tracker')
            if answer.complete:
                return answer
            check('waiting for the tracker')
            time.sleep(CLOCK_POLL_S)


def main(args: list[str] | None = None) -> None:
    """Run the trial executor until Ctrl-C."""
    # Each goal waits in a thread of its own (the trial, or a resend attached to it; the loop
    # sends up to 5 copies) and the trial's service calls need free threads to complete.
    raise SystemExit(run_node(TrialExecutor, args, threads=EXECUTOR_THREADS))


if __name__ == '__main__':
    main()
