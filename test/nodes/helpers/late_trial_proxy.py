# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only node: a slow front of the real trial executor, whose first answer comes late.

Usage: late_trial_proxy.py [DELAY_S]
Serves ExecuteTrial on /late_trial_proxy/execute_trial and hands every goal, in the order the
goals came, to /trial_executor/execute_trial; it accepts a goal when the executor does. The
first goal is handed on only after DELAY_S (default 3 s, longer than the improvement loop
waits for an answer): the executor runs it, but its acceptance reaches the loop late, as from
an overloaded executor. Feedback, cancel requests and results are passed through. Logs one
line per goal: `goal N (trial ID): accepted|refused`, and `cancel N`.
"""

import sys
import threading

from icpi_interfaces.action import ExecuteTrial
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future

from icpi_ros.nodes.runtime import run_node, stop_requested

UPSTREAM = '/trial_executor/execute_trial'
RESULT_TIMEOUT_S = 120.0


class LateTrialProxy(Node):
    def __init__(self, delay_s: float) -> None:
        super().__init__('late_trial_proxy')
        self._delay_s = delay_s
        group = ReentrantCallbackGroup()
        self._upstream = ActionClient(self, ExecuteTrial, UPSTREAM, callback_group=group)
        self._previous: Future | None = None  # the decision on the goal before this one
        self._accepted: list = []  # upstream handles, in order, for the execute callbacks
        self._count = 0
        self._lock = threading.Lock()
        self._server = ActionServer(
            self,
            ExecuteTrial,
            '~/execute_trial',
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info('ready')

    def _sleep(self, seconds: float) -> Future:
        done = Future()
        timer = None

        def fire() -> None:
            timer.cancel()
            done.set_result(None)

        timer = self.create_timer(seconds, fire)
        return done

    async def _on_goal(self, goal: ExecuteTrial.Goal) -> GoalResponse:
        with self._lock:
            self._count += 1
            number, before = self._count, self._previous
            decided = self._previous = Future()
        if before is not None:
            await before  # one at a time, in order, like a busy executor's queue
        if number == 1:
            await self._sleep(self._delay_s)
        relay: list = []  # the proxy's own handle, once it exists
        upstream = await self._upstream.send_goal_async(
            goal, feedback_callback=lambda f: [h.publish_feedback(f.feedback) for h in relay]
        )
        state = 'accepted' if upstream.accepted else 'refused'
        self.get_logger().info(f'goal {number} (trial {goal.trial_id}): {state}')
        if upstream.accepted:
            with self._lock:
                self._accepted.append((number, upstream, relay))
        decided.set_result(True)
        return GoalResponse.ACCEPT if upstream.accepted else GoalResponse.REJECT

    def _execute(self, handle) -> ExecuteTrial.Result:
        with self._lock:
            number, upstream, relay = self._accepted.pop(0)
        relay.append(handle)
        result = upstream.get_result_async()
        done = threading.Event()
        result.add_done_callback(lambda _: done.set())
        canceled = False
        for _ in range(int(RESULT_TIMEOUT_S / 0.05)):
            if done.wait(0.05) or stop_requested().is_set():
                break
            if handle.is_cancel_requested and not canceled:
                canceled = True
                self.get_logger().info(f'cancel {number}')
                upstream.cancel_goal_async()
        if not done.is_set():
            handle.abort()
            return ExecuteTrial.Result(error_code=ExecuteTrial.Result.TIMEOUT)
        answer = result.result()
        if handle.is_cancel_requested:
            handle.canceled()
        elif answer.result.error_code == ExecuteTrial.Result.NONE:
            handle.succeed()
        else:
            handle.abort()
        return answer.result


if __name__ == '__main__':
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    sys.exit(run_node(lambda: LateTrialProxy(delay), threads=4))
