# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only node: calls trial_echo_server over DDS and prints what it got as one JSON line.

Usage: trial_echo_client.py THETA_CSV
Calls `reset` (ResetScene), sends an `execute_trial` goal (ExecuteTrial) collecting feedback,
and waits for the TrialResult on `trial_results`. Every wait has a timeout.
"""

import contextlib
import json
import sys

from icpi_interfaces.action import ExecuteTrial
from icpi_interfaces.msg import TrialResult
from icpi_interfaces.srv import ResetScene
from probe import probe_node, spin_until
from rclpy.action import ActionClient
from rclpy.qos import QoSProfile, ReliabilityPolicy

TIMEOUT_S = 15.0
FEEDBACK_TOPIC = 'execute_trial/_action/feedback'


def main() -> int:
    theta = [float(v) for v in sys.argv[1].split(',')]
    with probe_node('trial_echo_client') as node:
        received: list[TrialResult] = []
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(TrialResult, 'trial_results', received.append, qos)
        # rclpy's ActionClient drops feedback that arrives after the result, and feedback and
        # result travel on separate channels; a plain subscription sees every feedback message.
        feedback: list[int] = []
        node.create_subscription(
            ExecuteTrial.Impl.FeedbackMessage,
            FEEDBACK_TOPIC,
            lambda m: feedback.append(m.feedback.phase),
            qos,
        )
        reset = node.create_client(ResetScene, 'reset')
        action = ActionClient(node, ExecuteTrial, 'execute_trial')

        spin_until(node, lambda: reset.service_is_ready() and action.server_is_ready(), 'servers')
        # Wait until the server's publishers are discovered, so no message or feedback is lost.
        spin_until(
            node,
            lambda: (
                node.count_publishers('trial_results') > 0
                and node.count_publishers(FEEDBACK_TOPIC) > 0
            ),
            'publishers',
        )

        reset_future = reset.call_async(ResetScene.Request(task='slide', seed=7))
        spin_until(node, reset_future.done, 'reset response')

        goal = ExecuteTrial.Goal(task='slide', theta=theta, goal=[0.8, 0.1], trial_id='t-1')
        send = action.send_goal_async(goal)
        spin_until(node, send.done, 'goal acceptance')
        result_future = send.result().get_result_async()
        spin_until(node, result_future.done, 'result')
        result = result_future.result().result
        if result.error_code == ExecuteTrial.Result.NONE:
            spin_until(node, lambda: received, 'TrialResult message')
            # The last feedback may arrive after the result: wait for it, never lose it.
            with contextlib.suppress(TimeoutError):
                spin_until(node, lambda: len(feedback) >= 3, 'all feedback', timeout_s=5.0)
        print(
            json.dumps(
                {
                    'reset_success': reset_future.result().success,
                    'feedback_phases': feedback,
                    'error_code': result.error_code,
                    'error_msg': result.error_msg,
                    'result_trial_id': result.trial.trial_id,
                    'result_cost': result.trial.cost,
                    'topic_trial_ids': [m.trial_id for m in received],
                }
            )
        )
        return 0


if __name__ == '__main__':
    sys.exit(main())
