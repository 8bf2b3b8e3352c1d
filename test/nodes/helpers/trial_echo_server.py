# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only node: exercises the custom interfaces across processes, with no robot or sim.

Serves ExecuteTrial by echoing the goal into a TrialResult (cost = |theta|, a stand-in
score), publishes that TrialResult on `trial_results`, and serves ResetScene. It validates
requests like the real nodes do, so malformed goals get INVALID_PARAMS and it keeps serving.
"""

import math
import sys
import time

from icpi_interfaces.action import ExecuteTrial
from icpi_interfaces.msg import TrialResult
from icpi_interfaces.srv import ResetScene
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from icpi_ros.nodes.runtime import run_node

THETA_DIM = 3
FEEDBACK_TOPIC = 'execute_trial/_action/feedback'


class TrialEchoServer(Node):
    def __init__(self) -> None:
        super().__init__('trial_echo_server')
        group = ReentrantCallbackGroup()
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._results = self.create_publisher(TrialResult, 'trial_results', qos)
        self._reset = self.create_service(ResetScene, 'reset', self._on_reset)
        self._action = ActionServer(
            self,
            ExecuteTrial,
            'execute_trial',
            execute_callback=self._execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda handle: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info('ready')

    def _on_reset(self, request, response):
        response.success = bool(request.task)
        response.message = 'reset' if request.task else 'task must not be empty'
        response.stamp = self.get_clock().now().to_msg()
        return response

    def _execute(self, goal_handle):
        goal = goal_handle.request
        result = ExecuteTrial.Result()
        theta = list(goal.theta)
        if len(theta) != THETA_DIM or not all(math.isfinite(v) for v in theta):
            result.error_code = ExecuteTrial.Result.INVALID_PARAMS
            result.error_msg = f'theta: expected {THETA_DIM} finite values, got {theta}'
            self.get_logger().warning(f'rejected goal: {result.error_msg}')
            goal_handle.abort()
            return result
        # This echo finishes within microseconds; give discovery (at most 5 s) the chance to
        # match the client's feedback reader so the test can count every feedback message.
        deadline = time.monotonic() + 5.0
        while self.count_subscribers(FEEDBACK_TOPIC) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        start = self.get_clock().now()
        for phase in (
            ExecuteTrial.Feedback.PHASE_RESETTING,
            ExecuteTrial.Feedback.PHASE_MOVING,
            ExecuteTrial.Feedback.PHASE_SCORING,
        ):
            elapsed = (self.get_clock().now() - start).nanoseconds * 1e-9
            goal_handle.publish_feedback(ExecuteTrial.Feedback(phase=phase, elapsed_s=elapsed))
        trial = TrialResult(
            trial_id=goal.trial_id or 'echo-0',
            task=goal.task,
            theta_requested=theta,
            theta=theta,
            goal=list(goal.goal),
            cost=math.sqrt(sum(v * v for v in theta)),
            start_stamp=start.to_msg(),
            end_stamp=self.get_clock().now().to_msg(),
        )
        trial.header.stamp = trial.end_stamp
        trial.header.frame_id = 'table'
        self._results.publish(trial)
        result.trial = trial
        goal_handle.succeed()
        return result


if __name__ == '__main__':
    sys.exit(run_node(TrialEchoServer))
