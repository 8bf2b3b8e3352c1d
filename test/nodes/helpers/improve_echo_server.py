# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only node: an Improve action server at /improvement_loop/improve that answers late.

Usage: improve_echo_server.py [FIRST_ANSWER_DELAY_S]
The first goal request is accepted only after FIRST_ANSWER_DELAY_S (default 0): longer than
ICPIClient waits before resending. Goal requests are handled one at a time (rclpy's default
mutually exclusive group), so a resent copy of a goal id is seen after the first is accepted
and rclpy rejects it as a duplicate. Logs `goal request N` per request reaching the goal
callback and `executed N (run echo-N)` per execution; a run succeeds at once.
"""

import sys
import time

from icpi_interfaces.action import Improve
from rclpy.action import ActionServer, GoalResponse
from rclpy.node import Node

from icpi_ros.nodes.runtime import run_node


class ImproveEchoServer(Node):
    def __init__(self, first_answer_delay_s: float) -> None:
        super().__init__('improvement_loop')
        self._delay_s = first_answer_delay_s
        self._requests = self._executed = 0
        self._server = ActionServer(
            self, Improve, '~/improve', execute_callback=self._execute, goal_callback=self._on_goal
        )
        self.get_logger().info('ready')

    def _on_goal(self, goal: Improve.Goal) -> GoalResponse:
        self._requests += 1
        self.get_logger().info(f'goal request {self._requests}')
        if self._requests == 1:
            time.sleep(self._delay_s)
        return GoalResponse.ACCEPT

    def _execute(self, handle) -> Improve.Result:
        self._executed += 1
        run_id = f'echo-{self._executed}'
        self.get_logger().info(f'executed {self._executed} (run {run_id})')
        handle.succeed()
        return Improve.Result(run_id=run_id)


def main() -> None:
    delay_s = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    run_node(lambda: ImproveEchoServer(delay_s))


if __name__ == '__main__':
    main()
