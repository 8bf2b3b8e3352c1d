# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""What the improvement loop talks to: the trial executor's action and the planner's service.

`TrialClient.execute` runs one ExecuteTrial goal to its result, watching the executor's
heartbeat (its feedback), resending a goal nobody answered and canceling on request;
`PlannerClient.next_policy` makes one NextPolicy call. Both raise on failure: LoopFailed with
an Improve error code, or ImproverFailed.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable

from action_msgs.msg import GoalStatus
from icpi_interfaces.action import ExecuteTrial, Improve
from icpi_interfaces.msg import TrialResult
from icpi_interfaces.srv import NextPolicy
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.node import Node
from unique_identifier_msgs.msg import UUID

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.improvers import AUTO, ImproverFailed, PolicyQuery
from icpi_ros.core.planning import PolicyStep, flatten_history
from icpi_ros.core.validation import InvalidInput, as_vector
from icpi_ros.nodes.runtime import WaitAborted, stop_requested, wait_for

# A trial whose executor sends no feedback (heartbeat every 0.5 s) for this long has failed.
EXECUTOR_SILENT_S = 5.0
# An ExecuteTrial goal is sent up to GOAL_ATTEMPTS times, each waiting GOAL_ANSWER_S for
# the executor to accept or refuse it.
GOAL_ATTEMPTS, GOAL_ANSWER_S = 5, 2.0
SERVER_WAIT_S = 10.0
Codes = Improve.Result


