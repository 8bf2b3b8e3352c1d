# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""trial_executor: action `~/execute_trial`, theta -> arm motion -> tracked outcome -> cost.

Per goal: validate, clip theta, plan the stroke and check it against the arm's limits (core,
shared with the fast path), reset the scene (sim: ResetScene), publish one JointTrajectory a
little ahead of the clock, wait for the trial window to pass on the robot's clock (sim time
under `use_sim_time`), ask the tracker for the window's trajectory, and score it. A
closed-loop task (push-gc) instead streams one checked trajectory per control step from its
policy (`trial_stream`), observing the tracker's live points and /joint_states. A canceled
trial sends an empty trajectory (hold position) at once.

The node wires things up and answers its services; the rest lives beside it: the parameters
(`trial_executor_params`), the goals (`trial_goals`: one trial at a time, resends), one trial's
phases (`trial_run`; `trial_stream` for closed loop), what a trial talks to (`trial_io`) and the
rules (`core.execution`, `core.streaming`).
"""

import threading

from geometry_msgs.msg import PointStamped
from icpi_interfaces.action import ExecuteTrial
from icpi_interfaces.msg import TrialResult
from icpi_interfaces.srv import GetTrajectory, ResetScene
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from icpi_ros.core.streaming import TrackedPoints
from icpi_ros.core.tasks import load_tasks
from icpi_ros.nodes.conversions import seconds
from icpi_ros.nodes.runtime import LATCHED, run_node
from icpi_ros.nodes.trial_executor_params import RUNTIME_FLAGS, declare_params
from icpi_ros.nodes.trial_goals import RunningTrial, TrialGoals
from icpi_ros.nodes.trial_io import (
    ControllerOutput,
    JointStates,
    RobotClock,
    SceneReset,
    ServiceCall,
    TrackerClient,
)
from icpi_ros.nodes.trial_run import TrialCell, TrialRun

NODE_NAME = 'trial_executor'
# Executor threads: up to 5 copies of a goal waiting, plus the service answers of the trial.
EXECUTOR_THREADS = 8


class TrialExecutor(Node):
    """Runs one trial per goal; one goal at a time."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = params = declare_params(self)
        tasks = load_tasks(params.tasks_file or None)
        arm = params.arm.build()
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._on_parameters_set)
        # The run-time values of dry_run and publish_plan; each trial reads them when it starts.
        self._dry_run, self._publish_plan = params.dry_run, params.publish_plan
        group = ReentrantCallbackGroup()
        self._cell = self._make_cell(tasks, arm, group)
        self.create_service(SetBool, '~/enable', self._on_enable, callback_group=group)
        self.create_service(Trigger, '~/abort', self._on_abort, callback_group=group)
        self.create_service(
            Trigger, '~/confirm_reset', self._on_confirm_reset, callback_group=group
        )
        # Every trial's result, also a failed one's (the run recorder keeps them in the bag).
        self._results = self.create_publisher(
            TrialResult,
            '~/trial_result',
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
        )
        self._goals = TrialGoals(self, self._run, group, params.trial_timeout_s + 30.0)
        self._log_ready()

    def _make_cell(self, tasks, arm, group) -> TrialCell:
        """Create the publishers, clients and subscription a trial uses."""
        params = self.params
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        clock = RobotClock(self)
        controller = self.create_publisher(JointTrajectory, params.controller_topic, reliable)
        timeout = params.service_timeout_s
        reset = (
            ServiceCall(
                self,
                self.create_client(ResetScene, params.reset_service, callback_group=group),
                'the scene reset',
                timeout,
            )
            if params.reset_service
            else None
        )
        tracker = self.create_client(GetTrajectory, params.tracker_service, callback_group=group)
        # True while a trial runs: the simulator publishes at full rates then (idle otherwise).
        active = self.create_publisher(Bool, '~/trial_active', LATCHED)
        active.publish(Bool(data=False))
        joints = JointStates(params.start_tolerance_rad)
        states = self.create_subscription(
            JointState, params.joint_states_topic, joints.on_message, 10, callback_group=group
        )
        points = TrackedPoints()
        tracked = self.create_subscription(
            PointStamped,
            params.tracked_point_topic,
            lambda m: points.add(seconds(m.header.stamp), (m.point.x, m.point.y)),
            reliable,
            callback_group=group,
        )
        return TrialCell(
            tasks=tasks,
            arm=arm,
            limits=params.limits,
            lead_s=params.start_delay_s,
            timeout_s=params.trial_timeout_s,
            require_enable=params.require_enable,
            controller=ControllerOutput(controller, clock.now),
            planned=self.create_publisher(JointTrajectory, '~/planned_trajectory', reliable),
            active=active,
            clock=clock,
            scene=SceneReset(self, params.reset_mode, reset, params.reset_timeout_s),
            tracker=TrackerClient(ServiceCall(self, tracker, 'the tracker', timeout)),
            joints=joints,
            enabled=threading.Event(),
            aborted=threading.Event(),
            logger=self.get_logger(),
            enable_service=self.resolve_topic_name('~/enable'),
            planned_topic=self.resolve_topic_name('~/planned_trajectory'),
            points=points,
            points_topic=tracked.topic_name,
            joint_states_topic=states.topic_name,
            control_lead_s=params.control_lead_s,
            observation_max_age_s=params.observation_max_age_s,
        )

    def _log_ready(self) -> None:
        """Log the ready line, with the names as resolved (remapped with -r)."""
        cell = self._cell
        mode = 'DRY RUN (nothing is sent)' if self._dry_run else 'live'
        if cell.require_enable:
            mode += f', disabled until {cell.enable_service} is called'
        self.get_logger().info(
            f'ready: action {self.resolve_topic_name("~/execute_trial")}, controller '
            f'{cell.controller.topic_name}, reset {cell.scene.describe()}, tracker '
            f'{cell.tracker.service.name}, arm {self.params.arm.source}; {mode}'
        )

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Refuse a new value of a run-time flag that is not true or false."""
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
        """~/enable: true lets trials move the arm (with require_enable); false disables."""
        cell = self._cell
        if request.data:
            cell.enabled.set()
            response.message = (
                'enabled, but in dry run: trials plan and check, nothing moves'
                if self._dry_run
                else 'enabled: trials will move the arm'
            )
            if not cell.require_enable:
                response.message += ' (enabling is not required by this executor)'
        else:
            cell.enabled.clear()
            response.message = (
                'disabled: trials are refused until enabled again'
                if cell.require_enable
                else 'disabled, but enabling is not required by this executor: trials still run'
            )
        response.success = True
        self.get_logger().warning(response.message)
        return response

    def _on_abort(self, request, response):
        """~/abort: hold the arm, fail the running trial with ABORTED, disable."""
        cell = self._cell
        # In dry run nothing reaches the controller: a hold only for a trajectory still
        # running (sent before dry run was switched on; that trial also holds when it sees
        # the abort).
        hold = not self._dry_run or cell.controller.moving()
        if hold:
            cell.controller.hold()  # first, whatever the trial thread is doing
        cell.aborted.set()
        if cell.require_enable:
            cell.enabled.clear()
        response.success = True
        enable = self.resolve_service_name('~/enable')
        if not hold:
            what = 'dry run: nothing was moving, nothing sent to the arm'
        elif self._dry_run:
            what = 'aborted: hold sent (dry run is on, but a trial started before it was moving)'
        else:
            what = 'aborted: hold sent'
        response.message = what + (
            f'; disabled until {enable} is called with true' if cell.require_enable else ''
        )
        # One severity per call site (rclpy refuses a call site that changes it).
        if hold:
            self.get_logger().error(response.message)
        else:
            self.get_logger().warning(response.message)
        return response

    def _on_confirm_reset(self, request, response):
        """~/confirm_reset: the operator has reset the cell."""
        self._cell.scene.confirmed.set()
        response.success, response.message = True, 'reset confirmed'
        return response

    def drain(self, timeout_s: float) -> None:
        """Wait for a running trial to end (it sees the stop event and stops the arm)."""
        self._goals.drain(timeout_s)

    def _run(self, running: RunningTrial) -> ExecuteTrial.Result:
        """Run one trial for the goals watching `running`, with the flags as they are now."""
        result = TrialRun(self._cell, running, self._dry_run, self._publish_plan).execute()
        self._results.publish(result.trial)
        return result


def main(args: list[str] | None = None) -> None:
    """Run the trial executor until Ctrl-C."""
    # Each goal waits in a thread of its own (the trial, or a resend attached to it; the loop
    # sends up to 5 copies) and the trial's service calls need free threads to complete.
    raise SystemExit(run_node(TrialExecutor, args, threads=EXECUTOR_THREADS))


if __name__ == '__main__':
    main()
