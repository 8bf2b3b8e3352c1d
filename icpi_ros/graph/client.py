# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A Python client for a running icpi_ros graph (used by the `icpi` command and scripts)."""

import time
import uuid
from collections.abc import Callable, Sequence

import rclpy
from action_msgs.msg import GoalStatus
from icpi_interfaces.action import Improve
from icpi_interfaces.srv import NextPolicy
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from unique_identifier_msgs.msg import UUID

from icpi_ros.core.errors import IcpiError

# How long a canceled run may take to stop its trial and answer.
CANCEL_TIMEOUT_S = 30.0
# An unanswered Improve goal is sent again (same goal id) after this long.
GOAL_ANSWER_S = 2.0


class GraphUnavailable(IcpiError, RuntimeError):
    """A server did not appear, or did not answer, within the timeout."""


class ICPIClient:
    """Talks to the planner and the improvement loop of a running graph."""

    def __init__(
        self,
        planner: str = '/icpi_planner',
        loop: str = '/improvement_loop',
        node_name: str = 'icpi_client',
        cancel_on_ctrl_c: bool = False,
    ) -> None:
        """Create the client node; with `cancel_on_ctrl_c`, Ctrl-C cancels a running goal.

        (rclpy's own SIGINT handler would shut the context down instead, leaving the run going
        until the loop notices; that option needs the client to own the context.)
        """
        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init(
                signal_handler_options=(
                    SignalHandlerOptions.NO if cancel_on_ctrl_c else SignalHandlerOptions.ALL
                )
            )
        self.node = Node(node_name)
        self._planner = planner.rstrip('/')
        self._next_policy = self.node.create_client(NextPolicy, f'{self._planner}/next_policy')
        self._improve = ActionClient(self.node, Improve, f'{loop.rstrip("/")}/improve')
        self._goal_handle = None

    def improve(
        self,
        task: str,
        goal: Sequence[float] = (),
        theta0: Sequence[float] = (),
        max_iterations: int = 20,
        tolerance: float = 0.0,
        improver: str = '',
        resume_run_id: str = '',
        seed: int = 0,
        on_feedback: Callable[[Improve.Feedback], None] | None = None,
        timeout_s: float = 3600.0,
        server_timeout_s: float = 20.0,
        promptpo: tuple[int, int, int] = (0, 0, 0),
    ) -> tuple[int, Improve.Result]:
        """Send an Improve goal and spin until its result; return (GoalStatus, result).

        `promptpo` is (rounds, candidates, episodes) of closed-loop PromptPO (improver
        promptpo on push-gc; 0: the default each).

        `cancel()` from `on_feedback` (or another thread) cancels the run; so does Ctrl-C
        when the client was made with `cancel_on_ctrl_c` (the canceled result is returned).
        """
        if not self._improve.wait_for_server(timeout_sec=server_timeout_s):
            raise GraphUnavailable(
                f'action {self._improve._action_name} is not available; is the graph running '
                f'on the same ROS_DOMAIN_ID?'
            )
        request = Improve.Goal(
            task=task,
            goal=[float(v) for v in goal],
            theta0=[float(v) for v in theta0],
            max_iterations=max_iterations,
            tolerance=tolerance,
            improver=improver,
            resume_run_id=resume_run_id,
            seed=seed,
            promptpo_rounds=promptpo[0],
            promptpo_candidates=promptpo[1],
            promptpo_episodes=promptpo[2],
        )
        forward = (lambda message: on_feedback(message.feedback)) if on_feedback else None
        self._goal_handle = self._send_goal(request, forward, server_timeout_s)
        if not self._goal_handle.accepted:
            return GoalStatus.STATUS_ABORTED, Improve.Result(
                error_msg='goal rejected (no reason given)'
            )
        result = self._goal_handle.get_result_async()
        try:
            rclpy.spin_until_future_complete(self.node, result, timeout_sec=timeout_s)
        except KeyboardInterrupt:
            self.cancel()
            rclpy.spin_until_future_complete(self.node, result, timeout_sec=CANCEL_TIMEOUT_S)
        if not result.done():
            raise GraphUnavailable(f'no result within {timeout_s} s')
        answer = result.result()
        return answer.status, answer.result

    def _send_goal(self, request: Improve.Goal, forward, timeout_s: float) -> ClientGoalHandle:
        """Send the goal, resending the same goal id while it is unanswered; return its handle.

        `wait_for_server` only says this client has matched the server: a goal (or its
        answer) sent before the server has matched this client back is lost (seen under
        load: 20 s without an answer). The server ignores a copy of a goal id it already
        holds (rclpy rejects the duplicate), so a resend never starts a second run; a
        rejected copy after an unanswered one means the first was accepted and its answer
        lost, and the run is followed by its goal id.
        """
        goal_id = UUID(uuid=list(uuid.uuid4().bytes))
        deadline = time.monotonic() + timeout_s
        sent = []
        while time.monotonic() < deadline:
            sent.append(
                self._improve.send_goal_async(request, feedback_callback=forward, goal_uuid=goal_id)
            )
            answer_by = min(deadline, time.monotonic() + GOAL_ANSWER_S)
            while time.monotonic() < answer_by:
                rclpy.spin_once(self.node, timeout_sec=0.05)
                answered = [future.result() for future in sent if future.done()]
                if any(handle.accepted for handle in answered):
                    return next(handle for handle in answered if handle.accepted)
                if answered and len(sent) == 1:
                    return answered[0]  # rejected at the first try: the server's own answer
                if answered:  # a rejected copy: the lost first one runs
                    accepted = Improve.Impl.SendGoalService.Response(accepted=True)
                    return ClientGoalHandle(self._improve, goal_id, accepted)
        raise GraphUnavailable(
            f'the improvement loop did not answer the goal in {timeout_s:g} s '
            f'({len(sent)} copies sent)'
        )

    def cancel(self) -> None:
        """Ask the running Improve goal to stop (it ends after the current trial is stopped)."""
        if self._goal_handle is not None:
            self._goal_handle.cancel_goal_async()

    def next_policy(
        self,
        task: str,
        theta: Sequence[float],
        error: Sequence[float] = (),
        outcome: Sequence[float] = (),
        goal: Sequence[float] = (),
        improver: str = '',
        timeout_s: float = 10.0,
        run_id: str = '',
        history_theta: Sequence[float] = (),
        history_outcome: Sequence[float] = (),
    ) -> NextPolicy.Response:
        """Ask the planner for the next policy; the request is validated by the planner.

        `run_id` and the run's earlier trials (flattened row by row) are optional.
        """
        deadline = time.monotonic() + timeout_s
        self._wait_for(self._next_policy, deadline)
        request = NextPolicy.Request(
            task=task,
            theta=[float(v) for v in theta],
            error=[float(v) for v in error],
            outcome=[float(v) for v in outcome],
            goal=[float(v) for v in goal],
            improver=improver,
            run_id=run_id,
            history_theta=[float(v) for v in history_theta],
            history_outcome=[float(v) for v in history_outcome],
        )
        future = self._next_policy.call_async(request)
        rclpy.spin_until_future_complete(
            self.node, future, timeout_sec=max(0.0, deadline - time.monotonic())
        )
        if not future.done():
            self._next_policy.remove_pending_request(future)
            raise GraphUnavailable(f'{self._next_policy.srv_name} did not answer in {timeout_s} s')
        return future.result()

    def _wait_for(self, client, deadline: float) -> None:
        while not client.wait_for_service(
            timeout_sec=min(1.0, max(0.0, deadline - time.monotonic()))
        ):
            if time.monotonic() >= deadline:
                raise GraphUnavailable(
                    f'service {client.srv_name} is not available; is the graph running '
                    f'on ROS_DOMAIN_ID the same as this shell?'
                )
            self.node.get_logger().info(f'waiting for {client.srv_name} ...')

    def close(self) -> None:
        """Destroy the node (and the ROS context, if this client created it)."""
        self.node.destroy_node()
        if self._owns_context:
            rclpy.try_shutdown()

    def __enter__(self) -> 'ICPIClient':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def format_feedback(feedback: Improve.Feedback, iterations: int) -> str:
    """One progress line per iteration: theta, cost and best cost so far."""
    theta = ' '.join(f'{v:.4f}' for v in feedback.theta)
    return (
        f'[{feedback.iteration + 1:2d}/{iterations}] theta {theta}  cost {feedback.cost:.4f}  '
        f'best {feedback.best_cost:.4f}'
    )