class LoopFailed(IcpiError):
    """The run ended with an Improve error code (and the failed trial, if one ran)."""

    def __init__(self, code: int, message: str, trial: TrialResult | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.trial = trial


class TrialClient:
    """The ExecuteTrial client of the loop: one trial at a time, never one unwatched."""

    def __init__(self, node: Node, action: str, timeout_s: float, group) -> None:
        """Create the action client on `node` for `action`; `timeout_s` bounds a trial."""
        self._node = node
        self._client = ActionClient(node, ExecuteTrial, action, callback_group=group)
        self._timeout_s = timeout_s

    def execute(self, request: ExecuteTrial.Goal, stopping: Callable[[], bool]) -> TrialResult:
        """Run the trial of `request`; return its result when it succeeded.

        Raises:
            LoopFailed: CANCELED when `stopping()` turned true (with the trial if it ran),
                TRIAL_FAILED when the executor is missing, silent, busy, too slow, or the
                trial failed (with the trial).

        """
        trial_id = request.trial_id
        if not self._client.wait_for_server(timeout_sec=SERVER_WAIT_S):
            raise LoopFailed(Codes.TRIAL_FAILED, 'the trial executor is not available')
        heard = _Heartbeat()
        try:
            goal_handle = self._send(request, heard.beat)
            if not goal_handle.accepted:
                raise LoopFailed(  # trial_executor accepts every goal (BUSY: below)
                    Codes.TRIAL_FAILED, f'the trial executor rejected trial {trial_id} (no reason)'
                )
            heard.beat()  # silence counts from the acceptance, not the send
            response = self._watch(goal_handle, trial_id, heard, stopping)
        except WaitAborted as exc:
            raise LoopFailed(Codes.TRIAL_FAILED, f'trial {trial_id}: {exc}') from None
        outcome = response.result
        if outcome.error_code == ExecuteTrial.Result.BUSY:
            # Refused as busy (another client's trial runs): this trial did not run, so it is
            # no failed trial of this run; the run fails as it does when a goal is rejected.
            raise LoopFailed(
                Codes.TRIAL_FAILED,
                f'the trial executor refused trial {trial_id}: {outcome.error_msg}',
            )
        if (
            response.status != GoalStatus.STATUS_SUCCEEDED
            or outcome.error_code != ExecuteTrial.Result.NONE
        ):
            raise LoopFailed(
                Codes.TRIAL_FAILED, f'trial {trial_id} failed: {outcome.error_msg}', outcome.trial
            )
        return outcome.trial

    def _watch(self, goal_handle, trial_id: str, heard: '_Heartbeat', stopping):
        """Wait for the accepted goal's result, watching for a stop, silence and the timeout."""
        result_future = goal_handle.get_result_async()
        done = threading.Event()
        result_future.add_done_callback(lambda _: done.set())
        sent = time.monotonic()
        while not done.wait(0.1):
            if stopping():
                goal_handle.cancel_goal_async()
                stopped = wait_for(result_future, 10.0, 'the canceled trial')
                ran = stopped.result.error_code != ExecuteTrial.Result.BUSY
                raise LoopFailed(
                    Codes.CANCELED,
                    f'canceled during trial {trial_id}',
                    stopped.result.trial if ran else None,
                )
            # A crashed or killed executor never answers: notice its silence.
            silent = heard.silence_s()
            if silent > EXECUTOR_SILENT_S:
                raise LoopFailed(
                    Codes.TRIAL_FAILED,
                    f'trial {trial_id}: the trial executor has been silent for {silent:.1f} '
                    f's (crashed or killed?); resume with resume_run_id once it is back',
                )
            if time.monotonic() - sent > self._timeout_s:
                goal_handle.cancel_goal_async()
                raise LoopFailed(
                    Codes.TRIAL_FAILED,
                    f'trial {trial_id}: no result within {self._timeout_s:g} s',
                )
        return result_future.result()

    def _send(self, request: ExecuteTrial.Goal, on_feedback):
        """Send the goal; resend it if unanswered (an executor that just restarted).

        A goal sent before DDS has matched a freshly started executor is lost, while the
        killed one may still look present in the graph; the answer normally takes ~5 ms.
        Before each resend the unanswered goal is canceled (by its goal id), and canceled
        again should its acceptance arrive later: no trial runs with nobody watching it. The
        resend carries the same trial_id; the executor attaches it to that trial if the
        first copy is running after all (trial_executor's TrialGoals).
        """
        for attempt in range(1, GOAL_ATTEMPTS + 1):
            goal_id = UUID(uuid=list(uuid.uuid4().bytes))
            sent = self._client.send_goal_async(
                request, feedback_callback=on_feedback, goal_uuid=goal_id
            )
            try:
                return wait_for(sent, GOAL_ANSWER_S, 'the trial executor')
            except WaitAborted as exc:
                self._cancel_unanswered(request.trial_id, goal_id, sent)
                if stop_requested().is_set() or attempt == GOAL_ATTEMPTS:
                    raise
                self._node.get_logger().warning(
                    f'trial {request.trial_id}: {exc}; canceled that goal, sending it again'
                )
        raise AssertionError('unreachable')

    def _cancel_unanswered(self, trial_id: str, goal_id: UUID, sent) -> None:
        """Cancel a goal whose answer has not come: now, and again if it is accepted late."""
        response = ExecuteTrial.Impl.SendGoalService.Response(accepted=True)
        ClientGoalHandle(self._client, goal_id, response).cancel_goal_async()

        def accepted_late(future) -> None:
            handle = future.result()
            if handle is not None and handle.accepted:
                self._node.get_logger().warning(
                    f'trial {trial_id}: an unanswered goal was accepted late; canceled it'
                )
                handle.cancel_goal_async()

        sent.add_done_callback(accepted_late)


class _Heartbeat:
    """When the executor was last heard from (its feedback doubles as its heartbeat)."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def beat(self, *_: object) -> None:
        """Note that the executor spoke now."""
        self._last = time.monotonic()

    def silence_s(self) -> float:
        """Seconds since the executor last spoke."""
        return time.monotonic() - self._last


class PlannerClient:
    """The NextPolicy client of the loop."""

    def __init__(self, node: Node, service: str, timeout_s: float, group) -> None:
        """Create the service client on `node`; `timeout_s` bounds one call."""
        self._client = node.create_client(NextPolicy, service, callback_group=group)
        self._timeout_s = timeout_s

    def next_policy(self, query: PolicyQuery, improver: str) -> tuple[PolicyStep, float]:
        """Call NextPolicy; return the step (θ_next clipped) and the planner's compute time (s).

        Raises:
            ImproverFailed: the planner is missing, too slow, refused, or answered nonsense.

        """
        request = NextPolicy.Request(
            task=query.task.name,
            theta=query.theta.tolist(),
            error=query.error.tolist(),
            goal=[] if query.goal is None else query.goal.tolist(),
            improver='' if improver == AUTO else improver,
            run_id=query.run_id,
        )
        request.history_theta, request.history_outcome = flatten_history(query.history)
        if not self._client.wait_for_service(timeout_sec=SERVER_WAIT_S):
            raise ImproverFailed('the planner is not available')
        try:
            answer = wait_for(self._client.call_async(request), self._timeout_s, 'the planner')
        except WaitAborted as exc:
            raise ImproverFailed(str(exc)) from None
        if not answer.success:
            raise ImproverFailed(f'planner: {answer.message}', _details(answer))
        try:
            theta_next = as_vector('theta_next', answer.theta_next, query.task.theta_dim)
        except InvalidInput as exc:
            raise ImproverFailed(str(exc)) from None
        theta_next, _ = query.task.clip(theta_next)  # never trust a remote theta unclipped
        step = PolicyStep(
            theta_next=theta_next,
            delta_theta=theta_next - query.theta,
            improver=answer.improver_used,
            clipped=answer.clipped,
            details=_details(answer),
        )
        return step, answer.compute_s


def _details(answer: NextPolicy.Response) -> dict:
    """Return the planner's details_json as a dict (as text when it is no JSON object)."""
    try:
        details = json.loads(answer.details_json or '{}')
    except ValueError:
        return {'details_json': answer.details_json}
    return details if isinstance(details, dict) else {'details_json': details}
